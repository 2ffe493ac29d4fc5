"""Training runs started from a page: progress, Stop, and what was trained kept in the session."""

from __future__ import annotations

import streamlit as st

# ============================== the one training job (cnn_viz.common.jobs)
def _owner() -> str:
    """An opaque id of this session, for the server's training slot."""
    import uuid

    return st.session_state.setdefault("_train_owner", uuid.uuid4().hex)


def training_off_notice() -> bool:
    """In class mode, say so (in place of a Train button) and return True."""
    from cnn_viz.common import jobs

    if jobs.class_mode():
        st.info(str(jobs.TrainingOff()))
        return True
    return False


def _start(key: str, what: str, work, seconds: float | None = None):
    """Start ``work`` on its own thread in the server's one training slot (``jobs.Run``), kept in the
    session under ``key``; when the slot is taken (or class mode is on), say so and return None."""
    from cnn_viz.common import jobs

    try:
        run = jobs.Run(_owner(), what, work, seconds).start()
    except (jobs.Busy, jobs.TrainingOff) as exc:
        st.info(str(exc))
        return None
    st.session_state[key] = run
    return run


def _live_progress(key: str):
    """Inside a live panel (an ``st.fragment(run_every=...)``): the session's run under ``key`` and its
    progress bar; once the run has ended, the whole page reruns (and takes in what it trained)."""
    run = st.session_state.get(key)
    if run is None or not run.alive:
        st.rerun()
    st.progress(run.fraction, text=f"{run.message} · {run.elapsed():.0f} s of at most {run.seconds:.0f} s")
    return run


def _one_thread() -> None:
    from cnn_viz.common.torch_tools import one_torch_thread

    one_torch_thread()


# ============================== mnist
MNIST_RUN = "mn_own"  # the network trained in this session: a cnn_viz.mnist.train.OwnNetwork
MNIST_JOB = "mn_job"  # the jobs.Run training it, while it runs


def mnist_own():
    """The MNIST network trained in this session (``train.OwnNetwork``, possibly stopped early), or None;
    a run that has ended since the last rerun is taken in first."""
    _mnist_collect()
    return st.session_state.get(MNIST_RUN)


def stop_mnist_training() -> None:
    """The Stop button's callback (before the rerun, so the whole page sees what was kept): end this
    session's run after its current batch and take in the epochs it finished."""
    run = st.session_state.get(MNIST_JOB)
    if run is not None:
        run.stop()
    _mnist_collect()


def _mnist_collect() -> None:
    """Move what a finished (or stopped) run trained into the session."""
    run = st.session_state.get(MNIST_JOB)
    if run is None or run.alive:
        return
    del st.session_state[MNIST_JOB]
    own = run.result if run.result is not None else run.snapshot
    if own is not None:
        st.session_state[MNIST_RUN] = own
    if run.error is not None:
        st.session_state["mn_job_error"] = str(run.error)


def mnist_training(train_set, held_out, config, start: bool, reference_acc: float | None, stop: bool = False):
    """The training area of the MNIST page; returns the session's network (``mnist_own``) or None.

    With ``start`` (Train clicked) a fresh network is trained (``train.train_own``) on its own thread, in
    the server's one training slot (another session's run, or class mode, gives a message instead),
    bounded by ``jobs.max_seconds()``; while it runs, a panel that reruns alone once a second shows the
    progress and the live chart. ``stop`` (Stop clicked) ends it after the current batch and keeps what
    was trained. Otherwise the chart of the session's network is drawn in the same place."""
    from cnn_viz.mnist import figures, train
    from cnn_viz.ui.widgets import plot

    state = st.session_state
    if stop:
        stop_mnist_training()  # normally done already by the button's callback
    _mnist_collect()
    if start and state.get(MNIST_JOB) is None:
        def work(job):
            _one_thread()
            return train.train_own(
                train_set, held_out, config,
                on_batch=lambda done, total: job.report(done / total, f"batch {done} of {total}"),
                on_epoch=lambda own: job.report(job.fraction, job.message, own), should_stop=job.should_stop)

        _start(MNIST_JOB, "MNIST training", work)
    if state.get(MNIST_JOB) is not None:
        _mnist_live(reference_acc)
        return mnist_own()
    if "mn_job_error" in state:
        st.error(f"Training could not run: {state.pop('mn_job_error')}")
    own = mnist_own()
    if own is not None:
        plot(figures.training_figure(own.history, reference_acc), key="mn_tr_chart")
    return own


@st.fragment(run_every=1.0)
def _mnist_live(reference_acc: float | None) -> None:
    """The running job's progress and live chart; reruns alone every second, the whole page once it ends."""
    from cnn_viz.mnist import figures
    from cnn_viz.ui.widgets import plot

    run = _live_progress(MNIST_JOB)
    own = run.snapshot
    if own is not None:
        last = own.history[-1]
        plot(figures.training_figure(own.history, reference_acc), key=f"mn_tr_live_{last.epoch}")
        st.caption(f"epoch {last.epoch}: held-out accuracy {last.test_acc:.2%} ({last.seconds:.1f} s)")


# ============================== deblur
def deblur_networks(methods):
    """The networks of the chosen CNN methods (an experiment.Networks): the shipped ones, with this
    session's retrained ones in their place. Without a CNN method, none (and torch stays unloaded)."""
    from cnn_viz.deblur import experiment

    if not experiment.uses_cnn(methods):
        return experiment.Networks()
    from cnn_viz.deblur import cnn
    from cnn_viz.ui import cached

    return cnn.networks(cached.load_deblur_cnns(), st.session_state.get("db_retrained", {}))


DEBLUR_JOB = "db_job"


def retrain_deblur(kind: str, seconds: int, from_shipped: bool) -> None:
    """The Retrain button and, while a run lasts, its progress: one deblurring network trained for
    ``seconds`` (at most ``jobs.max_seconds()``) on its own thread in the server's one training slot (the
    loop is cnn.retrain); this session's comparison uses it from the next run on. In class mode, or while
    another session trains, a message instead."""
    from cnn_viz.common import jobs

    state = st.session_state
    if training_off_notice():
        return
    run = state.get(DEBLUR_JOB)
    if run is not None and not run.alive:
        _deblur_collect()
    if state.get(DEBLUR_JOB) is None:
        if st.button("Retrain now", key="db_rt_go", icon="🏋️"):
            busy = jobs.running()
            if busy is not None:
                st.info(str(jobs.Busy(busy)))
            else:
                _deblur_start(kind, seconds, from_shipped)
    if state.get(DEBLUR_JOB) is not None:
        _deblur_live()
    elif "db_job_summary" in state:
        kind_of, text = state.pop("db_job_summary")
        (st.success if kind_of == "success" else st.error)(text)


def _deblur_start(kind: str, seconds: int, from_shipped: bool) -> None:
    from cnn_viz.deblur import cnn
    from cnn_viz.ui import cached

    with st.spinner("Preparing training pairs (blur, noise and Tikhonov of 15 images)…"):
        pairs = cached.deblur_training_pairs(kind)
    shipped = cached.load_deblur_cnns().get(kind)
    base = shipped[0] if from_shipped and shipped else None

    def work(job):
        _one_thread()
        return cnn.retrain(kind, job.seconds, pairs, base=base, progress=job.report, should_stop=job.should_stop)

    _start(DEBLUR_JOB, "deblurring CNN training", work, seconds)


def _deblur_collect() -> None:
    run = st.session_state.pop(DEBLUR_JOB)
    if run.result is not None:
        st.session_state.setdefault("db_retrained", {})[run.result.kind] = (run.result.model, run.result.info)
        st.session_state["db_job_summary"] = ("success", f"{run.result.summary} It is used in the comparison above from now on.")
    elif run.error is not None:
        st.session_state["db_job_summary"] = ("error", f"Training could not run: {run.error}")


@st.fragment(run_every=1.0)
def _deblur_live() -> None:
    """The running retrain's progress and a Stop; reruns alone every second, the whole page once it ends."""
    run = _live_progress(DEBLUR_JOB)
    if st.button("Stop", key="db_rt_stop", icon="⏹️", help="Stops after the current step; what was trained is kept."):
        run.stop()
        st.rerun()


def deblur_retrained() -> bool:
    return bool(st.session_state.get("db_retrained"))


def forget_retrained_deblur() -> None:
    """Back to the shipped networks."""
    st.session_state["db_retrained"] = {}
    st.rerun()


# ============================== your own network
DESIGN_NET = "yn_net"  # the page's network: a netfile.Network (trained here or loaded), or absent


def design_network():
    """The network "Your own network" holds in this session (``netfile.Network``), or None."""
    return st.session_state.get(DESIGN_NET)


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "?"


def _measured(net, held_out):
    """``net`` with its confusion matrix on the held-out digits (measured once)."""
    from dataclasses import replace

    from cnn_viz.mnist import model

    if net.confusion is not None:
        return net
    return replace(net, confusion=model.confusion(net.model, held_out.images, held_out.labels))


def _keep(net, held_out) -> None:
    """Store ``net`` as the session's network with its confusion matrix on the held-out digits, and show it."""
    st.session_state[DESIGN_NET] = _measured(net, held_out)
    st.session_state["yn_which"] = "yours"  # look inside the new network (the radio comes later in the page)


def design_training(train_set, held_out, net_design, config, start: bool, reference_acc: float | None, summary):
    """The training area of "Your own network": with ``start``, train ``net_design`` (the one loop,
    ``train.train_own``) inside the server's one training slot (``jobs.training_slot``: Busy and class mode
    get their message), bounded by ``jobs.max_seconds()``; progress bar, live curves, and after every epoch the
    network so far kept in the session (Stop keeps it). Without ``start``, the chart of the session's network."""
    import time
    from dataclasses import asdict

    from cnn_viz.common import jobs
    from cnn_viz.common.text import md
    from cnn_viz.common.torch_tools import one_torch_thread
    from cnn_viz.mnist import design as dz
    from cnn_viz.mnist import figures, netfile, train
    from cnn_viz.ui.widgets import plot

    chart, status = st.empty(), st.empty()
    if start:
        limit = jobs.max_seconds()
        try:
            dz.check_time(summary, config.epochs, limit, config.n_train)
        except dz.DesignError as exc:
            st.warning(md(exc, limit=400))
            return design_network()
        estimate = summary.estimate_seconds(config.epochs, config.n_train)
        try:
            with jobs.training_slot(_session_id(), "a 'Your own network' training"):
                one_torch_thread()
                deadline = time.monotonic() + limit
                bar = st.progress(0.0, text=f"Starting… (about {estimate:.0f} s estimated, at most {limit:.0f} s)")

                def on_batch(done: int, total: int) -> None:
                    if done % 5 == 0 or done == total:
                        bar.progress(done / total, text=f"batch {done} of {total}")

                def on_epoch(own) -> None:
                    last = own.history[-1]
                    meta = netfile.run_meta(train.TrainResult(own.model, list(own.history), config=asdict(own.config)),
                                            held_out_accuracy=last.test_acc, command="trained on the page")
                    st.session_state[DESIGN_NET] = netfile.Network(net_design, own.model, "trained here", meta, finished=False)
                    with chart.container():
                        plot(figures.training_figure(own.history, reference_acc), key=f"yn_tr_live_{last.epoch}")
                    status.caption(f"epoch {last.epoch}: held-out accuracy {last.test_acc:.2%} ({last.seconds:.1f} s)")

                own = train.train_own(train_set, held_out, config, on_batch=on_batch, on_epoch=on_epoch,
                                      should_stop=lambda: time.monotonic() > deadline,
                                      make_model=lambda: dz.DesignNet(net_design))
        except (jobs.Busy, jobs.TrainingOff) as exc:
            st.info(str(exc))
            return design_network()
        except ValueError as exc:
            st.error(f"Training could not run: {md(exc, limit=300)}")
            return design_network()
        meta = netfile.run_meta(train.TrainResult(own.model, list(own.history), config=asdict(own.config)),
                                held_out_accuracy=own.accuracy, command="trained on the page")
        _keep(netfile.Network(net_design, own.model, "trained here", meta, finished=own.finished), held_out)
        bar.progress(1.0, text="Done" if own.finished else f"Stopped at the {limit:.0f} s bound of this server")
        if not own.finished:
            st.warning(f"The run reached this server's bound of {limit:.0f} s: it keeps the {own.epochs_done} epoch(s) it trained.")
    net = design_network()
    if net is not None and net.confusion is None:  # a run stopped by Stop kept its last epoch without measuring it
        net = st.session_state[DESIGN_NET] = _measured(net, held_out)
    if net is not None and net.meta.get("history"):
        with chart.container():
            plot(figures.training_figure(_history(net), reference_acc), key="yn_tr_chart")
    return net


def _history(net):
    from cnn_viz.mnist.train import EpochStats

    return [EpochStats(*(h[:6])) for h in net.meta.get("history", []) if len(h) >= 6]


def design_upload(held_out) -> None:
    """The upload of a network file (or a SimpleCNN state dict): checked by ``netfile.load``; a good one
    becomes the session's network (and the page reruns to show its design in the table), a bad one gets the
    failed check's message and the last good one stays."""
    from cnn_viz.common.text import md
    from cnn_viz.mnist import netfile

    f = st.file_uploader("A network file (.pt): downloaded from this page, made with the command line, or a "
                         "state dict of the report's SimpleCNN", type=["pt", "pth"], key="yn_upload")
    if f is None:
        return
    if st.session_state.get("yn_upload_done") == f.file_id:
        st.success(st.session_state.get("yn_upload_msg", f"Loaded {md(f.name)}."))
        return
    try:
        net = netfile.load(f.getvalue())
    except netfile.LoadError as exc:
        kept = " The page keeps the network it had." if design_network() is not None else ""
        st.error(f"{md(f.name)} was not loaded. {md(exc, limit=400)}{kept}")
        return
    _keep(net, held_out)
    st.session_state["yn_upload_done"] = f.file_id
    st.session_state["yn_upload_msg"] = f"Loaded {md(f.name)}: {net.kind}, {md(net.design.code, limit=200)}."
    st.session_state["yn_base"] = net.design  # the table (drawn above) shows the loaded design from the rerun on
    st.rerun()


# ============================== whenfail
WF_TABLE = "wf_table"  # {signals: LabTable} trained in this session
WF_DESCENT = "wf_descent"  # {problem: Descent} recomputed in this session
WF_JOB = "wf_job"  # the jobs.Run training the lab's networks or the GD/SGD comparison, while it runs
WF_JOB_KIND = "wf_job_kind"  # ("lab" or "descent", keep(state, result) → notes) of that run
WF_NOTES = "wf_job_notes"  # [(level, text)] to show once after a run


def _wf_collect() -> None:
    """Move what a finished (or stopped) whenfail run trained into the session: ``keep(state, result)`` of
    the run (its ``result``, or its last ``snapshot`` when it was stopped or failed)."""
    run = st.session_state.get(WF_JOB)
    if run is None or run.alive:
        return
    del st.session_state[WF_JOB]
    _, keep = st.session_state.pop(WF_JOB_KIND)
    notes = st.session_state.setdefault(WF_NOTES, [])
    done = run.result if run.result is not None else run.snapshot
    if done is not None:
        notes.extend(keep(st.session_state, done))
    if run.error is not None:
        from cnn_viz.common.text import md

        notes.append(("error", f"Training could not run: {md(run.error, 300)}"))
    elif run.timed_out:
        notes.append(("warning", f"Stopped at this server's bound of {run.seconds:.0f} s per training run; "
                                 "what had finished is kept."))
    elif run.stopped:
        notes.append(("warning", "Stopped: what had finished is kept."))


def _wf_stop() -> None:
    """The Stop button's callback: end the run after its current step and take in what it finished."""
    run = st.session_state.get(WF_JOB)
    if run is not None:
        run.stop()
    _wf_collect()


def _wf_panel(kind: str, label: str, key: str, help: str, disabled: bool, work, keep, what: str) -> None:
    """The Train/Run button of a whenfail training, or, while this session's run of ``kind`` lasts, its
    progress and Stop; then the notes of the run that ended."""
    state = st.session_state
    _wf_collect()
    if state.get(WF_JOB) is None:
        if st.button(label, key=key, icon="🏋️" if kind == "lab" else "🏃", help=help, disabled=disabled):
            if _start(WF_JOB, what, work()) is not None:
                state[WF_JOB_KIND] = (kind, keep)
    if state.get(WF_JOB) is not None:
        if state[WF_JOB_KIND][0] == kind:
            _wf_live()
        else:
            st.caption("This session is training something else on this page: wait for it, or stop it there.")
    for level, msg in state.pop(WF_NOTES, []):
        getattr(st, level)(msg)


@st.fragment(run_every=1.0)
def _wf_live() -> None:
    """The running job's progress and a Stop; reruns alone every second, the whole page once it ends."""
    run = _live_progress(WF_JOB)
    st.button("Stop", key="wf_stop", icon="⏹️", on_click=_wf_stop,
              help="Stops after the current step; the operators (and networks) finished so far are kept.")


def whenfail_lab_table(signals: str):
    """This session's retrained table for a signal set, or None (a run that ended is taken in first)."""
    _wf_collect()
    return st.session_state.get(WF_TABLE, {}).get(signals)


def _lab_work(setup, steps: int):
    """Every method on every operator for ``setup``'s signals and size, one thread; after each operator the
    table so far is the run's snapshot (a network stopped early is left out, the ones before it kept)."""
    def work(job):
        import dataclasses

        from cnn_viz.whenfail import lab, nets, results

        _one_thread()
        ops, runs, skipped = list(lab.OPERATORS), [], []
        meta = {"command": "trained on the page", "steps": steps}
        for i, op in enumerate(ops):
            if job.should_stop():
                break
            s = dataclasses.replace(setup, operator=op)
            try:
                s.check()
            except ValueError as exc:
                skipped.append(f"{lab.OPERATORS[op]} skipped: {exc}")
                continue

            def progress(m, done, total, i=i, op=op):
                k = list(nets.LEARNED).index(m) if m in nets.LEARNED else 0
                job.report((i + (k + done / total) / len(nets.LEARNED)) / len(ops),
                           f"{lab.OPERATORS[op]}: {lab.METHODS[m]}, step {done} of {total}")

            run = nets.run_operator(s, nets.TrainConfig(steps=steps, seed=setup.seed), progress=progress,
                                    should_stop=job.should_stop)
            if run.errors:
                runs.append(run)
                job.report((i + 1) / len(ops), f"{lab.OPERATORS[op]} done", (results.LabTable.from_runs(runs, meta=meta), skipped))
            if run.stopped:
                break
        return (results.LabTable.from_runs(runs, meta=meta), skipped) if runs else None
    return work


def _lab_keep(signals: str):
    def keep(state, done):
        table, skipped = done
        state.setdefault(WF_TABLE, {})[signals] = table
        return [("warning", s) for s in skipped]
    return keep


def whenfail_lab_training(setup, steps: int) -> None:
    """The lab's Train button: every method on every operator for ``setup`` on its own thread in the server's
    one training slot (``jobs.Run``: Busy, class mode and ``max_seconds()`` apply), with progress and a Stop
    that keeps each finished operator and network; the table uses it from the next rerun on."""
    _wf_panel("lab", "Train", "wf_train", "Trains on this server (one training at a time).", setup is None,
              lambda: _lab_work(setup, steps), _lab_keep(setup.signals if setup else ""), "the 'When CNNs fail' lab")


def whenfail_descent(problem_name: str):
    _wf_collect()
    return st.session_state.get(WF_DESCENT, {}).get(problem_name)


def _descent_work(problem_name: str, passes: int, batch: int):
    def work(job):
        from cnn_viz.whenfail import descent

        _one_thread()
        job.report(0.0, "Loading the data…")
        problem = descent.mnist_problem() if problem_name == "mnist" else descent.lab_problem()
        total, done = 3 * len(problem.lrs), [0]

        def progress(msg):
            job.report(done[0] / total, msg)
            done[0] += 1

        return descent.compare(problem, passes=passes, batch=batch, progress=progress, should_stop=job.should_stop)
    return work


def _descent_keep(problem_name: str):
    def keep(state, d):
        state.setdefault(WF_DESCENT, {})[problem_name] = d
        return []
    return keep


def whenfail_run_descent(problem_name: str, passes: int, batch: int, key: str) -> None:
    """Gradient descent against SGD recomputed on this server: the Run button, then progress and Stop while it
    runs (``jobs.Run``, the server's one training slot, bounded by ``max_seconds()``)."""
    _wf_panel("descent", "Run", key,
              "Recompute here (one training at a time on the server).", False,
              lambda: _descent_work(problem_name, passes, batch), _descent_keep(problem_name),
              "gradient descent against SGD")

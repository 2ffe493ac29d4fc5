"""Training runs started from a page: progress, Stop, and what was trained kept in the session."""

from __future__ import annotations

import streamlit as st

# ============================== mnist
MNIST_RUN = "mn_own"  # the network trained in this session: a cnn_viz.mnist.train.OwnNetwork


def mnist_own():
    """The MNIST network trained in this session (``train.OwnNetwork``, possibly stopped early), or None."""
    return st.session_state.get(MNIST_RUN)


def mnist_training(train_set, held_out, config, start: bool, reference_acc: float | None):
    """The training area of the MNIST page; returns the session's network (``mnist_own``) or None.

    With ``start`` (Train clicked) a fresh network is trained (``train.train_own``) with a progress bar;
    after every epoch the live chart and the epoch's numbers are drawn, and the network so far goes into
    the session (a Stop click, which reruns the page, keeps it); when the run ends the page reruns to show
    it. Otherwise the chart of the session's network is drawn in the same place."""
    from cnn_viz.mnist import figures, train
    from cnn_viz.ui.widgets import plot

    chart, status = st.empty(), st.empty()
    if start:
        bar = st.progress(0.0, text="Starting…")

        def on_batch(done: int, total: int) -> None:
            if done % 5 == 0 or done == total:
                bar.progress(done / total, text=f"batch {done} of {total}")

        def on_epoch(own) -> None:
            st.session_state[MNIST_RUN] = own
            last = own.history[-1]
            with chart.container():
                plot(figures.training_figure(own.history, reference_acc), key=f"mn_tr_live_{last.epoch}")
            status.caption(f"epoch {last.epoch}: held-out accuracy {last.test_acc:.2%} ({last.seconds:.1f} s)")

        try:
            st.session_state[MNIST_RUN] = train.train_own(train_set, held_out, config, on_batch=on_batch, on_epoch=on_epoch)
        except ValueError as exc:
            st.error(f"Training could not run: {exc}")
        else:
            bar.progress(1.0, text="Done")
            st.rerun()
    own = mnist_own()
    if own is not None and not start:
        with chart.container():
            plot(figures.training_figure(own.history, reference_acc), key="mn_tr_chart")
    return own


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


def retrain_deblur(kind: str, seconds: int, from_shipped: bool) -> None:
    """Train one deblurring network here for ``seconds`` with a progress bar (the loop is cnn.train);
    this session's comparison uses it from the next run on."""
    from cnn_viz.deblur import cnn
    from cnn_viz.ui import cached

    bar = st.progress(0.0, text="Preparing training pairs (blur, noise and Tikhonov of 15 images)…")
    pairs = cached.deblur_training_pairs(kind)
    shipped = cached.load_deblur_cnns().get(kind)
    run = cnn.retrain(kind, seconds, pairs, base=shipped[0] if from_shipped and shipped else None,
                      progress=lambda fraction, message: bar.progress(min(1.0, fraction), text=message))
    st.session_state.setdefault("db_retrained", {})[kind] = (run.model, run.info)
    bar.empty()
    st.success(f"{run.summary} It is used in the comparison above from now on.")


def deblur_retrained() -> bool:
    return bool(st.session_state.get("db_retrained"))


def forget_retrained_deblur() -> None:
    """Back to the shipped networks."""
    st.session_state["db_retrained"] = {}
    st.rerun()


# ============================== whenfail
WF_TABLE = "wf_table"  # {signals: LabTable} trained in this session
WF_DESCENT = "wf_descent"  # {problem: Descent} recomputed in this session


def _owner() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else "?"


def _deadline():
    import time

    from cnn_viz.common import jobs

    end = time.monotonic() + jobs.max_seconds()
    return lambda: time.monotonic() > end


def whenfail_lab_table(signals: str):
    """This session's retrained table for a signal set, or None."""
    return st.session_state.get(WF_TABLE, {}).get(signals)


def whenfail_train_lab(setup, steps: int) -> None:
    """Train every method on every operator for ``setup``'s signals and size inside the server's one training
    slot, one thread, with a progress bar; each operator's row is kept as it finishes (Stop keeps them)."""
    from cnn_viz.common import jobs

    try:
        with jobs.training_slot(_owner(), "the 'When CNNs fail' lab"):
            import dataclasses

            from cnn_viz.common.torch_tools import one_torch_thread
            from cnn_viz.whenfail import lab, nets, results

            one_torch_thread()
            bar = st.progress(0.0, text="Starting…")
            stop, runs = _deadline(), []
            ops = [op for op in lab.OPERATORS]
            for i, op in enumerate(ops):
                s = dataclasses.replace(setup, operator=op)
                try:
                    s.check()
                except ValueError as exc:
                    st.warning(f"{lab.OPERATORS[op]} skipped: {exc}")
                    continue

                def progress(m, done, total, i=i, op=op):
                    bar.progress(min(1.0, (i + done / total / len(nets.LEARNED)) / len(ops)),
                                 text=f"{lab.OPERATORS[op]}: {lab.METHODS[m]}, step {done} of {total}")

                run = nets.run_operator(s, nets.TrainConfig(steps=steps, seed=setup.seed), progress=progress, should_stop=stop)
                runs.append(run)
                st.session_state.setdefault(WF_TABLE, {})[setup.signals] = results.LabTable.from_runs(
                    runs, meta={"command": "trained on the page", "steps": steps})
                if run.stopped:
                    st.warning(f"Stopped after {jobs.max_seconds():.0f} s (the server's bound per training run); "
                               "the operators finished so far are in the table.")
                    break
            bar.empty()
    except (jobs.Busy, jobs.TrainingOff) as exc:
        st.info(str(exc))
        return
    st.rerun()


def whenfail_descent(problem_name: str):
    return st.session_state.get(WF_DESCENT, {}).get(problem_name)


def whenfail_run_descent(problem_name: str, passes: int, batch: int) -> None:
    """Recompute gradient descent against SGD here (inside the training slot, bounded in time)."""
    from cnn_viz.common import jobs

    try:
        with jobs.training_slot(_owner(), "gradient descent against SGD"):
            from cnn_viz.common.torch_tools import one_torch_thread
            from cnn_viz.whenfail import descent

            one_torch_thread()
            bar = st.progress(0.0, text="Loading the data…")
            problem = descent.mnist_problem() if problem_name == "mnist" else descent.lab_problem()
            total, done = 3 * len(problem.lrs), [0]

            def progress(msg):
                bar.progress(min(1.0, done[0] / total), text=msg)
                done[0] += 1

            stop = _deadline()
            try:
                d = descent.compare(problem, passes=passes, batch=batch, progress=progress, should_stop=stop)
            except ValueError as exc:
                st.error(f"Cannot run this comparison: {exc}")
                return
            bar.empty()
            if stop():
                st.warning(f"Stopped at the server's bound of {jobs.max_seconds():.0f} s per training run; "
                           "the curves show what was reached.")
            st.session_state.setdefault(WF_DESCENT, {})[problem_name] = d
    except (jobs.Busy, jobs.TrainingOff) as exc:
        st.info(str(exc))

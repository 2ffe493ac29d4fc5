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

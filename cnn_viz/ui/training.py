"""Training runs started from a page: progress, Stop, and what was trained kept in the session."""

from __future__ import annotations

import streamlit as st

# ============================== mnist


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

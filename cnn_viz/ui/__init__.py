"""The only Streamlit code outside pages/: widgets (`ui.*`), every cached loader and computation
(`cnn_viz.ui.cached`), and training runs. Pages call these, these call the lesson cores."""

from __future__ import annotations

import streamlit as st


def _leave_legacy_multipage_mode() -> None:
    """Make a bookmarked page URL go through app.py's st.navigation, even on a cold server.

    Streamlit starts in its legacy mode when a folder named pages/ sits beside app.py, and
    stays there until st.navigation has run once: the first visit to /kernel_sandbox on a
    fresh server would run the page file alone (no page config, an auto-generated menu).
    Every page imports this module first, so here we switch the legacy mode off and rerun:
    the rerun goes through app.py and lands on the same URL, query parameters included.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_legacy_multipage_mode()

from cnn_viz.ui.widgets import (  # noqa: E402  (after leaving the legacy mode)
    CUSTOM,
    GAUSSIAN,
    PLOTLY_CONFIG,
    UPLOAD_TYPES,
    Picked,
    PickedPsf,
    Sliding,
    channel_kernel_editor,
    colour_kernel_editor,
    csv_text,
    descent_panel,
    download_csv,
    download_png,
    eps_rank_sweep,
    file_on_request,
    image_picker,
    indexed_table,
    kernel_editor,
    mnist_gallery,
    mnist_layer_grid,
    mnist_map_picker,
    mnist_train_settings,
    pipeline_settings,
    plot,
    psf_picker,
    sliding_settings,
    stepper,
    typed_grid,
    whenfail_lab_settings,
    whenfail_quality,
)

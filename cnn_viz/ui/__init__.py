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

    The rerun is requested, not raised: ``st.rerun()`` here would abort this module's import, and
    every other session importing it at that moment (a class opening the page together) would get
    the half-initialised module ("cannot import name 'ui' from 'cnn_viz'"; 1-9 of 20 sessions in
    bench/load_class.py --scenario open). The request takes effect at the page's first element.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import RerunData, get_script_run_ctx

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        ctx = get_script_run_ctx()
        if ctx is None or ctx.script_requests is None:
            st.rerun()
        ctx.script_requests.request_rerun(RerunData(
            query_string=ctx.query_string, page_script_hash=ctx.page_script_hash,
            cached_message_hashes=ctx.cached_message_hashes, context_info=ctx.context_info))


_leave_legacy_multipage_mode()

from cnn_viz.ui import guard as _guard  # noqa: E402

_guard.install()   # forged widget states from a hand-written websocket client read as absent

from cnn_viz.ui.widgets import (  # noqa: E402  (after leaving the legacy mode)
    CUSTOM,
    GAUSSIAN,
    PLOTLY_CONFIG,
    UPLOAD_TYPES,
    Picked,
    PickedPsf,
    Sliding,
    channel_kernel_editor,
    class_publish,
    colour_kernel_editor,
    csv_text,
    data_slider,
    descent_panel,
    design_digit,
    design_editor,
    design_field_point,
    design_train_settings,
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
    play_shortcut,
    plot,
    psf_picker,
    sample_image,
    show_frame,
    sliding_settings,
    stepper,
    typed_grid,
    whenfail_lab_settings,
    whenfail_quality,
)
from cnn_viz.ui.access import explain, presenter  # noqa: E402
from cnn_viz.ui.cached import figure  # noqa: E402

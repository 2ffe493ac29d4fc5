"""The app-wide accessibility settings: colour-vision-safe colours and presenter view.

Both are toggles that app.py draws at the bottom of every page's sidebar (``app_settings``), keyed and
bound to the URL (``?safe_colours=true``, ``?presenter=true``), so a bookmarked or followed link opens
with them. The colour choice reaches every figure builder through ``palette.use_source``; presenter view
collapses the sidebar, enlarges the main column (fonts and figures) and hides the prose the teacher says
aloud (every such paragraph goes through ``explain``).
"""

from __future__ import annotations

import streamlit as st

from cnn_viz.figures import palette

SAFE_KEY, PRESENTER_KEY = "safe_colours", "presenter"
PRESENTER_ZOOM = 1.3  # the main column in presenter view: fonts and figures 30 % larger
_TRUE = ("true", "1", "yes", "on")


def _flag(key: str) -> bool:
    """A toggle's value: session state once the toggle has run, else the URL (the first run of a link)."""
    if key in st.session_state:
        return bool(st.session_state[key])
    return str(st.query_params.get(key, "")).lower() in _TRUE


def _session_scheme() -> str:
    return "safe" if _flag(SAFE_KEY) else palette.DEFAULT


palette.use_source(_session_scheme)


def safe_colours() -> bool:
    return _flag(SAFE_KEY)


def presenter() -> bool:
    return _flag(PRESENTER_KEY)


def sidebar_state() -> str:
    """``initial_sidebar_state`` for st.set_page_config: collapsed in presenter view."""
    return "collapsed" if presenter() else "expanded"


_PRESENTER_CSS = f"""<style>
[data-testid="stMainBlockContainer"] {{ zoom: {PRESENTER_ZOOM}; max-width: 100%; padding-left: 2rem; padding-right: 2rem; }}
</style>"""


def app_settings() -> None:
    """The sidebar's "Display" section on every page: the two toggles, and presenter view's styling."""
    with st.sidebar:
        st.subheader("Display")
        st.toggle(
            "Colour-vision-safe colours", key=SAFE_KEY, bind="query-params",
            help="Blue–orange instead of blue–red for signed values, Cividis instead of Viridis, and line colours "
            "that stay apart with red–green colour blindness. Applies to every page.",
        )
        st.toggle(
            "Presenter view", key=PRESENTER_KEY, bind="query-params",
            help="For the projector: hides the sidebar and the explanations you say aloud, and draws text and "
            "figures larger. Open the sidebar (› at the top left) to switch it off.",
        )
    if presenter():
        st.html(_PRESENTER_CSS)


def explain(text: str, container=None) -> None:
    """A paragraph of explanation (Markdown written by us, never user text), hidden in presenter view."""
    if not presenter():
        (container or st).markdown(text)

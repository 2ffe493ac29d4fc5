"""What a server process does once, in the background, so that no student's first visit pays for it.

``start()`` (called by app.py on every run, acting once per process) starts one daemon thread that

- stops Streamlit's polling of the config files (``~/.streamlit/config.toml`` and ``.streamlit/config.toml``
  are stat'ed every 0.2 s for the whole life of the server, a config option cannot turn it off; the app
  does not reload its config while a class uses it, ``server.fileWatcherType = "none"`` says the same for
  the code), and
- imports torch, then every lesson module the pages import (SciPy, scikit-image, Plotly come with them),
  then loads the shipped MNIST network into its ``st.cache_resource`` (measured on a fresh server: the first
  visits of the sandbox, ReLU/pooling and MNIST pages took 6-8 s, mostly imports; the MNIST page ~3-6 s of
  it importing torch).

It runs only in a real server (``streamlit run``), never under AppTest, so the tests that the home page
and the torch-free pages do not import torch (tests/test_house.py, each page's tests) still check the
pages' own scripts. ``CNN_VIZ_WARMUP=0`` turns it off (a server that serves only torch-free pages keeps
~400 MB less); ``CNN_VIZ_WARMUP=1`` forces it on. Streamlit internals are touched here only to find the
config-file watchers (``PollingPathWatcher.close`` is their own method).
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from pathlib import Path

_LOG = logging.getLogger(__name__)
# torch first: it is what takes seconds; then what the torch pages import at their top; then page_modules().
MODULES = ("torch", "cnn_viz.common.torch_tools", "cnn_viz.mnist.model", "cnn_viz.mnist.design",
           "cnn_viz.mnist.netfile")
PAGES = Path(__file__).resolve().parent.parent.parent / "pages"
THREAD_NAME = "cnn-viz-warmup"
_lock = threading.Lock()
_thread: threading.Thread | None = None
report: dict[str, float] = {}   # what the warm-up did and how long it took (seconds), for the tests and logs


def enabled() -> bool:
    """On in a process started by ``streamlit run`` unless ``CNN_VIZ_WARMUP=0``; off under AppTest."""
    flag = os.environ.get("CNN_VIZ_WARMUP", "").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return False
    if flag in ("1", "true", "yes", "on"):
        return True
    from streamlit import config

    return getattr(config, "_server_mode", None) is not None   # set by `streamlit run`, None under AppTest


def start(load=None) -> threading.Thread | None:
    """Start the warm-up thread once per process (later calls return the same thread, or None when off).
    ``load``: callables run after the imports (app.py passes the shipped network's cached loader)."""
    global _thread
    if not enabled():
        return None
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_run, args=(tuple(load or ()),), name=THREAD_NAME, daemon=True)
            _thread.start()
    return _thread


def stop_config_polling() -> int:
    """Close Streamlit's poll watchers of the config files; returns how many were closed."""
    import gc

    try:
        from streamlit.watcher.polling_path_watcher import PollingPathWatcher
    except ImportError:   # another Streamlit: nothing to stop
        return 0
    closed = 0
    for obj in gc.get_objects():
        if isinstance(obj, PollingPathWatcher) and str(getattr(obj, "_path", "")).endswith("config.toml"):
            obj.close()
            closed += 1
    return closed


def page_modules() -> list[str]:
    """The lesson modules the pages import (``from cnn_viz.x import y``: cnn_viz.x, and cnn_viz.x.y when y
    is a module), read from the pages' source so the list never goes stale; cnn_viz.ui is left out (app.py
    has imported it already, and it is the package that reruns a page out of Streamlit's legacy mode)."""
    import ast

    out: list[str] = []
    for page in sorted(PAGES.glob("*.py")):
        for node in ast.walk(ast.parse(page.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cnn_viz.") \
                    and not node.module.startswith("cnn_viz.ui"):
                for name in [node.module] + [f"{node.module}.{a.name}" for a in node.names]:
                    if name not in out:
                        out.append(name)
    return out


def _import(name: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:   # ``from cnn_viz.x import some_function``: not a module
        if e.name != name:
            raise


class _NotFromWarmup(logging.Filter):
    """Streamlit warns "missing ScriptRunContext" for every st call outside a script run (here: a cached
    loader's spinner); from this thread that is expected, so those records are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD_NAME


def _run(load) -> None:
    t0 = time.perf_counter()
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_NotFromWarmup())
    try:
        report["config_watchers_closed"] = stop_config_polling()
        for name in MODULES:
            _import(name)
        report["torch_s"] = time.perf_counter() - t0
        for name in page_modules():
            _import(name)
        report["imports_s"] = time.perf_counter() - t0
        for fn in load:
            fn()
        report["total_s"] = time.perf_counter() - t0
        _LOG.info("warm-up done in %.1f s: %s", report["total_s"], report)
    except Exception:   # noqa: BLE001  a failed warm-up only means the first visit pays, as before
        _LOG.warning("warm-up failed; the first visits load what they need themselves", exc_info=True)


def whenfail_jpeg() -> None:
    """The "When CNNs fail" JPEG tab's work for its default picture (the cameraman at 256 px) at the qualities the
    shipped CNN was trained on (``jpeg_cnn.QUALITIES``: 5, 8, 10, 15, 20, 30, 40, 50): ~0.4 s each (TV at eight
    weights, the CNN twice), ~4 MB each in ``cached.with_cnn``'s bounded cache, so a class moving the quality to one
    of them finds it computed. app.py passes it to ``start``."""
    from cnn_viz.ui import cached, widgets
    from cnn_viz.whenfail import jpeg, jpeg_cnn

    img = widgets.sample_image(jpeg.PAGE_IMAGE, max_side=jpeg.PAGE_SIDE)
    for q in jpeg_cnn.QUALITIES:
        cached.with_cnn(img, q)

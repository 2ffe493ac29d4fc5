"""The once-per-process work of a server (cnn_viz/ui/warmup.py) and the tab icon (cnn_viz/common/assets.py)."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import textwrap

import numpy as np
from conftest import ROOT
from PIL import Image


def _run(code: str, **env) -> str:
    import os

    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_the_warm_up_is_off_under_apptest_so_the_torch_checks_see_the_pages_own_imports():
    """Under AppTest (what tests/test_house.py's torch checks run) app.py starts no warm-up thread."""
    got = _run("""
        import sys, threading
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file("app.py", default_timeout=300); at.run()
        assert not at.exception, at.exception
        from cnn_viz.ui import warmup
        print([warmup.enabled(), any(t.name == warmup.THREAD_NAME for t in threading.enumerate()),
               'torch' in sys.modules])
    """, CNN_VIZ_WARMUP="")
    assert got == "[False, False, False]"


def test_the_warm_up_imports_torch_and_the_lessons_and_loads_the_network_off_the_script_thread():
    """Forced on (as in `streamlit run`): after the home page's run, a background thread imports torch and every
    lesson module the pages import, and the shipped network is in its st.cache_resource (the MNIST page's
    own call then returns that same object)."""
    got = _run("""
        import sys, threading
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file("app.py", default_timeout=300); at.run()
        assert not at.exception, at.exception
        from cnn_viz.ui import cached, warmup
        t = warmup.start()
        assert t is not None and t.name == warmup.THREAD_NAME and t is not threading.current_thread()
        t.join(300)
        missing = [m for m in warmup.MODULES + tuple(n for n in warmup.page_modules() if n.count('.') < 2)
                   if m not in sys.modules]
        import torch
        net = cached.load_mnist_model()
        print([sorted(warmup.report) == ['config_watchers_closed', 'imports_s', 'torch_s', 'total_s'], missing,
               isinstance(net, torch.nn.Module), not net.training, torch.get_num_threads()])
    """, CNN_VIZ_WARMUP="1")
    assert got == "[True, [], True, True, 1]"


def test_page_modules_are_the_lesson_modules_the_pages_import():
    from cnn_viz.ui import warmup

    mods = warmup.page_modules()
    assert {"cnn_viz.sandbox.core", "cnn_viz.mnist.model", "cnn_viz.lowrank.svd", "cnn_viz.pooling.stages"} <= set(mods)
    assert not [m for m in mods if m.startswith("cnn_viz.ui")]


def test_stop_config_polling_closes_the_config_watchers_only(tmp_path):
    """Streamlit polls its config files every 0.2 s for the life of the server; the warm-up closes those
    watchers (and only those) with their own close()."""
    from streamlit.watcher.polling_path_watcher import PollingPathWatcher

    from cnn_viz.ui import warmup

    (tmp_path / ".streamlit").mkdir()
    config, other = tmp_path / ".streamlit" / "config.toml", tmp_path / "lesson.py"
    config.write_text("[server]\n")
    other.write_text("x = 1\n")
    w_config = PollingPathWatcher(str(config), lambda p: None, allow_nonexistent=True)
    w_other = PollingPathWatcher(str(other), lambda p: None)
    try:
        assert warmup.stop_config_polling() >= 1
        assert w_config._active is False
        assert w_other._active is True
    finally:
        w_config.close()
        w_other.close()


def test_the_tab_icon_is_the_star_chart_as_a_small_png_data_uri():
    """A data: URI (st.set_page_config sends it as it is: nothing re-encoded or registered per rerun), 32×32,
    close to the star chart averaged over 8×8 blocks (an independent reference for the downscale)."""
    from cnn_viz.common import assets

    uri = assets.favicon_uri()
    assert uri is assets.favicon_uri()   # made once per process
    head, data = uri.split(",", 1)
    assert head == "data:image/png;base64" and len(uri) < 1000  # sent with every rerun's page config
    icon = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("L"), dtype=float)
    star = np.asarray(Image.open(assets.STAR_CHART).convert("L"), dtype=float)
    assert icon.shape == (32, 32) and star.shape == (256, 256)
    blocks = star.reshape(32, 8, 32, 8).mean(axis=(1, 3))
    assert np.abs(icon - blocks).mean() < 12
    assert np.corrcoef(icon.ravel(), blocks.ravel())[0, 1] > 0.95

"""Every file the app ships in assets/ (assets/README.md says where each came from), and where the
training command lines write a new run (``runs/``, never a shipped file unless ``--out`` names it)."""

import base64
import functools
import io
import time
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent.parent / "assets"
RUNS = ASSETS.parent / "runs"

MNIST_SAMPLE = ASSETS / "mnist_5k.npz"
SIMPLE_CNN_WEIGHTS = ASSETS / "simple_cnn.pt"
DEBLUR_WEIGHTS = {"direct": ASSETS / "deblur_direct_cnn.pt", "tikcnn": ASSETS / "deblur_tikhonov_cnn.pt"}
LOWRANK_SWEEP = ASSETS / "lowrank_sweep.json"
STAR_CHART = ASSETS / "star_chart.png"
DIGIT_7 = ASSETS / "digit_7.png"
PLOTLY_THEME = ASSETS / "streamlit_plotly_theme.json"  # Streamlit's Plotly theme for this app (builders.streamlit_theme)


@functools.lru_cache(maxsize=1)
def favicon_uri(side: int = 32) -> str:
    """The browser tab's icon: the star chart shrunk to ``side`` pixels in 16 grey levels, as a PNG data: URI
    (~0.85 kB; 1.3 kB in 256 levels: it goes out with every rerun's page config), made once per process. Given to
    st.set_page_config as a string it is sent as it is; given as a file path, Streamlit re-read, re-encoded and
    re-registered the picture on every rerun of every session."""
    from PIL import Image

    buf = io.BytesIO()
    with Image.open(STAR_CHART) as im:
        im.convert("L").resize((side, side), Image.LANCZOS).quantize(16).save(buf, format="PNG", optimize=True, bits=4)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def new_run_path(stem: str, suffix: str = ".pt") -> Path:
    """A new file under ``runs/`` for a training run: ``<stem>-<UTC date and time>.pt`` (a counter is added
    when that name exists already)."""
    base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    path, k = RUNS / f"{base}{suffix}", 2
    while path.exists():
        path, k = RUNS / f"{base}-{k}{suffix}", k + 1
    return path
WHENFAIL_LAB = {"csc": ASSETS / "whenfail_lab_csc.npz", "generic": ASSETS / "whenfail_lab_generic.npz"}
WHENFAIL_JPEG_CNN = ASSETS / "whenfail_jpeg_cnn.pt"
WHENFAIL_DESCENT = {"mnist": ASSETS / "whenfail_descent_mnist.npz", "lab": ASSETS / "whenfail_descent_lab.npz"}

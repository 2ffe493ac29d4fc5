"""The house rules of the code, checked on the source (README, "Layout of the code").

- only cnn_viz/ui/ and pages/ (and app.py) import streamlit;
- only the modules that need torch import it, and no page does;
- every st.cache_* lives in cnn_viz/ui/cached.py;
- pages hold settings, calls, figures and prose: no numpy, pandas, scipy, torch or hashing of their own;
- the home page and the torch-free pages do not import torch when they run.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from conftest import ROOT, heavy_modules_after

PAGES = sorted((ROOT / "pages").glob("*.py"))
CORE = sorted(p for p in (ROOT / "cnn_viz").rglob("*.py"))
# Modules that import torch when they are imported (each needs it for what it is about).
TORCH_MODULES = {
    "cnn_viz/common/torch_tools.py",
    "cnn_viz/deblur/cnn.py",
    "cnn_viz/lowrank/compress.py",
    "cnn_viz/mnist/design.py",
    "cnn_viz/mnist/model.py",
    "cnn_viz/mnist/netfile.py",
    "cnn_viz/mnist/train.py",
    "cnn_viz/whenfail/descent.py",
    "cnn_viz/whenfail/jpeg_cnn.py",
    "cnn_viz/whenfail/nets.py",
    "cnn_viz/whenfail/train.py",
}
TORCH_FREE_PAGES = ["kernel_sandbox", "sliding_kernel", "relu_pooling", "deblurring", "low_rank"]


def _rel(p) -> str:
    return p.relative_to(ROOT).as_posix()


def _imports(path, top_level_only: bool = False) -> set[str]:
    """Top-level package names a file imports (``from . import`` counts as cnn_viz)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    out = set()
    for n in nodes:
        if isinstance(n, ast.Import):
            out |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            out.add("cnn_viz" if n.level else (n.module or "").split(".")[0])
    return out


def test_the_tree_has_one_folder_per_lesson():
    for pkg in ("common", "figures", "ui", "sandbox", "sliding", "pooling", "mnist", "deblur", "lowrank", "classroom", "whenfail"):
        assert (ROOT / "cnn_viz" / pkg / "__init__.py").exists(), pkg
    flat = [p.name for p in (ROOT / "cnn_viz").glob("*.py") if p.name != "__init__.py"]
    assert flat == [], f"modules outside a lesson or shared folder: {flat}"


def test_only_ui_and_pages_import_streamlit():
    offenders = [_rel(p) for p in CORE if not _rel(p).startswith("cnn_viz/ui/")
                 and _imports(p) & {"streamlit", "streamlit_drawable_canvas"}]
    assert offenders == []


def test_only_the_modules_that_need_it_import_torch():
    at_import = {_rel(p) for p in CORE if _imports(p, top_level_only=True) & {"torch", "torchvision"}}
    assert at_import == TORCH_MODULES
    pages = [_rel(p) for p in PAGES + [ROOT / "app.py"] if _imports(p) & {"torch", "torchvision"}]
    assert pages == []


def test_every_cache_lives_in_ui_cached():
    users = {_rel(p) for p in CORE + PAGES + [ROOT / "app.py"]
             if any(isinstance(n, ast.Attribute) and n.attr in ("cache_data", "cache_resource")
                    for n in ast.walk(ast.parse(p.read_text())))}
    assert users == {"cnn_viz/ui/cached.py"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_pages_do_no_maths_of_their_own(page):
    assert _imports(page) & {"numpy", "pandas", "scipy", "torch", "hashlib", "skimage", "PIL"} == set()
    assert _imports(page) <= {"streamlit", "streamlit_drawable_canvas", "cnn_viz", "__future__"}


@pytest.mark.parametrize("page", TORCH_FREE_PAGES)
def test_torch_free_pages_import_no_torch_through_the_core(page):
    """Importing every cnn_viz module the page imports leaves torch out (a cheap check of each page;
    the run-time check of the pages themselves is below and in each page's tests)."""
    tree = ast.parse((ROOT / "pages" / f"{page}.py").read_text())
    mods = sorted({f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                   and (n.module or "").startswith("cnn_viz") for a in n.names})
    assert mods, "the page imports nothing from cnn_viz"
    code = ("import importlib.util, sys\n"
            f"for m in {mods!r}:\n"
            "    parent, name = m.rsplit('.', 1)\n"
            "    __import__(parent, fromlist=[name])\n"
            "print('torch' in sys.modules, 'torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["False", "False"]


def test_home_page_runs_without_torch():
    assert heavy_modules_after("") == []

"""Deblurring: the course's inverse problem on a signal and on an image; classical regularization against CNNs."""

import numpy as np
import pandas as pd
import streamlit as st

from cnn_viz.deblur import signal1d as deblur1d
from cnn_viz.common import fmt, images, metrics
from cnn_viz import ui
from cnn_viz.deblur import restore as d2
from cnn_viz.deblur import figures as dp

st.title("Deblurring")
st.markdown(
    "A blur is a convolution, so it is a matrix: **b = A x + noise**. Undoing it means solving a linear system whose "
    "matrix is so badly conditioned that the naive solution is pure noise. **Regularization** (truncated SVD, "
    "Tikhonov, Wiener, stopping Richardson–Lucy early) trades a little bias for stability, and a rule has to choose "
    "how much. **CNNs** learn the trade from examples. First on the course's 1-D integral equation, then on images."
)

tab_1d, tab_2d = st.tabs(["1-D: the integral equation", "2-D: images"], key="db_tab", bind="query-params")

LAM_1D = [float(v) for v in np.logspace(-8, 0, 81)]
LAM_2D = [float(v) for v in np.logspace(-4, 0, 41)]
RULE_NAMES = {"gcv": "GCV", "lcurve": "L-curve corner", "discrepancy": "discrepancy principle", "best": "best λ (oracle)", "slider": "your λ"}


# ============================================================================ 1-D
@st.cache_data(max_entries=32, show_spinner=False)
def analyse_1d(f: np.ndarray, sigma: float, noise: float, seed: int, lam: float, k: int | None) -> deblur1d.Analysis1D:
    return deblur1d.analyse(f, sigma, noise, seed, lam_slider=lam, k=k)


@st.cache_data(max_entries=8, show_spinner=False)
def cond_curve(n: int) -> tuple[np.ndarray, np.ndarray]:
    sig = np.geomspace(0.002, 0.2, 25)
    return sig, deblur1d.cond_vs_sigma(n, sig)


def signal_input(n: int) -> np.ndarray:
    kind = st.selectbox("True signal f", deblur1d.SIGNALS, key="db1_signal", bind="query-params")
    if kind in deblur1d.SIGNALS[:3]:
        return deblur1d.test_signal(kind, n)
    if kind == "Typed values":
        text = st.text_input("Values of f from t = 0 to 1 (spaces or commas)", "0 0 1 1 0.3 0.3 0.8 0", key="db1_typed",
                             bind="query-params", help="Linearly interpolated to n points.")
        try:
            return deblur1d.parse_signal(text, n)
        except ValueError as exc:
            st.error(f"{exc} Using the smooth bump instead.")
            return deblur1d.test_signal("Smooth bump", n)
    st.caption("Draw f from left to right in the box (main area); the smooth bump is used until you do.")
    st.session_state["db1_draw"] = True
    return None


def drawn_signal(n: int) -> np.ndarray:
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception:  # noqa: BLE001 - the component is optional
        st.warning("The drawing canvas is not available here; using the smooth bump.")
        return deblur1d.test_signal("Smooth bump", n)
    st.markdown("**Draw the true signal f(t)** (left = t = 0, right = t = 1, top = 1, bottom = 0):")
    res = st_canvas(stroke_width=4, stroke_color="#222222", background_color="#ffffff", height=180, width=640, return_image_data=True,
                    drawing_mode="freedraw", key="db1_canvas", update_streamlit=True)
    data = getattr(res, "image_data", None)
    try:
        return deblur1d.signal_from_drawing(data, n)
    except ValueError as exc:
        st.info(f"{exc} Using the smooth bump meanwhile.")
        return deblur1d.test_signal("Smooth bump", n)


def render_1d() -> None:
    with st.sidebar:
        st.header("1-D problem")
        n = st.select_slider("Points n", [64, 128, 256, 384, 512], 256, key="db1_n", bind="query-params",
                             help="The midpoint rule on n points gives an n×n matrix.")
        f = signal_input(int(n))
        sigma = st.slider("Kernel width σ", 0.005, 0.2, 0.05, 0.005, format="%.3f", key="db1_sigma", bind="query-params",
                          help="g(s) = ∫ exp(−(s−t)²/σ²) f(t) dt: a wider kernel blurs more and makes A worse conditioned.")
        noise = st.slider("Noise ‖e‖/‖b‖ (%)", 0.0, 10.0, 1.0, 0.1, key="db1_noise", bind="query-params") / 100
        seed = st.number_input("Noise seed", 0, 9999, 0, key="db1_seed", bind="query-params")
        lam = st.select_slider("Your λ", LAM_1D, value=LAM_1D[50], format_func=fmt.sci, key="db1_lam", bind="query-params",
                               help="Tikhonov's λ for the 'your λ' curve; the rules choose their own.")
        auto_k = st.toggle("TSVD k by GCV", True, key="db1_autok", bind="query-params")
        k = None if auto_k else st.slider("TSVD k", 1, int(n), min(20, int(n)), key="db1_k", bind="query-params")
    if f is None:
        f = drawn_signal(int(n))
    try:
        a = analyse_1d(f, float(sigma), float(noise), int(seed), float(lam), k)
    except ValueError as exc:
        st.error(f"Cannot solve this problem: {exc}")
        return

    st.subheader("Blur, then undo it")
    labels = list(a.solutions)
    default = [lbl for lbl in labels if lbl.startswith("Tikhonov (GCV") or lbl.startswith("Tikhonov (discrepancy") or lbl.startswith("TSVD")]
    shown = st.multiselect("Reconstructions to draw", labels, default=default, key="db1_shown")
    ui.plot(dp.signals_figure(a.t, a.f, a.b, {lbl: a.solutions[lbl] for lbl in shown}), key="db1_signals")
    st.caption(
        f"Black: the true f. Grey dots: the data b = A f + e with ‖e‖ = {100 * noise:g} % of ‖A f‖. The naive solve "
        f"A⁻¹b reaches {np.max(np.abs(a.solutions['Naive solve'])):.1e}: it amplifies the noise in every direction "
        "in which A is nearly singular. The regularized solutions keep only what the data can support."
    )
    items = list(a.errors.items())
    for row in range(0, len(items), 4):
        cols = st.columns(4)
        for c, (lbl, e) in zip(cols, items[row: row + 4]):
            c.metric(lbl.replace("Tikhonov ", "Tik. "), f"{e:.3g}" if e < 100 else f"{e:.1e}", help="relative error ‖x − f‖ / ‖f‖")
    st.caption("Relative error ‖x − f‖/‖f‖ of each reconstruction. λ chosen: " + ", ".join(
        f"{RULE_NAMES[r]} {v:.2e}" for r, v in a.lam.items()) + f"; TSVD by GCV keeps k = {a.k_gcv}.")

    c1, c2 = st.columns(2)
    with c1:
        ui.plot(dp.matrix_figure(a.A, "The blur matrix A"), key="db1_A")
        st.caption(f"Aᵢⱼ = (1/n)·exp(−(sᵢ − tⱼ)²/σ²): symmetric, constant along each diagonal (Toeplitz), "
                   f"a band of width ~σ. cond(A) = {a.dec.s[0] / a.dec.s[-1]:.2e}.")
    with c2:
        s, beta, ratio = deblur1d.picard(a.dec, a.b)
        noise_coef = a.delta / np.sqrt(len(a.f)) if a.delta > 0 else None
        ui.plot(dp.picard_figure(s, beta, ratio, a.k_gcv, noise_coef, "Picard plot"), key="db1_picard")
        st.caption("σᵢ fall fast. |uᵢᵀb| follow them only until they hit the noise level, then stay flat, so "
                   "|uᵢᵀb|/σᵢ (the naive solution's coefficients) explode: the discrete Picard condition fails "
                   "beyond that index, and every good method keeps only the components to its left.")

    picks = {r: v for r, v in a.lam.items() if r != "slider"}
    c1, c2 = st.columns(2)
    with c1:
        ui.plot(dp.lcurve_figure(a.rho, a.eta, a.lams, picks, {r: a.marks[r][0] for r in picks}, {r: a.marks[r][1] for r in picks},
                                 "L-curve"), key="db1_lcurve")
        st.caption("Each point is one λ: residual against solution size. The corner balances them; hover for λ. "
                   "The corner often sits left of the best λ, i.e. it can under-regularize.")
    with c2:
        ui.plot(dp.gcv_figure(a.lams, a.gcv, picks, {r: a.marks[r][2] for r in picks}, "GCV function"), key="db1_gcv")
        st.caption("G(λ) = ‖A x_λ − b‖² / trace(I − A A_λ⁺)²: a leave-one-out prediction error that needs no noise "
                   "level. Its minimum is GCV's λ; when the curve is flat its minimum is fragile.")
    c1, c2 = st.columns(2)
    with c1:
        ui.plot(dp.filter_factors_figure(a.dec.s, {r: v for r, v in a.lam.items()}, a.k_gcv, "Filter factors"), key="db1_phi")
        st.caption("Tikhonov multiplies the i-th naive component by φᵢ = σᵢ²/(σᵢ² + λ²): ≈ 1 where σᵢ ≫ λ, ≈ 0 "
                   "where σᵢ ≪ λ. TSVD uses a hard step instead.")
    with c2:
        sig, conds = cond_curve(int(n))
        ui.plot(dp.cond_figure(sig, conds, float(sigma), "cond(A) as σ grows"), key="db1_cond")
        st.caption("A wider kernel smooths more, so more directions are nearly invisible in the data: cond(A) grows "
                   "explosively and passes 1/ε ≈ 4.5·10¹⁵ (numerically singular) around σ ≈ 0.03 for n = 256.")
    ui.download_csv(np.column_stack([a.t, a.f, a.b] + list(a.solutions.values())), "deblur_1d.csv",
                    "Download the signals (CSV: t, f, b, then each reconstruction)", key="db1_csv")
    with st.expander("The maths"):
        st.latex(r"g(s)=\int_0^1 e^{-(s-t)^2/\sigma^2} f(t)\,dt \;\approx\; \sum_{j} \tfrac1n e^{-(s_i-t_j)^2/\sigma^2} f(t_j),\quad t_j=\tfrac{j-1/2}{n}")
        st.latex(r"A=U\Sigma V^T,\qquad x_\lambda=\sum_i \varphi_i\,\frac{u_i^Tb}{\sigma_i}v_i,\qquad \varphi_i=\frac{\sigma_i^2}{\sigma_i^2+\lambda^2}"
                 r"\quad\Longleftrightarrow\quad x_\lambda=\arg\min_x \|Ax-b\|^2+\lambda^2\|x\|^2")
        st.latex(r"\text{GCV: } \min_\lambda \frac{\|Ax_\lambda-b\|^2}{(n-\sum_i\varphi_i)^2},\qquad "
                 r"\text{discrepancy: } \|Ax_\lambda-b\|=\|e\|,\qquad \text{L-curve: max curvature of } (\log\|Ax_\lambda-b\|,\log\|x_\lambda\|)")


# ============================================================================ 2-D
@st.cache_data(max_entries=16, show_spinner=False)
def working_image(img: np.ndarray, side: int) -> np.ndarray:
    return images.resize_max(img, side).astype(np.float64)


@st.cache_data(max_entries=16, show_spinner=False)
def scene_for(img: np.ndarray, psf: np.ndarray, bc: str, noise: float, seed: int) -> d2.Scene:
    return d2.make_scene(img, psf, bc, noise, seed)


@st.cache_data(max_entries=16, show_spinner=False)
def run_compare(scene: d2.Scene, solver_bc: str, methods: tuple, lam: float, iters: int, cnn_stamp: str,
                solver_psf: np.ndarray, noise: float | None, _cnn=None):
    return d2.compare(scene, solver_bc, methods, lam, iters, _cnn, solver_psf, noise)


@st.cache_data(max_entries=16, show_spinner=False)
def sweep_for(scene: d2.Scene, solver_bc: str, solver_psf: np.ndarray, noise: float | None) -> dict:
    return d2.lambda_sweep(scene, solver_bc, solver_psf=solver_psf, noise=noise)


@st.cache_data(max_entries=16, show_spinner=False)
def rl_for(scene: d2.Scene, iters: int, solver_psf: np.ndarray) -> dict:
    return d2.rl_curves(scene, iters=iters, solver_psf=solver_psf)


@st.cache_data(max_entries=16, show_spinner=False)
def crime_for(img: np.ndarray, psf: np.ndarray) -> dict:
    return d2.inverse_crime(img, psf)


@st.cache_data(max_entries=16, show_spinner=False)
def lessons_for(scene: d2.Scene) -> dict:
    """Tikhonov with GCV and the discrepancy principle under the periodic and the reflexive model."""
    out = {}
    for bc in ("periodic", "reflexive"):
        for r in d2.compare(scene, bc, (d2.TIK_GCV, d2.TIK_DP)):
            out[(bc, r.name)] = (r.psnr, r.note)
    return out


@st.cache_data(max_entries=8, show_spinner=False)
def cnn_boundaries(img: np.ndarray, psf: np.ndarray, noise: float, seed: int, cnn_stamp: str, _cnn=None) -> dict:
    """For data blurred with each boundary condition: {bc: {method: PSNR}} for Tikhonov (GCV, reflexive
    solver), Tikhonov + CNN and the direct CNN (whichever networks there are)."""
    methods = tuple(m for m in (d2.TIK_GCV, d2.CNN_TIK, d2.CNN_DIRECT) if m == d2.TIK_GCV or m in (_cnn or {}))
    return {bc: {r.name: r.psnr for r in d2.compare(d2.make_scene(img, psf, bc, noise, seed), "reflexive", methods, cnn=_cnn)}
            for bc in d2.BOUNDARIES}


@st.cache_resource(show_spinner="Loading PyTorch and the trained CNNs (first time only)…")
def shipped_cnns():
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from cnn_viz.deblur import cnn as dc

    torch.set_num_threads(1)
    return {kind: dc.load(path) for kind, path in dc.WEIGHTS.items() if path.exists()}


@st.cache_resource(show_spinner=False)
def training_pairs(kind: str):
    from cnn_viz.deblur import cnn as dc

    return dc.make_pairs(kind, dc.Degradation(), sides=(256,), draws=1)


def cnn_models() -> tuple[dict, dict, str]:
    """{method name: (model, meta)} using this session's retrained networks where there are any."""
    from cnn_viz.deblur import cnn as dc

    models = {dc.KINDS[k]: v for k, v in shipped_cnns().items()}
    stamp = "shipped"
    for kind, pair in st.session_state.get("db_retrained", {}).items():
        models[dc.KINDS[kind]] = pair
        stamp += f"|{kind}:{pair[1].get('stamp', '')}"
    return models, {name: m[1] for name, m in models.items()}, stamp


def retrain_panel() -> None:
    from cnn_viz.deblur import cnn as dc

    st.markdown("Train a network here, on this machine, from the shipped weights or from scratch. It is used for "
                "your session only (the shipped weights stay). The shipped ones were trained for about 14 minutes "
                "each by `python -m cnn_viz.deblur.train`; a minute here shows the loss falling, not the final quality.")
    c1, c2, c3 = st.columns(3)
    kind = c1.selectbox("Network", list(dc.KINDS), format_func=dc.KINDS.get, key="db_rt_kind")
    secs = c2.slider("Training time (s)", 10, 300, 60, 10, key="db_rt_secs")
    start = c3.radio("Start from", ["shipped weights", "scratch"], key="db_rt_start", horizontal=True)
    if st.button("Retrain now", key="db_rt_go", icon="🏋️"):
        import copy

        import torch

        bar = st.progress(0.0, text="Preparing training pairs (blur, noise and Tikhonov of 15 images)…")
        pairs = training_pairs(kind)
        base = shipped_cnns().get(kind)
        model = copy.deepcopy(base[0]) if (start == "shipped weights" and base) else dc.ResidualCNN(**dc.ARCH[kind])
        model.train()
        t0 = __import__("time").perf_counter()
        model, hist = dc.train(kind, seconds=secs, pairs=pairs, model=model, lr=3e-4 if start == "shipped weights" else 1e-3, warmup=20,
                               seed=int(t0) % 1000, log_every=5,
                               progress=lambda fr, msg: bar.progress(min(1.0, fr), text=f"Training {dc.KINDS[kind]}: {msg}"))
        torch.set_num_threads(1)
        bar.progress(1.0, text="Evaluating on the held-out cameraman…")
        ev = dc.evaluate(model, kind, dc.Degradation())
        meta = {"train_seconds": round(__import__("time").perf_counter() - t0, 1), "steps": hist[-1][0] if hist else 0,
                "camera_psnr": round(ev["psnr"], 2), "camera_input_psnr": round(ev["input_psnr"], 2),
                "stamp": f"{t0:.0f}", "retrained_here": True, "start": start}
        st.session_state.setdefault("db_retrained", {})[kind] = (model, meta)
        bar.empty()
        st.success(f"{dc.KINDS[kind]} retrained for {meta['train_seconds']:.0f} s ({meta['steps']} steps): cameraman "
                   f"{ev['input_psnr']:.2f} → {ev['psnr']:.2f} dB. It is used in the comparison above from now on.")
    if st.session_state.get("db_retrained") and st.button("Go back to the shipped weights", key="db_rt_reset"):
        st.session_state["db_retrained"] = {}
        st.rerun()


def psf_controls(prefix: str = "db", label: str = "Blur (PSF)") -> tuple[np.ndarray | None, str, tuple]:
    kind = st.selectbox(label, d2.PSF_KINDS, key=f"{prefix}_psf", bind="query-params")
    angle = 0.0
    if kind == "Gaussian":
        size = st.slider("Gaussian σ (pixels)", 0.5, 5.0, 2.0, 0.25, key=f"{prefix}_sigma", bind="query-params")
        desc = f"Gaussian σ = {size:g} px"
    elif kind == "Motion":
        size = st.slider("Motion length (pixels)", 3, 31, 11, key=f"{prefix}_len", bind="query-params")
        angle = st.slider("Motion angle (°)", 0, 180, 0, 5, key=f"{prefix}_angle", bind="query-params")
        desc = f"motion {size} px at {angle}°"
    else:
        size = st.slider("Box width (pixels, odd)", 3, 15, 5, 2, key=f"{prefix}_box", bind="query-params")
        desc = f"{size}×{size} box"
    try:
        return d2.make_psf(kind, float(size), float(angle)), desc, (kind, float(size), float(angle))
    except ValueError as exc:
        st.error(str(exc))
        return None, desc, (kind, float(size), float(angle))


def render_2d() -> None:
    with st.sidebar:
        st.header("Image")
        picked = ui.image_picker("db_img", default="Cameraman", max_side=512)
        side = st.select_slider("Working size (longest side)", [128, 192, 256, 384, 512], 256, key="db_side", bind="query-params",
                                help="The goals were measured at 256 pixels; 512 is 4× the work.")
        st.header("How the data were made")
        psf, psf_desc, psf_id = psf_controls()
        noise = st.slider("Noise ‖e‖/‖b‖ (%)", 0.0, 10.0, 1.0, 0.1, key="db_noise", bind="query-params") / 100
        blur_bc = st.selectbox("Boundary of the blur (the world outside the frame)", d2.BOUNDARIES, format_func=d2.BC_LABELS.get,
                               key="db_blur_bc", bind="query-params")
        seed = st.number_input("Noise seed", 0, 9999, 0, key="db_seed", bind="query-params")
        st.header("What the solver assumes")
        solver_psf, solver_desc, solver_id = psf, psf_desc, psf_id
        if not st.toggle("It knows the true blur", True, key="db_s_known", bind="query-params",
                         help="Switch off to give the solver a wrong PSF (a wrong σ, a box instead of a Gaussian…)."):
            solver_psf, solver_desc, solver_id = psf_controls("db_s", "PSF the solver assumes")
        assumed_noise = None
        if not st.toggle("It knows the noise level", True, key="db_n_known", bind="query-params",
                         help="The discrepancy principle needs ‖e‖. Switch off to tell it a wrong noise level."):
            assumed_noise = st.slider("Noise level it assumes (%)", 0.0, 10.0, 2.0, 0.1, key="db_n_assumed", bind="query-params") / 100
        solver_bc = st.selectbox("Boundary in the solver", d2.BOUNDARIES, format_func=d2.BC_LABELS.get, key="db_solver_bc",
                                 bind="query-params", help="periodic → FFT; reflexive → DCT (symmetric PSFs); zero → conjugate gradients.")
        lam = st.select_slider("Your λ (Tikhonov)", LAM_2D, value=LAM_2D[28], format_func=fmt.sci, key="db_lam", bind="query-params")
        iters = st.slider("Richardson–Lucy iterations", 1, 200, 30, key="db_iters", bind="query-params")
        methods = st.multiselect("Methods", d2.METHODS, default=list(d2.METHODS), key="db_methods",
                                 help="The CNNs load PyTorch the first time (a few seconds).")
    if psf is None or solver_psf is None:
        return
    if not methods:
        st.info("Choose at least one method in the sidebar.")
        return
    try:
        truth = working_image(picked.image, int(side))
        scene = scene_for(truth, psf, blur_bc, float(noise), int(seed))
    except ValueError as exc:
        st.error(f"Cannot blur this image: {exc}")
        return

    cnn, metas, stamp = None, {}, "none"
    if any(m in d2.LEARNED for m in methods):
        from cnn_viz.deblur import cnn as dc

        models, metas, stamp = cnn_models()
        if not models:
            st.warning("No trained CNN weights found in assets/: the CNN rows are skipped. Retrain below.")
        cnn = {name: (lambda img, m=mm[0]: dc.restore(m, img)) for name, mm in models.items()}

    with st.spinner("Deblurring with every method…"):
        try:
            results = run_compare(scene, solver_bc, tuple(methods), float(lam), int(iters), stamp, solver_psf, assumed_noise, cnn)
        except ValueError as exc:
            st.error(f"Cannot deblur: {exc}")
            return
    if not results:
        st.info("Nothing to show: the chosen methods need trained CNN weights.")
        return
    blurred_psnr = metrics.psnr(np.clip(scene.blurred, 0, 1), scene.truth)
    shape = "×".join(str(v) for v in truth.shape[:2])

    c1, c2, c3 = st.columns([1, 2, 2])
    with c1:
        ui.plot(dp.psf_figure(psf, "PSF"), key="db_psf_fig")
        st.caption(f"{psf_desc}, {psf.shape[0]}×{psf.shape[1]} pixels, sums to 1.")
    with c2:
        ui.plot(dp.gallery_figure([scene.truth], [f"{picked.name}, {shape}"], cols=1, height_per_row=300), key="db_truth")
        st.caption("The true image (the CNNs never saw cameraman: it is held out of training).")
    with c3:
        ui.plot(dp.gallery_figure([np.clip(scene.blurred, 0, 1)], [f"blurred + {100 * noise:g} % noise: {blurred_psnr:.2f} dB"],
                                  cols=1, height_per_row=300), key="db_blurred")
        st.caption(f"The data b: blurred with a {blur_bc} boundary, plus white noise with ‖e‖ = {100 * noise:g} % of ‖Ax‖.")

    same_psf = psf.shape == solver_psf.shape and np.allclose(psf, solver_psf)
    if blur_bc == solver_bc and same_psf:
        st.info(f"**Inverse crime.** The data were made with exactly the model the solver inverts ({psf_desc}, {blur_bc} "
                "boundary). Real cameras do not oblige: the scene continues outside the frame and the blur is only "
                "estimated. Set the two boundaries (or the two PSFs) differently to see what the model error costs; the "
                "noise-free table below shows it in one glance.", icon="⚖️")
    elif not same_psf:
        st.warning(f"The solver assumes a different blur ({solver_desc}) from the true one ({psf_desc}): every method "
                   "inverts the wrong operator. Too narrow a PSF leaves blur; too wide a PSF rings.", icon="🔍")

    st.subheader("The comparison")
    df = pd.DataFrame({
        "method": [r.name for r in results],
        "PSNR (dB)": [round(r.psnr, 2) for r in results],
        "SSIM": [round(r.ssim, 3) for r in results],
        "rel. error": [round(r.rel_error, 4) for r in results],
        "time (ms)": [round(1e3 * r.seconds, 1) for r in results],
        "details": [r.note for r in results],
    })
    st.dataframe(df, hide_index=True, key="db_table", width="stretch")
    st.caption(f"Measured against the true image after clipping to [0, 1]. The blurred data score {blurred_psnr:.2f} dB. "
               "Time: wall clock on this server, including choosing λ (shared work counted for every method); the CNN "
               "rows include the Tikhonov solve they start from.")
    ui.download_csv(df[["PSNR (dB)", "SSIM", "rel. error", "time (ms)"]].to_numpy(), "deblur_metrics.csv",
                    "Download the numbers (CSV, rows in table order)", key="db_csv")
    ui.plot(dp.metrics_figure(df["method"].tolist(), df["PSNR (dB)"].tolist(), df["SSIM"].tolist(),
                              [r.seconds for r in results], reference=blurred_psnr), key="db_bars")
    st.caption("Purple: learned; blue: classical. The dashed line is the blurred input's PSNR: a method left of it made "
               "the image worse. Hover for the time.")
    cnn_note(results, metas, psf_id if same_psf else solver_id + ("wrong",), blur_bc, float(noise), solver_bc)

    st.subheader("Look closely")
    names = [r.name for r in results]
    pref = [n for n in (d2.TIK_GCV, d2.WIENER, d2.RL, d2.CNN_TIK) if n in names] or names[:3]
    view = st.multiselect("Restorations to look at", names, default=pref, key="db_view")
    chosen = [r for r in results if r.name in view]
    h, w = truth.shape[:2]
    cc1, cc2, cc3 = st.columns(3)
    size = cc1.slider("Zoom box (pixels)", 16, max(16, min(h, w) // 2), min(64, max(16, min(h, w) // 2)), 8, key="db_zoom")
    cy = cc2.slider("Zoom centre, row", 0, h - 1, min(h - 1, int(0.3 * h)), key="db_zy")
    cx = cc3.slider("Zoom centre, column", 0, w - 1, min(w - 1, int(0.45 * w)), key="db_zx")
    r0, c0 = int(np.clip(cy - size // 2, 0, h - size)), int(np.clip(cx - size // 2, 0, w - size))
    box = (r0, r0 + size, c0, c0 + size)
    imgs = [scene.truth, np.clip(scene.blurred, 0, 1)] + [r.image for r in chosen]
    titles = ["true", f"blurred {blurred_psnr:.1f} dB"] + [f"{r.name} {r.psnr:.1f} dB" for r in chosen]
    ui.plot(dp.gallery_figure(imgs, titles, cols=4, box=box), key="db_gallery")
    st.caption("Whole images; the yellow box is the zoom below. Hover for pixel values.")
    crops = [im[r0: r0 + size, c0: c0 + size] for im in imgs]
    ui.plot(dp.gallery_figure(crops, titles, cols=min(6, len(crops)), height_per_row=220), key="db_crops")
    st.caption("The zoom: ringing near edges (Tikhonov, Wiener), noise speckle (too small λ), and what the CNN cleans up.")
    if chosen:
        ui.plot(dp.error_figure([np.asarray(r.image, dtype=np.float64) - scene.truth for r in chosen], [r.name for r in chosen]),
                key="db_errors")
        st.caption("Error maps, restored − true, one shared scale saturating at the 99.5th percentile (red too bright, blue "
                   "too dark). Errors gather at edges and, with the wrong boundary model, along the frame.")
        pick = st.selectbox("Download a restoration", [r.name for r in chosen], key="db_dl_pick")
        ui.download_png(next(r.image for r in chosen if r.name == pick), f"deblur_{pick}.png", f"Download “{pick}” (PNG)", key="db_dl")

    st.subheader("Choosing λ and stopping Richardson–Lucy")
    c1, c2 = st.columns(2)
    with c1:
        with st.spinner("Sweeping λ…"):
            sw = sweep_for(scene, solver_bc, solver_psf, assumed_noise)
        ui.plot(dp.lambda_figure(sw, float(lam)), key="db_lambda")
        st.caption(f"Tikhonov's PSNR against λ ({'exact ' + solver_bc if sw['exact'] else 'mirror-FFT'} model) with the GCV "
                   f"function. GCV lands {sw['best_psnr'] - sw['pick_psnr']['GCV']:.2f} dB below the best λ here. Too small a λ lets noise through, "
                   "too large a λ blurs again.")
    with c2:
        with st.spinner("Running Richardson–Lucy with three boundary conditions…"):
            curves = rl_for(scene, max(150, int(iters)), solver_psf)
        ui.plot(dp.rl_figure(curves, int(iters)), key="db_rl")
        st.caption("Richardson–Lucy's PSNR after each iteration: it rises, peaks and then falls as it starts fitting the noise "
                   "(semi-convergence): the iteration count is the regularization parameter. A solver boundary that does "
                   "not match the data peaks early and low.")

    st.subheader("The inverse crime, in one table")
    crime = crime_for(truth, psf)
    ct = pd.DataFrame({f"solver: {sb}": [round(crime[(bb, sb)], 1) for bb in d2.BOUNDARIES] for sb in ("periodic", "reflexive")},
                      index=[f"data: {bb}" for bb in d2.BOUNDARIES])
    st.dataframe(ct, key="db_crime")
    st.caption("PSNR (dB) of the naive inverse A⁻¹b on NOISE-FREE data. When the data were made by the very model being "
               "inverted (the diagonal) the blur is undone perfectly, which proves nothing about real photographs. Any "
               "mismatch, or any noise, and the naive inverse is useless.")

    cnn_table = None
    if cnn:
        with st.spinner("The CNN on data blurred with each boundary condition…"):
            cnn_table = cnn_boundaries(truth, psf, float(noise), int(seed), stamp, cnn)
    lessons(scene, sw, curves, cnn_table)
    with st.expander("The maths"):
        st.latex(r"b = Ax + e,\qquad x_\lambda=\arg\min_x\|Ax-b\|^2+\lambda^2\|x\|^2")
        st.markdown("Periodic boundary: A is block-circulant, **A = F* diag(ŝ) F** with the 2-D FFT F. Reflexive boundary "
                    "with a doubly symmetric PSF: A is block Toeplitz-plus-Hankel and **A = Cᵀ diag(s) C** with the 2-D DCT-II C "
                    "(Hansen, Nagy & O'Leary, *Deblurring Images*, ch. 4). Then")
        st.latex(r"\hat x_i = \frac{\bar s_i\,\hat b_i}{|s_i|^2+\lambda^2}\quad\text{(Tikhonov)},\qquad "
                 r"\hat x_i = \frac{\bar s_i\,\hat b_i}{|s_i|^2+\beta|\ell_i|^2}\quad\text{(Wiener–Hunt, Laplacian prior)}")
        st.latex(r"x_{k+1} = x_k \odot \frac{A^T\!\left(b \oslash A x_k\right)}{A^T\mathbf 1}\quad\text{(Richardson–Lucy)}")
        st.markdown("Zero boundary has no fast diagonalization: Tikhonov is solved by conjugate gradients on "
                    "(AᵀA + λ²I)x = Aᵀb preconditioned with the FFT; its λ rules use the FFT of the mirror-extended image.")


def cnn_note(results, metas: dict, psf_id: tuple, blur_bc: str, noise: float, solver_bc: str) -> None:
    by = {r.name: r for r in results}
    classical = [r for r in results if r.name in d2.CLASSICAL and r.name != d2.TIK_BEST]
    oracle = by.get(d2.TIK_BEST)
    learned = [r for r in results if r.name in d2.LEARNED]
    if not learned or not classical:
        return
    best_c = max(classical + ([oracle] if oracle else []), key=lambda r: r.psnr)
    lines = []
    for r in learned:
        gain = r.psnr - best_c.psnr
        verdict = "wins" if gain > 0 else "loses"
        lines.append(f"**{r.name}** {verdict}: {r.psnr:.2f} dB, {gain:+.2f} dB against the best classical method "
                     f"({best_c.name}, {best_c.psnr:.2f} dB); SSIM {r.ssim:.3f} against {best_c.ssim:.3f}.")
    costs = []
    for name, m in metas.items():
        if m.get("retrained_here"):
            costs.append(f"{name}: retrained here for {m['train_seconds']:.0f} s ({m['steps']} steps).")
        elif m:
            costs.append(f"{name}: {m.get('params', 0):,} weights, trained {m.get('train_seconds', 0) / 60:.1f} min "
                         f"({m.get('steps', 0):,} steps of {m.get('batch', 16)} patches {m.get('patch', 48)}×{m.get('patch', 48)}, "
                         f"{m.get('threads', 1)} CPU thread) plus "
                         f"{m.get('prep_seconds', 0):.0f} s to make the training pairs; "
                         f"`{m.get('command', '')}`.")
    trained = "Gaussian σ = 2 px, 1 % noise, reflexive boundary"
    same = psf_id[:2] == ("Gaussian", 2.0) and len(psf_id) == 3 and blur_bc == "reflexive" and abs(noise - 0.01) < 1e-9
    box = st.container(border=True)
    box.markdown("#### Where the CNN wins, and what it cost\n" + "\n".join(f"- {ln}" for ln in lines + costs))
    tik = by.get(d2.CNN_TIK)
    if same and solver_bc == "reflexive":
        box.markdown(f"These are the conditions the networks were trained for ({trained}), on an image they never saw. "
                     + ("The Tikhonov + CNN pair wins because Tikhonov already did the linear algebra (the blur is known); "
                        "the network only has to learn what Tikhonov's ringing and leftover noise look like, which is local "
                        "and looks the same on every photograph. The direct CNN must learn the inversion itself from a few "
                        "minutes of examples, through a 41-pixel window." if tik and tik.psnr > best_c.psnr else ""))
    else:
        box.warning(f"The networks were trained only on {trained} (solver: reflexive). Here the data or the solver differ, "
                    "so they meet artefacts they never saw: a CNN inherits every assumption of its training data, the "
                    "boundary condition included. Compare its row with the classical ones.")


def lessons(scene: d2.Scene, sw: dict, curves: dict, cnn_table: dict | None) -> None:
    les = lessons_for(scene)
    pg, pnote = les[("periodic", d2.TIK_GCV)]
    rg, rnote = les[("reflexive", d2.TIK_GCV)]
    pd_, _ = les[("periodic", d2.TIK_DP)]
    rd_, _ = les[("reflexive", d2.TIK_DP)]
    best = sw["best_psnr"]
    lc = sw["picks"]["L-curve"]
    lc_ps = sw["pick_psnr"]["L-curve"]

    def rl_text(bc):
        c = curves[bc]
        k = int(np.argmax(c))
        if k == len(c) - 1:
            return f"with a {bc} boundary it is still rising after {len(c)} iterations ({c[k]:.2f} dB)"
        return f"with a {bc} boundary it peaks after {k + 1} iterations at {c[k]:.2f} dB and falls to {c[-1]:.2f} dB by {len(c)}"

    if scene.bc == "periodic":
        first = (f"- **The boundary condition matters more than the λ rule.** These data were blurred periodically, so the "
                 f"periodic FFT model is exact: Tikhonov with GCV gives {pg:.2f} dB with it ({pnote}) and {rg:.2f} dB with "
                 f"the reflexive model ({rnote}). Blur with a reflexive or zero boundary to see the periodic model collapse.\n")
    else:
        first = (f"- **The boundary condition matters more than the λ rule.** On these data, Tikhonov with GCV gives "
                 f"{rg:.2f} dB with the reflexive model ({rnote}) but {pg:.2f} dB with the periodic FFT model ({pnote}); "
                 f"the discrepancy principle {rd_:.2f} against {pd_:.2f} dB. A periodic model on a non-periodic picture sees "
                 "the jump at the frame as signal that must be fitted, so both rules choose a tiny λ and return noise.\n")
    if cnn_table:
        parts = []
        if d2.CNN_DIRECT in cnn_table["reflexive"]:
            parts.append("the direct CNN scores " + ", ".join(f"{cnn_table[bc][d2.CNN_DIRECT]:.2f} dB on {bc}"
                                                               for bc in d2.BOUNDARIES) + "-boundary blurs of this picture")
        if d2.CNN_TIK in cnn_table["reflexive"]:
            parts.append("Tikhonov (reflexive solver, GCV) + CNN goes " + ", ".join(
                f"{cnn_table[bc][d2.TIK_GCV]:.2f} → {cnn_table[bc][d2.CNN_TIK]:.2f} dB ({bc})" for bc in d2.BOUNDARIES))
        cnn_line = ("- **A CNN inherits the boundary assumption of its training data.** Trained on reflexive blurs only, "
                    + "; ".join(parts) + ". At the frame the networks meet borders they never saw, and no network repairs "
                    "the ringing of a wrong boundary model in its input.\n")
    else:
        cnn_line = ("- **A CNN inherits the boundary assumption of its training data**: the shipped networks were trained on "
                    "reflexive blurs; add the CNN methods and set the blur boundary to periodic or zero to see it.\n")
    st.subheader("What the numbers teach")
    st.markdown(
        first
        + f"- **The L-curve can under-regularize**: its corner is at λ = {lc:.2g} ({lc_ps:.2f} dB) while the best λ in the "
        f"sweep gives {best:.2f} dB.\n"
        + f"- **Richardson–Lucy semi-converges**: {rl_text('zero')}; {rl_text('periodic')}; {rl_text('reflexive')}. "
        "The iteration count is its regularization parameter, and a wrong boundary makes it peak early.\n"
        + cnn_line
        + "- **The inverse crime** (table above): matching the data's model exactly makes even the naive inverse look perfect."
    )


if tab_1d.open:
    render_1d()
if tab_2d.open:
    render_2d()
    with st.expander("Retrain the CNNs (progress shown; uses this machine's CPU)"):
        retrain_panel()

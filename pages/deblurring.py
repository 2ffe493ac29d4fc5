"""Deblurring: the course's inverse problem on a signal and on an image; classical regularization against CNNs."""

import streamlit as st

from cnn_viz import ui
from cnn_viz.common import fmt, text
from cnn_viz.deblur import experiment, figures, forward, signal1d
from cnn_viz.figures import palette
from cnn_viz.ui import cached, training

st.title("Deblurring")
ui.explain(
    "A blur is a convolution, so it is a matrix: **b = A x + noise**. Undoing it means solving a linear system whose "
    "matrix is so badly conditioned that the naive solution is pure noise. **Regularization** (truncated SVD, "
    "Tikhonov, Wiener, stopping Richardson–Lucy early) trades a little bias for stability, and a rule has to choose "
    "how much. **CNNs** learn the trade from examples. First on the course's 1-D integral equation, then on images."
)

tab_1d, tab_2d = st.tabs(["1-D: the integral equation", "2-D: images"], key="db_tab", bind="query-params")


# ============================================================================ 1-D
def signal_input(n: int):
    kind = st.selectbox("True signal f", signal1d.SIGNALS, key="db1_signal", bind="query-params")
    if kind in signal1d.TEST_SIGNALS:
        return signal1d.test_signal(kind, n)
    if kind == "Typed values":
        typed = st.text_input("Values of f from t = 0 to 1 (spaces or commas)", "0 0 1 1 0.3 0.3 0.8 0", key="db1_typed",
                             bind="query-params", help="Linearly interpolated to n points.")
        try:
            return signal1d.parse_signal(typed, n)
        except ValueError as exc:
            st.error(f"{text.md(exc, text.MESSAGE_LIMIT)} Using the smooth bump instead.")
            return signal1d.test_signal("Smooth bump", n)
    st.caption("Draw f from left to right in the box (main area); the smooth bump is used until you do.")
    return None


def drawn_signal(n: int):
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception:  # noqa: BLE001 - the component is optional
        st.warning("The drawing canvas is not available here; using the smooth bump.")
        return signal1d.test_signal("Smooth bump", n)
    st.markdown("**Draw the true signal f(t)** (left = t = 0, right = t = 1, top = 1, bottom = 0):")
    res = st_canvas(stroke_width=4, stroke_color="#222222", background_color="#ffffff", height=180, width=640, return_image_data=True,
                    drawing_mode="freedraw", key="db1_canvas", update_streamlit=True)
    try:
        return signal1d.signal_from_drawing(getattr(res, "image_data", None), n)
    except ValueError as exc:
        st.info(f"{exc} Using the smooth bump meanwhile.")
        return signal1d.test_signal("Smooth bump", n)


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
        lam = st.select_slider("Your λ", signal1d.LAMBDA_CHOICES, value=signal1d.LAMBDA_DEFAULT, format_func=fmt.sci, key="db1_lam",
                               bind="query-params", help="Tikhonov's λ for the 'your λ' curve; the rules choose their own.")
        auto_k = st.toggle("TSVD k by GCV", True, key="db1_autok", bind="query-params")
        k = None if auto_k else st.slider("TSVD k", 1, int(n), min(20, int(n)), key="db1_k", bind="query-params")
    if f is None:
        f = drawn_signal(int(n))
    try:
        a = signal1d.with_slider(cached.analyse_1d(f, float(sigma), float(noise), int(seed), k), float(lam))
    except ValueError as exc:
        st.error(f"Cannot solve this problem: {exc}")
        return

    st.subheader("Blur, then undo it")
    shown = st.multiselect("Reconstructions to draw", a.labels, default=a.default_shown, key="db1_shown", bind="query-params")
    ui.plot(ui.figure(figures.signals_figure, a.t, a.f, a.b, a.chosen(shown)), key="db1_signals")
    st.caption(
        f"Black: the true f. Grey dots: the data b = A f + e with ‖e‖ = {100 * noise:g} % of ‖A f‖. The naive solve "
        f"A⁻¹b reaches {fmt.sci(a.naive_peak)}: it amplifies the noise in every direction "
        "in which A is nearly singular. The regularized solutions keep only what the data can support."
    )
    for row in range(0, len(a.solutions), 4):
        for c, r in zip(st.columns(4), a.solutions[row: row + 4]):
            c.metric(r.short_label, r.error_text, help="relative error ‖x − f‖ / ‖f‖")
    st.caption(f"Relative error ‖x − f‖/‖f‖ of each reconstruction. λ chosen: {a.lambda_summary()}.")
    columns, rows = a.rule_table()
    ui.indexed_table(columns, rows, key="db1_rules")
    st.caption("Each rule's choice, checked: an L-curve without a corner, a λ on an end of the range searched, a GCV "
               "curve with several shallow minima, or a λ or k that keeps components below the Picard plot's noise floor.")
    for note in a.warnings:
        st.warning(note)

    look = st.radio("Look at", LOOK_1D, horizontal=True, key="db1_look", bind="query-params",
                    help="Only the chosen charts are drawn: a change reaches every student's screen faster.")
    if look in (LOOK_1D[0], LOOK_1D[-1]):
        matrix_and_picard(a, int(n), float(sigma))
    if look in (LOOK_1D[1], LOOK_1D[-1]):
        lcurve_and_gcv(a)
    if look in (LOOK_1D[2], LOOK_1D[-1]):
        filters_and_cond(a, int(n), float(sigma))
    ui.download_csv(a.table, "deblur_1d.csv", "Download the signals (CSV: t, f, b, then each reconstruction)", key="db1_csv")
    with st.expander("The maths"):
        st.latex(r"g(s)=\int_0^1 e^{-(s-t)^2/\sigma^2} f(t)\,dt \;\approx\; \sum_{j} \tfrac1n e^{-(s_i-t_j)^2/\sigma^2} f(t_j),\quad t_j=\tfrac{j-1/2}{n}")
        st.latex(r"A=U\Sigma V^T,\qquad x_\lambda=\sum_i \varphi_i\,\frac{u_i^Tb}{\sigma_i}v_i,\qquad \varphi_i=\frac{\sigma_i^2}{\sigma_i^2+\lambda^2}"
                 r"\quad\Longleftrightarrow\quad x_\lambda=\arg\min_x \|Ax-b\|^2+\lambda^2\|x\|^2")
        st.latex(r"\text{GCV: } \min_\lambda \frac{\|Ax_\lambda-b\|^2}{(n-\sum_i\varphi_i)^2},\qquad "
                 r"\text{discrepancy: } \|Ax_\lambda-b\|=\|e\|,\qquad \text{L-curve: max curvature of } (\log\|Ax_\lambda-b\|,\log\|x_\lambda\|)")


LOOK_1D = ["the matrix A and the Picard plot", "the L-curve and GCV", "filter factors and cond(A)", "all of them"]


def matrix_and_picard(a, n: int, sigma: float) -> None:
    c1, c2 = st.columns(2)
    with c1:
        ui.plot(ui.figure(figures.kernel_matrix_figure, int(n), float(sigma), "The blur matrix A"), key="db1_A")
        st.caption(f"Aᵢⱼ = (1/n)·exp(−(sᵢ − tⱼ)²/σ²): symmetric, constant along each diagonal (Toeplitz), "
                   f"a band of width ~σ. cond(A) = {fmt.sci(a.cond, 2)}.")
    with c2:
        ui.plot(ui.figure(figures.picard_figure, a.picard, a.k_gcv, "Picard plot"), key="db1_picard")
        st.caption("σᵢ fall fast. |uᵢᵀb| follow them only until they hit the noise level, then stay flat, so "
                   "|uᵢᵀb|/σᵢ (the naive solution's coefficients) explode: the discrete Picard condition fails "
                   "beyond that index, and every good method keeps only the components to its left.")


def lcurve_and_gcv(a) -> None:
    c1, c2 = st.columns(2)
    with c1:
        ui.plot(ui.figure(figures.lcurve_figure, a.rho, a.eta, a.lams, a.rule_picks, "L-curve"), key="db1_lcurve")
        st.caption("Each point is one λ: residual against solution size. The corner balances them; hover for λ. "
                   "The corner often sits left of the best λ, i.e. it can under-regularize.")
    with c2:
        ui.plot(ui.figure(figures.gcv_figure, a.lams, a.gcv, a.rule_picks, "GCV function"), key="db1_gcv")
        st.caption("G(λ) = ‖A x_λ − b‖² / trace(I − A A_λ⁺)²: a leave-one-out prediction error that needs no noise "
                   "level. Its minimum is GCV's λ; when the curve is flat its minimum is fragile.")


def filters_and_cond(a, n: int, sigma: float) -> None:
    c1, c2 = st.columns(2)
    with c1:
        ui.plot(ui.figure(figures.filter_factors_figure, a.filter_factors(), a.k_gcv, "Filter factors"), key="db1_phi")
        st.caption("Tikhonov multiplies the i-th naive component by φᵢ = σᵢ²/(σᵢ² + λ²): ≈ 1 where σᵢ ≫ λ, ≈ 0 "
                   "where σᵢ ≪ λ. TSVD uses a hard step instead.")
    with c2:
        ui.plot(ui.figure(figures.cond_figure, cached.cond_curve(int(n)), float(sigma), "cond(A) as σ grows"), key="db1_cond")
        st.caption("A wider kernel smooths more, so more directions are nearly invisible in the data: cond(A) grows "
                   "explosively and passes 1/ε ≈ 4.5·10¹⁵ (numerically singular) around σ ≈ 0.03 for n = 256.")


# ============================================================================ 2-D
def retrain_panel() -> None:
    ui.explain("Train a network here, on this machine, from the shipped weights or from scratch. It is used for "
                "your session only (the shipped weights stay). The shipped ones were trained for about 14 minutes "
                "each by `python -m cnn_viz.deblur.train`; a minute here shows the loss falling, not the final quality.")
    c1, c2, c3 = st.columns(3)
    kind = c1.selectbox("Network", list(experiment.CNN_KINDS), format_func=experiment.CNN_KINDS.get, key="db_rt_kind", bind="query-params")
    secs = c2.slider("Training time (s)", 10, 300, 60, 10, key="db_rt_secs", bind="query-params")
    start = c3.radio("Start from", ["shipped weights", "scratch"], key="db_rt_start", bind="query-params", horizontal=True)
    training.retrain_deblur(kind, secs, from_shipped=start == "shipped weights")
    if training.deblur_retrained() and st.button("Go back to the shipped weights", key="db_rt_reset"):
        training.forget_retrained_deblur()


def render_2d() -> None:
    with st.sidebar:
        st.header("Image")
        side = st.select_slider("Working size (longest side)", [128, 192, 256, 384, 512], 256, key="db_side", bind="query-params",
                                help="The goals were measured at 256 pixels; 512 is 4× the work.")
        picked = ui.image_picker("db_img", default="Cameraman", max_side=int(side), min_side=64)
        st.header("How the data were made")
        blur = ui.psf_picker()
        noise = st.slider("Noise ‖e‖/‖b‖ (%)", 0.0, 10.0, 1.0, 0.1, key="db_noise", bind="query-params") / 100
        blur_bc = st.selectbox("Boundary of the blur (the world outside the frame)", forward.BOUNDARIES,
                               format_func=forward.BC_LABELS.get, key="db_blur_bc", bind="query-params")
        seed = st.number_input("Noise seed", 0, 9999, 0, key="db_seed", bind="query-params")
        st.header("What the solver assumes")
        assumed = blur
        if not st.toggle("It knows the true blur", True, key="db_s_known", bind="query-params",
                         help="Switch off to give the solver a wrong PSF (a wrong σ, a box instead of a Gaussian…)."):
            assumed = ui.psf_picker("db_s", "PSF the solver assumes")
        assumed_noise = None
        if not st.toggle("It knows the noise level", True, key="db_n_known", bind="query-params",
                         help="The discrepancy principle needs ‖e‖. Switch off to tell it a wrong noise level."):
            assumed_noise = st.slider("Noise level it assumes (%)", 0.0, 10.0, 2.0, 0.1, key="db_n_assumed", bind="query-params") / 100
        solver_bc = st.selectbox("Boundary in the solver", forward.BOUNDARIES, format_func=forward.BC_LABELS.get, key="db_solver_bc",
                                 bind="query-params", help="periodic → FFT; reflexive → DCT (symmetric PSFs); zero → conjugate gradients.")
        iters = st.slider("Richardson–Lucy iterations", 1, 200, 30, key="db_iters", bind="query-params")
        methods = st.multiselect("Methods", experiment.METHODS, default=list(experiment.METHODS), key="db_methods", bind="query-params",
                                 help="The CNNs load PyTorch the first time (a few seconds).")
    if blur.psf is None or assumed.psf is None:
        return
    if not methods:
        st.info("Choose at least one method in the sidebar.")
        return
    try:
        scene = cached.make_scene(picked.image, int(side), blur.psf, blur_bc, float(noise), int(seed))
    except ValueError as exc:
        st.error(f"Cannot blur this image: {exc}")
        return

    nets = training.deblur_networks(methods)
    if experiment.uses_cnn(methods) and not nets.restorers:
        st.warning("No trained CNN weights found in assets/: the CNN rows are skipped. Retrain below.")

    c1, c2, c3 = st.columns([1, 2, 2])
    with c1:
        ui.plot(ui.figure(figures.psf_figure, blur.psf, "PSF"), key="db_psf_fig")
        st.caption(f"{blur.spec.description}, {blur.psf.shape[0]}×{blur.psf.shape[1]} pixels, sums to 1.")
    with c2:
        shape = "×".join(str(v) for v in scene.truth.shape[:2])
        ui.plot(ui.figure(figures.gallery_figure, [scene.truth], [f"{text.html(picked.name)}, {shape}"], cols=1, height_per_row=300),
                key="db_truth")
        st.caption(fmt.describe_image("The true image", scene.truth) + ". The CNNs never saw cameraman: it is held out of training.")
    with c3:
        ui.plot(ui.figure(figures.gallery_figure, [scene.observed], [f"blurred + {100 * noise:g} % noise: {scene.blurred_psnr:.2f} dB"],
                          cols=1, height_per_row=300), key="db_blurred")
        st.caption(f"The data b: blurred with a {blur_bc} boundary, plus white noise with ‖e‖ = {100 * noise:g} % of ‖Ax‖.")

    same_psf = experiment.same_blur(blur.psf, assumed.psf)
    if blur_bc == solver_bc and same_psf:
        st.info(f"**Inverse crime.** The data were made with exactly the model the solver inverts ({blur.spec.description}, {blur_bc} "
                "boundary). Real cameras do not oblige: the scene continues outside the frame and the blur is only "
                "estimated. Set the two boundaries (or the two PSFs) differently to see what the model error costs; the "
                "noise-free table below shows it in one glance.", icon="⚖️")
    elif not same_psf:
        st.warning(f"The solver assumes a different blur ({assumed.spec.description}) from the true one ({blur.spec.description}): "
                   "every method inverts the wrong operator. Too narrow a PSF leaves blur; too wide a PSF rings.", icon="🔍")

    with st.spinner("Sweeping λ…"):
        sweep = cached.lambda_sweep(scene, solver_bc, assumed.psf, assumed_noise)
    with st.spinner("Running Richardson–Lucy with three boundary conditions…"):
        curves = cached.rl_curves(scene, assumed.psf, int(iters))
    if not comparison_panel(scene, solver_bc, tuple(methods), int(iters), nets, assumed.psf, assumed_noise, sweep, curves,
                            experiment.TRAINED.matches(blur.spec, blur_bc, float(noise), solver_bc, same_psf)):
        return

    st.subheader("The inverse crime, in one table")
    crime = cached.inverse_crime(scene.truth, blur.psf)
    ui.indexed_table(crime.columns(), crime.index, key="db_crime")
    st.caption("PSNR (dB) of the naive inverse A⁻¹b on NOISE-FREE data. When the data were made by the very model being "
               "inverted (the diagonal) the blur is undone perfectly, which proves nothing about real photographs. Any "
               "mismatch, or any noise, and the naive inverse is useless.")

    cnn_table = None
    if nets.restorers:
        with st.spinner("The CNN on data blurred with each boundary condition…"):
            cnn_table = cached.cnn_boundaries(scene.truth, blur.psf, float(noise), int(seed), nets.stamp, nets.restorers)
    lessons(cached.boundary_models(scene), sweep, curves, cnn_table)
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


@st.fragment
def comparison_panel(scene, solver_bc: str, methods: tuple, iters: int, nets, solver_psf, assumed_noise, sweep, curves,
                     as_trained: bool) -> bool:
    """Everything λ changes (the table, the bars, the close-up, the λ curve's marker): the λ slider reruns only this part.
    False when there is nothing to show (the page then stops)."""
    st.subheader("The comparison")
    lam = st.select_slider("Your λ (Tikhonov)", experiment.LAMBDA_CHOICES, value=experiment.LAMBDA_DEFAULT, format_func=fmt.sci,
                           key="db_lam", bind="query-params", help="Moving it reruns this part of the page only.")
    with st.spinner("Deblurring with every method…"):
        try:
            results = cached.compare_methods(scene, solver_bc, methods, float(lam), iters, nets.stamp, solver_psf, assumed_noise,
                                             nets.restorers)
        except ValueError as exc:
            st.error(f"Cannot deblur: {exc}")
            return False
    if not results:
        st.info("Nothing to show: the chosen methods need trained CNN weights.")
        return False
    st.dataframe(experiment.table(results), hide_index=True, key="db_table", width="stretch")
    st.caption(f"Measured against the true image after clipping to [0, 1]. The blurred data score {scene.blurred_psnr:.2f} dB. "
               "Time: wall clock on this server, including choosing λ (shared work counted for every method); the CNN "
               "rows include the Tikhonov solve they start from.")
    ui.download_csv(experiment.numbers(results), "deblur_metrics.csv", "Download the numbers (CSV, rows in table order)", key="db_csv")
    ui.plot(ui.figure(figures.metrics_figure, experiment.scores(results), reference=scene.blurred_psnr), key="db_bars")
    st.caption("Purple: learned; blue: classical. The dashed line is the blurred input's PSNR: a method left of it made "
               "the image worse. Hover for the time.")
    cnn_note(results, nets, as_trained)

    closeup_panel(scene, results)

    st.subheader("Choosing λ and stopping Richardson–Lucy")
    c1, c2 = st.columns(2)
    with c1:
        ui.plot(ui.figure(figures.lambda_figure, sweep, float(lam)), key="db_lambda")
        st.caption(f"Tikhonov's PSNR against λ ({sweep.model} model) with the GCV function. GCV lands {sweep.gcv_gap:.2f} dB "
                   "below the best λ here. Too small a λ lets noise through, too large a λ blurs again.")
    with c2:
        ui.plot(ui.figure(figures.rl_figure, curves, iters), key="db_rl")
        st.caption("Richardson–Lucy's PSNR after each iteration: it rises, peaks and then falls as it starts fitting the noise "
                   "(semi-convergence): the iteration count is the regularization parameter. A solver boundary that does "
                   "not match the data peaks early and low.")
    return True


@st.fragment
def closeup_panel(scene, results) -> None:
    """The restorations whole and zoomed: its controls change only this panel, which reruns alone."""
    st.subheader("Look closely")
    names = [r.name for r in results]
    view = st.multiselect("Restorations to look at", names, default=experiment.default_view(names), key="db_view", bind="query-params")
    zoom = experiment.zoom_range(scene.truth.shape)
    cc1, cc2, cc3 = st.columns(3)
    size = ui.data_slider("Zoom box (pixels)", 16, zoom.largest, zoom.size, step=8, key="db_zoom", container=cc1, bind="query-params")
    row = ui.data_slider("Zoom centre, row", 0, zoom.rows - 1, zoom.row, key="db_zy", container=cc2, bind="query-params")
    col = ui.data_slider("Zoom centre, column", 0, zoom.cols - 1, zoom.col, key="db_zx", container=cc3, bind="query-params")
    look = experiment.closeup(scene, results, view, size, row, col)
    ui.plot(ui.figure(figures.gallery_figure, look.images, look.titles, cols=4), key="db_gallery")
    st.caption("Whole images. Hover for pixel values.")
    c1, c2 = st.columns([1, 3])
    with c1:  # the box on the true image alone, at locator size: moving it resends one small picture, not every restoration
        ui.plot(ui.figure(figures.gallery_figure, look.images[:1], ["the zoom box"], cols=1, height_per_row=240, box=look.box,
                          max_side=experiment.LOCATOR_SIDE), key="db_zoom_box")
    with c2:
        ui.plot(ui.figure(figures.gallery_figure, look.crops, look.titles, cols=6, height_per_row=220), key="db_crops")
    st.caption("Left: where the zoom is (yellow box). Right: the zoom: ringing near edges (Tikhonov, Wiener), noise speckle "
               "(too small λ), and what the CNN cleans up.")
    if look.chosen:
        ui.plot(ui.figure(figures.error_figure, look.errors, look.names), key="db_errors")
        st.caption(f"Error maps, restored − true, one shared scale saturating at the 99.5th percentile ({palette.scheme().pos_word} "
                   f"too bright, {palette.scheme().neg_word} too dark). Errors gather at edges and, with the wrong boundary model, along the frame.")
        pick = st.selectbox("Download a restoration", look.names, key="db_dl_pick", bind="query-params")
        ui.download_png(lambda: look.image(pick), f"deblur_{pick}.png", f"Download “{pick}” (PNG)", key="db_dl")


def cnn_note(results, nets, as_trained: bool) -> None:
    verdict = experiment.cnn_verdict(results, nets.infos)
    if verdict is None:
        return
    trained = experiment.TRAINED.description
    box = st.container(border=True)
    box.markdown("#### Where the CNN wins, and what it cost\n" + verdict.markdown)
    if as_trained:
        box.markdown(f"These are the conditions the networks were trained for ({trained}), on an image they never saw. "
                     + ("The Tikhonov + CNN pair wins because Tikhonov already did the linear algebra (the blur is known); "
                        "the network only has to learn what Tikhonov's ringing and leftover noise look like, which is local "
                        "and looks the same on every photograph. The direct CNN must learn the inversion itself from a few "
                        "minutes of examples, through a 41-pixel window." if verdict.pair_wins else ""))
    else:
        box.warning(f"The networks were trained only on {trained} (solver: reflexive). Here the data or the solver differ, "
                    "so they meet artefacts they never saw: a CNN inherits every assumption of its training data, the "
                    "boundary condition included. Compare its row with the classical ones.")


def lessons(models, sweep, curves, cnn_table) -> None:
    lc = sweep.pick("lcurve")
    st.subheader("What the numbers teach")
    st.markdown(
        models.describe()
        + f"- **The L-curve can under-regularize**: its corner is at λ = {lc.lam:.2g} ({lc.psnr:.2f} dB) while the best λ in the "
        f"sweep gives {sweep.best_psnr:.2f} dB.\n"
        + f"- **Richardson–Lucy semi-converges**: {curves.describe()}. The iteration count is its regularization "
        "parameter, and a wrong boundary makes it peak early.\n"
        + (cnn_table.describe() if cnn_table else
           "- **A CNN inherits the boundary assumption of its training data**: the shipped networks were trained on "
           "reflexive blurs; add the CNN methods and set the blur boundary to periodic or zero to see it.\n")
        + "- **The inverse crime** (table above): matching the data's model exactly makes even the naive inverse look perfect."
    )


if tab_1d.open:
    render_1d()
if tab_2d.open:
    render_2d()
    with st.expander("Retrain the CNNs (progress shown; uses this machine's CPU)"):
        retrain_panel()

"""Trained-MNIST activations: the report's SimpleCNN, layer by layer, on a digit you pick, draw or upload."""

import streamlit as st

from cnn_viz import ui
from cnn_viz.common import text
from cnn_viz.figures import palette
from cnn_viz.mnist import explain, figures, prep
from cnn_viz.mnist.data import make_gallery
from cnn_viz.mnist.model import LAYERS
from cnn_viz.ui import cached, training

SOURCES = ["Gallery", "Draw", "Upload"]

st.title("Trained-MNIST activations")
ui.explain(
    "The course report's network (section 2.5), **trained on handwritten digits**, shown computing. Pick a digit from "
    "the gallery, draw one, or upload a photo of one: the page prepares it the way MNIST was prepared, runs it "
    "through every layer and shows what each layer computes, the filters the network learned, which pixels "
    "mattered for its answer, and lets you train your own copy."
)

shipped = cached.load_mnist_model()
train_set, held = cached.mnist_split()
gallery = make_gallery(held)
own = training.mnist_own()

with st.sidebar:
    st.header("Digit")
    source = st.radio("Where the digit comes from", SOURCES, horizontal=True, key="mn_source", bind="query-params")
    st.header("Network")
    options = ["Shipped"] + (["Yours (trained here)"] if own is not None else [])
    which = st.radio("Look inside", options, key="mn_which", bind="query-params", help="Train your own in the last tab; it stays for this session.")
    compare = own is not None and st.toggle("Compare both on the probabilities", value=True, key="mn_compare", bind="query-params")
    st.header("Pictures")
    shared_scale = st.radio("Colour scale of map grids", ["shared by the layer", "each map its own"], key="mn_scale", bind="query-params",
                            help="Shared: compare the strength of maps. Own: see the pattern of weak maps too.") == "shared by the layer"

mine = own is not None and which != "Shipped"  # look inside the network trained here
net, other_net = (own.model, shipped) if mine else (shipped, own.model if own is not None else None)
names = ("yours", "shipped") if mine else ("shipped", "yours")

# ---- The input: gallery, canvas or upload -> one 28×28 digit ----------------------------------------------------
prepared, digit, label = None, None, None
col_in, col_out = st.columns([1, 1], gap="large")
with col_in:
    if source == "Gallery":
        st.subheader("Gallery (held-out digits)")
        pick = ui.mnist_gallery(gallery)
        digit, label = gallery.digit(pick), gallery.label(pick)
        st.caption("Click a digit (or choose it in the list). None of these digits was used for training: they are the "
                   "held-out 1,000 of the shipped sample. The 7 is the one the report starts with.")
    elif source == "Draw":
        st.subheader("Draw a digit")
        from streamlit_drawable_canvas import st_canvas  # only here: importing it outside a running app fails

        width = st.slider("Pen width", 8, 40, 20, key="mn_pen", bind="query-params", help="MNIST strokes are about 2-3 pixels of 28: a pen of ~20 on this 280-pixel canvas.")
        canvas = st_canvas(fill_color="rgba(0,0,0,0)", stroke_width=width, stroke_color="#FFFFFF", background_color="#000000",
                           height=280, width=280, drawing_mode="freedraw", return_image_data=True, update_streamlit=True, key="mn_canvas")
        st.caption("White ink on black, as in MNIST. The canvas toolbar (above it) sends, undoes, redoes and clears (bin). Draw one digit, large.")
        raw = getattr(canvas, "image_data", None)
        if raw is None:
            st.info("The canvas is loading (or this browser sends no drawing yet). Draw a digit to see the network read it.")
        else:
            try:
                prepared = prep.prepare(raw)
            except ValueError:
                st.info("Draw a digit on the black square to see the network read it.")
    else:
        st.subheader("Upload a photo")
        f = st.file_uploader("A photo or scan of one handwritten digit", type=ui.UPLOAD_TYPES, key="mn_upload")
        if f is None:
            st.info("Upload a picture of one digit: dark pen on light paper or white on black both work. "
                    "Until then, the gallery's 7 is shown.")
        else:
            try:
                prepared = cached.prepare_upload(f.getvalue())
            except ValueError as exc:
                st.error(f"Could not read a digit from **{text.md(f.name)}**: {text.md(exc, text.MESSAGE_LIMIT)}")
        if prepared is None:
            digit, label = gallery.digit(gallery.default), gallery.label(gallery.default)
    if prepared is not None:
        digit = prepared.digit

with st.container():
    st.subheader("What the network sees")
    if prepared is not None:
        ui.plot(ui.figure(figures.preprocessing_figure, prepared), key="mn_prep_fig")
        st.caption(prepared.caption)
    elif digit is not None:
        ui.plot(ui.figure(figures.digit_figure, digit, height=300, box20=True), key="mn_digit_fig")
        st.caption("Already an MNIST digit: 28×28, white on black, inside the central 20×20 box (dotted). Hover for the values 0-255.")
    if digit is not None:
        ui.download_png(digit, "digit_28x28.png", "The 28×28 digit (PNG)", key="mn_dl_digit")

with col_out:
    st.subheader("Prediction")
    if digit is None:
        st.info("No digit yet.")
        st.stop()
    reading = explain.read(net, digit)
    st.metric(f"{'Your' if mine else 'The shipped'} network reads", f"{reading.guess}",
              f"{reading.confidence:.1%} sure" + (f" · true label {label}" if label is not None else ""), delta_color="off", delta_arrow="off")
    if prepared is not None and prepared.likeness.far:
        st.warning(prepared.likeness.note)
    if compare:
        other = explain.read(other_net, digit)
        ui.plot(ui.figure(figures.probability_figure, reading.probs, other.probs, names=names), key="mn_probs_fig")
        st.caption(reading.probs_alt + f" Both networks on the same digit: {names[0]} says {reading.guess}, {names[1]} says {other.guess}.")
    else:
        ui.plot(ui.figure(figures.probability_figure, reading.probs), key="mn_probs_fig")
        st.caption(reading.probs_alt + " The softmax of the 10 logits: the network's confidence in each digit (they add up to 100%).")

# ---- Tabs: only the open one is computed (lazy tabs) --------------------------------------------------------------
tabs = st.tabs(["Layer by layer", "Learned filters", "Figure 5: patches", "Saliency & Grad-CAM", "Train your own"],
               key="mn_tab", on_change="rerun", bind="query-params")
kernels = explain.filters(net)

with tabs[0]:
    if tabs[0].open:
        st.markdown(f"Every intermediate of the forward pass, in order. Each tile is one feature map; {palette.sign_words()}, "
                    "white zero. Click a map's number (top left of its tile) to see it large with the kernel that made it.")
        shown = st.pills("Layers to show", explain.MAP_LAYERS, selection_mode="multi", default=explain.SHOWN_LAYERS, key="mn_layers", bind="query-params",
                         help="Batch norm (bn1, bn2) rescales each conv map by a constant and shifts it: pick them to see every intermediate.")
        for name in [n for n in explain.MAP_LAYERS if n in (shown or [])]:
            st.markdown(f"**{name}** · {reading.shape_text(name)} · {LAYERS[name]}")
            ui.mnist_layer_grid(ui.figure(figures.layer_figure, name, reading.maps[name], shared_scale), name)
            st.caption(reading.layer_alt(name))
        st.markdown(f"**flatten → fc1 → relu** · 1568 → 128 hidden units · {LAYERS['fc1']}")
        ui.plot(ui.figure(figures.vector_figure, reading.maps["fc1"], height=190), key="mn_fc1_fig")
        st.caption(f"The 128 fc1 units before their ReLU (8 rows of 16). After the ReLU, the {palette.scheme().neg_word} ones are 0: "
                   f"{reading.active_units} of 128 units are active for this digit.")
        st.markdown(f"**fc2** · 10 logits · {LAYERS['fc2']}")
        ui.plot(ui.figure(figures.logits_figure, reading.maps["fc2"]), key="mn_logits_fig")
        st.caption(reading.logits_alt + " The logits, one per digit. Softmax turns them into the probabilities above: p_k = e^(z_k) / Σ_j e^(z_j).")

        st.subheader("One map, large, with the kernel that made it")
        big = explain.big_map(reading, kernels, *ui.mnist_map_picker(reading))
        m1, m2 = st.columns([3, 2])
        with m1:
            ui.plot(ui.figure(figures.big_map_figure, big.values, title=big.title, height=420), key="mn_big_fig")
            ui.download_csv(big.values, f"{big.layer}_map{big.index}.csv", "This map as CSV", key="mn_dl_map")
        with m2:
            if big.from_conv1:
                ui.plot(ui.figure(figures.kernel_grid_figure, big.kernel, title=f"conv1 kernel {big.index} (bias {big.bias:+.3f})", height=320), key="mn_big_kernel")
                st.caption("conv1 map = this 5×5 kernel slid over the zero-padded digit, plus its bias. " + big.after_conv)
            else:
                ui.plot(ui.figure(figures.mosaic_figure, big.kernel, cols=4, title=f"conv2 kernel {big.index}: 16 slices of 5×5", tile_px=62,
                                                clickable=False), key="mn_big_kernel")
                st.caption("A conv2 map is a sum over the 16 pool1 maps, each convolved with its own 5×5 slice shown here (slice i "
                           "reads pool1 map i), plus a bias: 16·25 + 1 = 401 weights per map.")
        with st.expander("The maths"):
            st.latex(r"A_k(i,j) = b_k + \sum_{c}\sum_{m=0}^{4}\sum_{n=0}^{4} I_c(i+m-2,\, j+n-2)\, K_{k,c}(m,n)")
            st.latex(r"\mathrm{BN}(a) = \gamma\,\frac{a-\mu}{\sqrt{\sigma^2+\varepsilon}} + \beta,\qquad \mathrm{ReLU}(a)=\max(0,a),\qquad \mathrm{pool}(i,j)=\max_{p,q\in\{0,1\}} a(2i+p,\,2j+q)")
            st.markdown("μ and σ² are the running mean and variance stored during training (the network is in evaluation mode).")

with tabs[1]:
    if tabs[1].open:
        st.markdown("What training produced. These weights are the network: 16 kernels of 5×5 for conv1, 32×16 kernels of 5×5 for conv2.")
        c1, c2 = st.columns([2, 3])
        with c1:
            ui.plot(ui.figure(figures.mosaic_figure, kernels.conv1, cols=4, title="conv1: 16 kernels, 5×5", tile_px=80, clickable=False), key="mn_w1_fig")
            st.caption(f"One shared colour scale: {palette.scheme().pos_word} weights add the pixel, {palette.scheme().neg_word} ones subtract it. Many look like edge and stroke "
                       "detectors at different angles. Hover for the weight.")
            ui.download_csv(kernels.conv1_rows, "conv1_kernels.csv", "conv1 kernels as CSV (one row per kernel)", key="mn_dl_w1")
        with c2:
            out_sel = st.number_input("Highlight the kernels of conv2 output map", 0, 31, 0, key="mn_w2_hl", bind="query-params")
            ui.plot(ui.figure(figures.conv2_filters_figure, kernels.conv2, highlight_out=int(out_sel)), key="mn_w2_fig")
            st.caption("conv2: row = output map (32), column = the pool1 map it reads (16); every cell is a 5×5 kernel. "
                       "12,800 weights in all. Hover for the weight and which pair of maps it connects.")
            ui.download_csv(kernels.conv2_rows, "conv2_kernels.csv", "conv2 kernels as CSV (one row per output map)", key="mn_dl_w2")

with tabs[2]:
    if tabs[2].open:
        st.markdown("The report's Figure 5: a feature map value is the dot product of a 5×5 patch with the kernel, plus the bias. "
                    "Pick a conv1 map and draw 5 random positions.")
        c1, c2, c3 = st.columns(3)
        fmap_k = c1.number_input("conv1 map", 0, 15, 0, key="mn_f5_map", bind="query-params")
        on_ink = c2.toggle("Only patches touching the digit", value=True, key="mn_f5_ink", bind="query-params")
        if c3.button("New random patches", key="mn_f5_new", icon="🎲"):
            st.session_state["mn_f5_seed"] = st.session_state.get("mn_f5_seed", 0) + 1
        f5 = explain.figure5(reading, kernels, fmap_k, seed=st.session_state.get("mn_f5_seed", 0), on_ink=on_ink)
        fig5, big5 = figures.figure5(f5.patches, f5.fmap, f5.map_index)
        ui.plot(fig5, key="mn_f5_fig")
        st.caption(f"Each row: the input patch (pixel values 0-1), the kernel, their element-wise product ({palette.scheme().pos_word} adds, {palette.scheme().neg_word} subtracts) "
                   "and the activation Σ(patch × kernel) + bias. The activation's sign says whether the patch looks like the kernel's "
                   "pattern (positive) or its opposite (negative); its size says how strongly.")
        ui.plot(big5, key="mn_f5_big")
        st.caption("The whole conv1 map: every position is computed like the rows above. The numbered squares are the sampled positions "
                   "(a patch is centred on its position; the digit is zero-padded by 2 so the map keeps 28×28).")

with tabs[3]:
    if tabs[3].open:
        st.markdown("Which pixels made the network say what it said?")
        ev = explain.evidence(net, digit, st.selectbox("Explain the score of digit", explain.TARGETS, key="mn_sal_class", bind="query-params"))
        s1, s2 = st.columns(2)
        with s1:
            ui.plot(ui.figure(figures.overlay_figure, digit, ev.saliency, title=f"saliency: ∂ score({ev.target}) / ∂ pixel", signed=True), key="mn_sal_fig")
            st.caption(f"The gradient of the class score (its logit) with respect to each input pixel: {palette.scheme().pos_word} pixels "
                       f"would raise the score if brighter, {palette.scheme().neg_word} ones lower it. It is the network's linear sensitivity around this digit.")
            ui.download_csv(ev.saliency, f"saliency_{ev.target}.csv", "Saliency as CSV", key="mn_dl_sal")
        with s2:
            ui.plot(ui.figure(figures.overlay_figure, digit, ev.cam, title=f"Grad-CAM on conv2 for {ev.target}"), key="mn_cam_fig")
            st.caption("Grad-CAM: the 32 conv2 maps (after BN and ReLU, 14×14) weighted by the mean gradient of the score over each map, "
                       "summed, clipped at 0 and upsampled to 28×28. Bright = the regions conv2 used as evidence for this digit.")
            ui.download_csv(ev.cam, f"gradcam_{ev.target}.csv", "Grad-CAM as CSV", key="mn_dl_cam")
        with st.expander("The maths"):
            st.latex(r"S(i,j) = \frac{\partial z_c}{\partial x_{ij}},\qquad \alpha_k = \frac{1}{14^2}\sum_{i,j}\frac{\partial z_c}{\partial A_k(i,j)},\qquad \mathrm{CAM} = \mathrm{ReLU}\Big(\sum_k \alpha_k A_k\Big)")

with tabs[4]:
    if tabs[4].open:
        st.markdown("Train a fresh copy of the same network on the 4,000 training digits of the shipped sample, here and now "
                    "(one CPU core, a few seconds per epoch). It is kept for this session: choose it in the sidebar to look inside it.")
        config, start, stop = ui.mnist_train_settings()
        meta = cached.load_mnist_meta()
        ref_acc = meta.get("held_out_accuracy")
        run = training.mnist_training(train_set, held, config, start, ref_acc, stop=stop)
        if run is not None:
            a1, a2, a3 = st.columns(3)
            a1.metric("Your network, held-out accuracy", f"{run.accuracy:.2%}",
                      f"{run.points_over(ref_acc):+.2f} points vs shipped" if ref_acc else None)
            a2.metric("Shipped network", f"{ref_acc:.2%}" if ref_acc else "–", f"{meta.get('epochs', '?')} epochs, 4,000 digits",
                      delta_color="off", delta_arrow="off")
            a3.metric("Training", f"{run.epochs_done} of {run.config.epochs} epochs",
                      ("finished" if run.finished else "stopped") + f" · {run.seconds:.0f} s", delta_color="off", delta_arrow="off")
            st.caption(f"Your run: {run.config.describe()}. Both accuracies are on the same 1,000 held-out digits. "
                       "Choose 'Yours' in the sidebar to see its maps and filters; the probabilities compare both networks.")
        elif not start:
            st.info("No network trained in this session yet: press Train.")
        if stop and run is not None and not run.finished:
            st.warning(f"Stopped: your network keeps the {len(run.history)} finished epoch(s).")
        with st.expander("Gradient descent against SGD"):
            ui.descent_panel("mnist", "mn_sgd")

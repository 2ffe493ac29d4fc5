"""Trained-MNIST activations: the report's SimpleCNN, layer by layer, on a digit you pick, draw or upload."""

import numpy as np
import streamlit as st

from cnn_viz.mnist import prep as digit_prep
from cnn_viz.common import images
from cnn_viz.mnist import figures as mnist_plots
from cnn_viz.figures import builders as plots
from cnn_viz import ui
from cnn_viz.ui import cached
from cnn_viz.mnist import data as mn
from cnn_viz.mnist import model as cnn  # imports torch: only this page does
from cnn_viz.mnist import train as tr

SOURCES = ["Gallery", "Draw", "Upload"]
MAP_LAYERS = ["conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2"]
STATE_OWN = "mn_own"  # the model trained in this session: dict(model, history, config, finished, accuracy)


@st.cache_data(max_entries=32, show_spinner=False)
def prepare_upload(data: bytes) -> digit_prep.Prepared:
    return digit_prep.prepare(images.load_image(data, max_side=512))


def clicked_point(chart_key: str) -> int | None:
    """Index of the clicked point of a figure's clickable trace (trace 1: one point per tile, in tile order)."""
    points = st.session_state.get(chart_key, {}).get("selection", {}).get("points", [])
    hits = [p for p in points if p.get("curve_number") == 1 and p.get("point_index") is not None]
    return int(hits[0]["point_index"]) if hits else None


def on_tile_click(chart_key: str, layer: str) -> None:
    """A click on a map's number in a layer grid shows that map large (below the grids)."""
    k = clicked_point(chart_key)
    if k is not None:
        st.session_state["mn_big_layer"], st.session_state["mn_big_map"] = layer, k


def on_gallery_click(positions: list[int]) -> None:
    k = clicked_point("mn_gallery_fig")
    if k is not None:
        st.session_state["mn_gallery"] = positions[k]


st.title("Trained-MNIST activations")
st.markdown(
    "The course report's network (section 2.5), **trained on handwritten digits**, shown computing. Pick a digit from "
    "the gallery, draw one, or upload a photo of one: the page prepares it the way MNIST was prepared, runs it "
    "through every layer and shows what each layer computes, the filters the network learned, which pixels "
    "mattered for its answer, and lets you train your own copy."
)

shipped = cached.load_mnist_model()
train_set, held = cached.mnist_split()
gallery_idx = mn.gallery(held)

with st.sidebar:
    st.header("Digit")
    source = st.radio("Where the digit comes from", SOURCES, horizontal=True, key="mn_source", bind="query-params")
    own = st.session_state.get(STATE_OWN)
    st.header("Network")
    options = ["Shipped"] + (["Yours (trained here)"] if own is not None and own.get("history") else [])
    which = st.radio("Look inside", options, key="mn_which", help="Train your own in the last tab; it stays for this session.")
    compare = False
    if own is not None and own.get("history"):
        compare = st.toggle("Compare both on the probabilities", value=True, key="mn_compare")
    st.header("Pictures")
    shared_scale = st.radio("Colour scale of map grids", ["shared by the layer", "each map its own"], key="mn_scale",
                            help="Shared: compare the strength of maps. Own: see the pattern of weak maps too.") == "shared by the layer"

net = own["model"] if which != "Shipped" and own is not None else shipped
net_name = "your network" if net is not shipped else "the shipped network"

# ---- The input: gallery, canvas or upload -> one 28×28 digit ----------------------------------------------------
prep, digit, label, note = None, None, None, ""
col_in, col_out = st.columns([1, 1], gap="large")
with col_in:
    if source == "Gallery":
        st.subheader("Gallery (held-out digits)")
        names = {i: f"{held.labels[i]}  (sample row {held.rows[i]})" + ("  · the report's 7" if held.rows[i] == mn.DIGIT_7_ROW else "")
                 for i in gallery_idx}
        default = next(i for i in gallery_idx if held.rows[i] == mn.DIGIT_7_ROW)
        if "mn_gallery" not in st.session_state:
            st.session_state["mn_gallery"] = default
        gal = mnist_plots.gallery_figure(held.images[gallery_idx], [int(held.labels[i]) for i in gallery_idx],
                                         selected=gallery_idx.index(st.session_state["mn_gallery"]) if st.session_state["mn_gallery"] in gallery_idx else None)
        ui.plot(gal, key="mn_gallery_fig", on_select=lambda: on_gallery_click(gallery_idx), selection_mode="points")
        pick = st.selectbox("Digit", gallery_idx, format_func=names.get, key="mn_gallery")
        digit = held.images[pick].astype(np.float32) / 255
        label = int(held.labels[pick])
        st.caption("Click a digit (or choose it in the list). None of these digits was used for training: they are the "
                   "held-out 1,000 of the shipped sample. The 7 is the one the report starts with.")
    elif source == "Draw":
        st.subheader("Draw a digit")
        from streamlit_drawable_canvas import st_canvas  # only here: importing it outside a running app fails

        width = st.slider("Pen width", 8, 40, 20, key="mn_pen", help="MNIST strokes are about 2-3 pixels of 28: a pen of ~20 on this 280-pixel canvas.")
        canvas = st_canvas(fill_color="rgba(0,0,0,0)", stroke_width=width, stroke_color="#FFFFFF", background_color="#000000",
                           height=280, width=280, drawing_mode="freedraw", return_image_data=True, update_streamlit=True, key="mn_canvas")
        st.caption("White ink on black, as in MNIST. The canvas toolbar (above it) sends, undoes, redoes and clears (bin). Draw one digit, large.")
        raw = getattr(canvas, "image_data", None)
        if raw is None:
            st.info("The canvas is loading (or this browser sends no drawing yet). Draw a digit to see the network read it.")
        else:
            try:
                prep = digit_prep.prepare(np.asarray(raw))
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
                prep = prepare_upload(f.getvalue())
                note = f.name
            except ValueError as exc:
                st.error(f"Could not read a digit from **{f.name}**: {exc}")
        if prep is None:
            digit, label = held.images[gallery_idx[3 * 7]].astype(np.float32) / 255, 7
    if prep is not None:
        digit = prep.digit

col_prep = st.container()
with col_prep:
    st.subheader("What the network sees")
    if prep is not None:
        ui.plot(mnist_plots.preprocessing_figure(prep), key="mn_prep_fig")
        st.caption(
            "MNIST's recipe, step by step: " + ("dark ink on light paper was inverted to white on black; " if prep.inverted else "")
            + f"the background and faint noise removed; the digit cropped to its box ({prep.bbox[1] - prep.bbox[0]}×{prep.bbox[3] - prep.bbox[2]} px) "
            f"and scaled so its longer side is 20 px; then placed in 28×28 with its centre of mass "
            f"(×, at row {prep.centre_of_mass[0]:.1f}, col {prep.centre_of_mass[1]:.1f}) on pixel (14, 14). The dotted square is the central 20×20."
        )
    elif digit is not None:
        ui.plot(mnist_plots.digit_figure(digit, height=300, box20=True), key="mn_digit_fig")
        st.caption("Already an MNIST digit: 28×28, white on black, inside the central 20×20 box (dotted). Hover for the values 0-255.")
    if digit is not None:
        ui.download_png(digit, "digit_28x28.png", "The 28×28 digit (PNG)", key="mn_dl_digit")

if digit is None:
    with col_out:
        st.subheader("Prediction")
        st.info("No digit yet.")
    st.stop()

acts = {k: v.numpy()[0] for k, v in cnn.activations(net, digit).items()}
W = cnn.weights(net)
probs = acts["softmax"]
guess = int(np.argmax(probs))
with col_out:
    st.subheader("Prediction")
    st.metric(f"{net_name.capitalize()} reads", f"{guess}", f"{probs[guess]:.1%} sure" + (f" · true label {label}" if label is not None else ""),
              delta_color="off", delta_arrow="off")
    other = None
    if compare and own is not None:
        other = cnn.predict(own["model"] if net is shipped else shipped, digit)
        names = ("shipped", "yours") if net is shipped else ("yours", "shipped")
        ui.plot(mnist_plots.probability_figure(probs, other, names=names), key="mn_probs_fig")
        st.caption(f"Both networks on the same digit: {names[0]} says {guess}, {names[1]} says {int(np.argmax(other))}.")
    else:
        ui.plot(mnist_plots.probability_figure(probs), key="mn_probs_fig")
        st.caption("The softmax of the 10 logits: the network's confidence in each digit (they add up to 100%).")

# ---- Tabs: only the open one is computed (lazy tabs) --------------------------------------------------------------
tabs = st.tabs(["Layer by layer", "Learned filters", "Figure 5: patches", "Saliency & Grad-CAM", "Train your own"],
               key="mn_tab", on_change="rerun", bind="query-params")

with tabs[0]:
    if tabs[0].open:
        st.markdown("Every intermediate of the forward pass, in order. Each tile is one feature map; red is positive, "
                    "blue negative, white zero. Click a map's number (top left of its tile) to see it large with the kernel that made it.")
        shown = st.pills("Layers to show", MAP_LAYERS, selection_mode="multi", default=MAP_LAYERS, key="mn_layers")
        for name in [n for n in MAP_LAYERS if n in (shown or [])]:
            a = acts[name]
            st.markdown(f"**{name}** · {a.shape[0]} maps of {a.shape[1]}×{a.shape[2]} · {cnn.LAYERS[name]}")
            tile = {28: 105, 14: 62 if a.shape[0] > 16 else 85, 7: 52}[a.shape[1]]
            fig = mnist_plots.map_grid_figure(a, cols=16 if a.shape[0] > 16 else 8, shared_scale=shared_scale, tile_px=tile,
                                              signed=not name.startswith(("relu", "pool")))
            ui.plot(fig, key=f"mn_grid_{name}", on_select=(lambda n=name: on_tile_click(f"mn_grid_{n}", n)), selection_mode="points")
        st.markdown(f"**flatten → fc1 → relu** · 1568 → 128 hidden units · {cnn.LAYERS['fc1']}")
        ui.plot(mnist_plots.vector_figure(acts["fc1"], height=190), key="mn_fc1_fig")
        st.caption("The 128 fc1 units before their ReLU (8 rows of 16). After the ReLU, the blue ones are 0: "
                   f"{int((acts['relu'] > 0).sum())} of 128 units are active for this digit.")
        st.markdown(f"**fc2** · 10 logits · {cnn.LAYERS['fc2']}")
        ui.plot(mnist_plots.logits_figure(acts["fc2"]), key="mn_logits_fig")
        st.caption("The logits, one per digit. Softmax turns them into the probabilities above: p_k = e^(z_k) / Σ_j e^(z_j).")

        st.subheader("One map, large, with the kernel that made it")
        c1, c2 = st.columns(2)
        big_layer = c1.selectbox("Layer", MAP_LAYERS, key="mn_big_layer")
        n_maps = acts[big_layer].shape[0]
        if st.session_state.get("mn_big_map", 0) >= n_maps:
            st.session_state["mn_big_map"] = 0
        big_map = c2.number_input(f"Map (0-{n_maps - 1})", 0, n_maps - 1, key="mn_big_map")
        m1, m2 = st.columns([3, 2])
        fmap = acts[big_layer][big_map]
        with m1:
            ui.plot(plots.signed_map_figure(fmap, title=f"{big_layer} map {big_map} ({fmap.shape[0]}×{fmap.shape[1]})", height=420), key="mn_big_fig")
            ui.download_csv(fmap, f"{big_layer}_map{big_map}.csv", "This map as CSV", key="mn_dl_map")
        with m2:
            if big_layer in ("conv1", "bn1", "relu1", "pool1"):
                k = W["conv1.weight"][big_map, 0]
                ui.plot(plots.kernel_figure(k, title=f"conv1 kernel {big_map} (bias {W['conv1.bias'][big_map]:+.3f})", height=320),
                        key="mn_big_kernel")
                st.caption("conv1 map = this 5×5 kernel slid over the zero-padded digit, plus its bias. "
                           + ("" if big_layer == "conv1" else "Then BN rescales it" + (", ReLU clips negatives" if big_layer != "bn1" else "")
                              + (", and 2×2 max pooling halves its size." if big_layer == "pool1" else ".")))
            else:
                ks = W["conv2.weight"][big_map]
                ui.plot(mnist_plots.map_grid_figure(ks, cols=4, title=f"conv2 kernel {big_map}: 16 slices of 5×5", tile_px=62,
                                                    clickable=False),
                        key="mn_big_kernel")
                st.caption("A conv2 map is a sum over the 16 pool1 maps, each convolved with its own 5×5 slice shown here (slice i "
                           "reads pool1 map i), plus a bias: 16·25 + 1 = 401 weights per map.")
        with st.expander("The maths"):
            st.latex(r"A_k(i,j) = b_k + \sum_{c}\sum_{m=0}^{4}\sum_{n=0}^{4} I_c(i+m-2,\, j+n-2)\, K_{k,c}(m,n)")
            st.latex(r"\mathrm{BN}(a) = \gamma\,\frac{a-\mu}{\sqrt{\sigma^2+\varepsilon}} + \beta,\qquad \mathrm{ReLU}(a)=\max(0,a),\qquad \mathrm{pool}(i,j)=\max_{p,q\in\{0,1\}} a(2i+p,\,2j+q)")
            st.markdown("μ and σ² are the running mean and variance stored during training (the network is in evaluation mode).")

with tabs[1]:
    if tabs[1].open:
        st.markdown("What training produced. These weights are the network: 16 kernels of 5×5 for conv1, 32×16 kernels of 5×5 for conv2.")
        w1 = W["conv1.weight"][:, 0]
        c1, c2 = st.columns([2, 3])
        with c1:
            ui.plot(mnist_plots.map_grid_figure(w1, cols=4, title="conv1: 16 kernels, 5×5", tile_px=80, clickable=False), key="mn_w1_fig")
            st.caption("One shared colour scale: red weights add the pixel, blue ones subtract it. Many look like edge and stroke "
                       "detectors at different angles. Hover for the weight.")
            ui.download_csv(w1.reshape(16, 25), "conv1_kernels.csv", "conv1 kernels as CSV (one row per kernel)", key="mn_dl_w1")
        with c2:
            out_sel = st.number_input("Highlight the kernels of conv2 output map", 0, 31, 0, key="mn_w2_hl")
            w2 = W["conv2.weight"]
            ui.plot(mnist_plots.conv2_filters_figure(w2, highlight_out=int(out_sel)), key="mn_w2_fig")
            st.caption("conv2: row = output map (32), column = the pool1 map it reads (16); every cell is a 5×5 kernel. "
                       "12,800 weights in all. Hover for the weight and which pair of maps it connects.")
            ui.download_csv(w2.reshape(32, -1), "conv2_kernels.csv", "conv2 kernels as CSV (one row per output map)", key="mn_dl_w2")

with tabs[2]:
    if tabs[2].open:
        st.markdown("The report's Figure 5: a feature map value is the dot product of a 5×5 patch with the kernel, plus the bias. "
                    "Pick a conv1 map and draw 5 random positions.")
        c1, c2, c3 = st.columns(3)
        fmap_k = c1.number_input("conv1 map", 0, 15, 0, key="mn_f5_map")
        on_ink = c2.toggle("Only patches touching the digit", value=True, key="mn_f5_ink")
        if c3.button("New random patches", key="mn_f5_new", icon="🎲"):
            st.session_state["mn_f5_seed"] = st.session_state.get("mn_f5_seed", 0) + 1
        w = W["conv1.weight"][int(fmap_k), 0]
        b = float(W["conv1.bias"][int(fmap_k)])
        patches = cnn.figure5_patches(digit, w, b, n=5, seed=st.session_state.get("mn_f5_seed", 0), on_ink=on_ink)
        fig5, big5 = mnist_plots.figure5(patches, acts["conv1"][int(fmap_k)], int(fmap_k))
        ui.plot(fig5, key="mn_f5_fig")
        st.caption("Each row: the input patch (pixel values 0-1), the kernel, their element-wise product (red adds, blue subtracts) "
                   "and the activation Σ(patch × kernel) + bias. The activation's sign says whether the patch looks like the kernel's "
                   "pattern (positive) or its opposite (negative); its size says how strongly.")
        ui.plot(big5, key="mn_f5_big")
        st.caption("The whole conv1 map: every position is computed like the rows above. The numbered squares are the sampled positions "
                   "(a patch is centred on its position; the digit is zero-padded by 2 so the map keeps 28×28).")

with tabs[3]:
    if tabs[3].open:
        st.markdown("Which pixels made the network say what it said?")
        choice = st.selectbox("Explain the score of digit", ["the prediction"] + [str(d) for d in range(10)], key="mn_sal_class")
        target = None if choice == "the prediction" else int(choice)
        sal, c_used = cnn.saliency(net, digit, target)
        cam, _ = cnn.grad_cam(net, digit, target)
        s1, s2 = st.columns(2)
        with s1:
            ui.plot(mnist_plots.overlay_figure(digit, sal, title=f"saliency: ∂ score({c_used}) / ∂ pixel", signed=True), key="mn_sal_fig")
            st.caption("The gradient of the class score (its logit) with respect to each input pixel: red pixels would raise the score if "
                       "brighter, blue ones lower it. It is the network's linear sensitivity around this digit.")
            ui.download_csv(sal, f"saliency_{c_used}.csv", "Saliency as CSV", key="mn_dl_sal")
        with s2:
            ui.plot(mnist_plots.overlay_figure(digit, cam, title=f"Grad-CAM on conv2 for {c_used}"), key="mn_cam_fig")
            st.caption("Grad-CAM: the 32 conv2 maps (after BN and ReLU, 14×14) weighted by the mean gradient of the score over each map, "
                       "summed, clipped at 0 and upsampled to 28×28. Bright = the regions conv2 used as evidence for this digit.")
            ui.download_csv(cam, f"gradcam_{c_used}.csv", "Grad-CAM as CSV", key="mn_dl_cam")
        with st.expander("The maths"):
            st.latex(r"S(i,j) = \frac{\partial z_c}{\partial x_{ij}},\qquad \alpha_k = \frac{1}{14^2}\sum_{i,j}\frac{\partial z_c}{\partial A_k(i,j)},\qquad \mathrm{CAM} = \mathrm{ReLU}\Big(\sum_k \alpha_k A_k\Big)")

with tabs[4]:
    if tabs[4].open:
        st.markdown("Train a fresh copy of the same network on the 4,000 training digits of the shipped sample, here and now "
                    "(one CPU core, a few seconds per epoch). It is kept for this session: choose it in the sidebar to look inside it.")
        c1, c2, c3, c4 = st.columns(4)
        epochs = c1.slider("Epochs", 1, 30, 5, key="mn_tr_epochs", help="Passes over the training digits. The shipped network had 30.")
        n_train = c2.select_slider("Training digits", [500, 1000, 2000, 4000], 4000, key="mn_tr_n")
        lr = c3.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], 1e-3, key="mn_tr_lr", format_func=lambda v: f"{v:g}")
        seed = c4.number_input("Seed", 0, 9999, 0, key="mn_tr_seed", help="Same seed and settings: the same network again.")
        c1, c2, c3 = st.columns(3)
        batch = c1.select_slider("Batch size", [16, 32, 64, 128, 256], 64, key="mn_tr_batch")
        augment = c2.toggle("Augmentation (shift, rotate, thickness)", value=True, key="mn_tr_aug",
                            help="Random small shifts, rotations, zooms and stroke thickness changes: drawn digits are read much better.")
        start = c3.button("Train", type="primary", key="mn_tr_go", icon="▶️")
        stop = c3.button("Stop", key="mn_tr_stop", icon="⏹️", help="Stops after the current batch; the epochs done so far are kept.")
        meta = cnn.load_meta()
        ref_acc = meta.get("held_out_accuracy")
        chart = st.empty()
        status = st.empty()
        if start:
            bar = st.progress(0.0, text="Starting…")
            subset = train_set.subset(np.arange(len(train_set))[:: max(1, len(train_set) // int(n_train))][: int(n_train)])

            history = []

            def on_batch(done, total):
                if done % 5 == 0 or done == total:
                    bar.progress(done / total, text=f"batch {done} of {total}")

            def on_epoch(stats, m):
                # Keep every finished epoch in the session: a Stop click (a rerun) leaves the network trained so far.
                history.append(stats)
                st.session_state[STATE_OWN] = dict(model=tr.copy_model(m), history=list(history), finished=False,
                                                   config=dict(epochs=epochs, n_train=len(subset), lr=lr, batch=batch, seed=seed, augment=augment))
                with chart.container():
                    ui.plot(mnist_plots.training_figure(history, ref_acc), key=f"mn_tr_live_{stats.epoch}")
                status.caption(f"epoch {stats.epoch}: held-out accuracy {stats.test_acc:.2%} ({stats.seconds:.1f} s)")

            try:
                tr.train(subset, held_out=held, epochs=int(epochs), batch_size=int(batch), lr=float(lr), seed=int(seed),
                               augment=tr.Augment() if augment else None, on_batch=on_batch, on_epoch=on_epoch)
            except ValueError as exc:
                st.error(f"Training could not run: {exc}")
            else:
                st.session_state[STATE_OWN]["finished"] = True
                bar.progress(1.0, text="Done")
                st.rerun()
        rec = st.session_state.get(STATE_OWN)
        if rec and rec.get("history"):
            hist = rec["history"]
            if not start:
                with chart.container():
                    ui.plot(mnist_plots.training_figure(hist, ref_acc), key="mn_tr_chart")
            cfg = rec["config"]
            done = f"{hist[-1].epoch} of {cfg['epochs']} epochs"
            a1, a2, a3 = st.columns(3)
            a1.metric("Your network, held-out accuracy", f"{hist[-1].test_acc:.2%}",
                      f"{(hist[-1].test_acc - ref_acc) * 100:+.2f} points vs shipped" if ref_acc else None)
            a2.metric("Shipped network", f"{ref_acc:.2%}" if ref_acc else "–", f"{meta.get('epochs', '?')} epochs, 4,000 digits",
                      delta_color="off", delta_arrow="off")
            a3.metric("Training", done, ("finished" if rec.get("finished") else "stopped") + f" · {sum(h.seconds for h in hist):.0f} s",
                      delta_color="off", delta_arrow="off")
            st.caption(f"Your run: {cfg['n_train']} digits, batch {cfg['batch']}, learning rate {cfg['lr']:g}, seed {cfg['seed']}, "
                       f"augmentation {'on' if cfg['augment'] else 'off'}. Both accuracies are on the same 1,000 held-out digits. "
                       "Choose 'Yours' in the sidebar to see its maps and filters; the probabilities compare both networks.")
        elif not start:
            st.info("No network trained in this session yet: press Train.")
        if stop and rec and not rec.get("finished"):
            st.warning(f"Stopped: your network keeps the {len(rec['history'])} finished epoch(s).")

"""Your own network: design a CNN for digits, size it before training, train it, save and load it, look inside it."""

import streamlit as st

from cnn_viz import ui
from cnn_viz.common.text import md
from cnn_viz.mnist import design, explain, figures, netfile
from cnn_viz.mnist.data import make_gallery
from cnn_viz.ui import cached, training

st.title("Your own network")
st.markdown(
    "Design a convolutional network for handwritten digits, see what it costs **before** training it, train it here on "
    "the 4,000 training digits of the shipped sample, compare it with the report's network on the same 1,000 held-out "
    "digits, download it as one file and load it back (or a network made with the command line), and look inside it "
    "exactly as the MNIST page looks inside the report's model. The table starts from the report's SimpleCNN; the "
    "design lives in the address bar, so a link shares the network."
)

train_set, held = cached.mnist_split()
gallery = make_gallery(held)
meta = cached.load_mnist_meta()
shipped = cached.from_simple_cnn()

# ---- 1. Design ---------------------------------------------------------------------------------------------------
st.header("1. Design")
net_design, notes = ui.design_editor()
for note in notes:
    st.warning(note)
summary = design.summarize(net_design)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Layers", len(net_design.layers))
m2.metric("Parameters", f"{summary.params:,}", f"{summary.params - 215_466:+,} vs the report's" if summary.params != 215_466 else "the report's",
          delta_color="off", delta_arrow="off")
m3.metric("Multiply-adds per digit", f"{summary.macs / 1e6:.2f} M")
m4.metric("Training, estimated", f"{summary.seconds_per_epoch:.0f} s / epoch", "4,000 digits, one core here", delta_color="off", delta_arrow="off")
st.caption(f"Budgets on this server: at most {design.MAX_PARAMS:,} parameters, {design.MAX_UNITS:,} numbers per layer, "
           f"{design.MAX_LAYERS} layers, and a training run of at most the server's time bound. The estimate counts "
           "three multiply-adds per weight use (forward and backward) at this machine's measured speed.")
ui.indexed_table(summary.table, list(range(1, len(summary.layers) + 1)), key="yn_summary")
st.caption("Every layer's output for one 28×28 digit (C×H×W, or a row of numbers after flatten), its learnable numbers, its "
           "multiply-adds, and the side of the square of input pixels one of its units can see (its receptive field): "
           "r grows by (k − 1)·jump at each conv or pooling layer, and the jump multiplies by the stride. "
           "After flatten every unit sees the whole digit.")

st.subheader("Receptive fields, drawn on the digit")
point = ui.design_field_point()
if summary.field_layers:
    seven = gallery.digit(gallery.default)
    ui.plot(ui.figure(figures.field_figure, seven, summary.boxes_at(point), point, height=520), key="yn_rf_fig")
    st.caption("One rectangle per conv or pooling layer: the input pixels that the unit nearest the red cross can see "
               "(clipped to the digit). The same computation as the ReLU and pooling page's receptive fields.")
else:
    st.info("This design has no convolution or pooling: every unit of its first fully connected layer sees the whole digit.")
st.download_button("The design (JSON, for the command line)", netfile.design_json(net_design), file_name="my_design.json",
                   mime="application/json", key="yn_dl_design", icon="⬇️", on_click="ignore",
                   help="Train it offline: python -m cnn_viz.mnist.train --design my_design.json --epochs 10")

# ---- 2. Train ----------------------------------------------------------------------------------------------------
st.header("2. Train")
st.markdown("On the 4,000 training digits; accuracy on the 1,000 held-out digits after every epoch. One training runs on "
            "this server at a time, and each is bounded in time, so one student cannot hold the class's server.")
config, start, stop = ui.design_train_settings()
ref_acc = meta.get("held_out_accuracy")
mine = training.design_training(train_set, held, net_design, config, start, ref_acc, summary)
if stop and mine is not None and not mine.finished:
    st.warning(f"Stopped: the network keeps the {mine.epochs} finished epoch(s).")

st.subheader("Side by side with the report's network")
if mine is None:
    st.info("Train a network (or load one below) to compare it with the shipped one.")
else:
    c1, c2 = st.columns(2)
    with c1:
        st.markdown(f"**Yours** · {md(mine.kind)} · `{md(mine.design.code, limit=200)}`")
        a1, a2, a3 = st.columns(3)
        a1.metric("Held-out accuracy", f"{mine.accuracy:.2%}" if mine.accuracy is not None else "–",
                  f"{(mine.accuracy - ref_acc) * 100:+.2f} points" if mine.accuracy is not None and ref_acc else None)
        a2.metric("Parameters", f"{design.summarize(mine.design).params:,}")
        a3.metric("Time per epoch", f"{mine.seconds_per_epoch:.1f} s" if mine.seconds_per_epoch else "–", f"{mine.epochs} epoch(s)",
                  delta_color="off", delta_arrow="off")
        ui.plot(ui.figure(figures.confusion_figure, mine.confusion, title="yours: true digit × answer"), key="yn_conf_mine")
        ui.download_csv(mine.confusion, "confusion_yours.csv", "Confusion matrix as CSV", key="yn_dl_conf_mine")
    with c2:
        st.markdown(f"**Shipped** · the report's SimpleCNN · {meta.get('epochs', '?')} epochs")
        b1, b2, b3 = st.columns(3)
        b1.metric("Held-out accuracy", f"{ref_acc:.2%}" if ref_acc else "–")
        b2.metric("Parameters", f"{design.summarize(design.SIMPLE_CNN).params:,}")
        shipped_epoch = netfile.Network(design.SIMPLE_CNN, shipped, "shipped", meta).seconds_per_epoch
        b3.metric("Time per epoch", f"{shipped_epoch:.1f} s" if shipped_epoch else "–", "when it was trained", delta_color="off", delta_arrow="off")
        ui.plot(ui.figure(figures.confusion_figure, cached.confusion(), title="shipped: true digit × answer"), key="yn_conf_shipped")
        ui.download_csv(cached.confusion(), "confusion_shipped.csv", "Confusion matrix as CSV", key="yn_dl_conf_shipped")
    st.caption("Rows: the true digit; columns: what the network answered; the diagonal is right. Both on the same 1,000 "
               "held-out digits. Times per epoch depend on how busy the server was.")

# ---- 3. Save and load ----------------------------------------------------------------------------------------------
st.header("3. Save and load")
s1, s2 = st.columns(2)
with s1:
    if mine is not None:
        st.download_button("Download this network (.pt)", lambda: netfile.to_bytes(mine.design, mine.model, mine.meta),
                           file_name="my_network.pt", mime="application/octet-stream", key="yn_dl_net", icon="⬇️", on_click="ignore")
        st.caption("One file: the design (JSON) and the weights (a state dict), read with torch.load(..., weights_only=True).")
    else:
        st.caption("Train or load a network to download it.")
with s2:
    training.design_upload(held)
    st.caption(f"Files up to {netfile.MAX_BYTES / 1e6:.0f} MB. Nothing in a file is executed: only tensors and plain data "
               "are read, and the design is checked before a layer is built. A plain state dict of the report's SimpleCNN "
               "(conv1, bn1, conv2, bn2, fc1, fc2) is accepted too.")
mine = training.design_network()

# ---- 4. Look inside ------------------------------------------------------------------------------------------------
st.header("4. Look inside")


# A fragment: another digit, network, tab or layer reruns this section only (not the design table, the training
# panel and their pictures above, which did not change). Its inputs come from the last full run.
@st.fragment
def look_inside(mine, shipped, net_design, gallery) -> None:
    try:
        _look_inside(mine, shipped, net_design, gallery)
    finally:  # a teacher's digit source or tab reaches the class (app.py publishes after full runs only)
        ui.class_publish("your_network")


def _look_inside(mine, shipped, net_design, gallery) -> None:
    choices = (["yours"] if mine is not None else []) + ["shipped", "your design, untrained"]
    which = st.radio("Network", choices, horizontal=True, key="yn_which",
                     format_func={"yours": "yours (trained or loaded)", "your design, untrained": "your design, untrained (random weights)",
                                  "shipped": "the shipped network"}.get)
    net = {"yours": mine.model if mine is not None else None, "shipped": shipped}.get(which) or cached.build(net_design.code, 0)
    digit, label, prepared = ui.design_digit(gallery)
    reading = explain.read(net, digit)
    p1, p2 = st.columns([1, 2])
    with p1:
        if prepared is not None:
            ui.plot(ui.figure(figures.preprocessing_figure, prepared), key="yn_prep_fig")
            st.caption(prepared.caption)
        else:
            ui.plot(ui.figure(figures.digit_figure, digit, height=280, box20=True), key="yn_digit_fig")
        ui.download_png(digit, "digit_28x28.png", "The 28×28 digit (PNG)", key="yn_dl_digit")
    with p2:
        st.metric("The network reads", f"{reading.guess}", f"{reading.confidence:.1%} sure" + (f" · true label {label}" if label is not None else ""),
                  delta_color="off", delta_arrow="off")
        ui.plot(ui.figure(figures.probability_figure, reading.probs), key="yn_probs_fig")
        st.caption("The softmax of the last layer's 10 numbers: the network's confidence in each digit.")

    tabs = st.tabs(["Layer by layer", "Learned filters", "Figure 5: patches", "Saliency & Grad-CAM"], key="yn_tab", on_change="rerun",
                   bind="query-params")
    convs = explain.conv_filters(net)
    with tabs[0]:
        if tabs[0].open:
            st.markdown("Every intermediate of the forward pass, in order: each tile is one feature map (red positive, blue negative).")
            layers = explain.map_layers(reading) + explain.vector_layers(reading)
            shown = set(st.pills("Layers to show", layers, selection_mode="multi", default=explain.shown_layers(layers),
                                 key="yn_layers_" + "-".join(layers),
                                 help="Batch norm (a per-map rescaling) and flatten (the last maps in one row) are one click away.") or [])
            for name in [n for n in explain.map_layers(reading) if n in shown]:
                c, h, w = reading.maps[name].shape
                st.markdown(f"**{name}** · {c} maps of {h}×{w}")
                ui.plot(ui.figure(figures.layer_figure, name, reading.maps[name]), key=f"yn_maps_{name}")
            for name in [n for n in explain.vector_layers(reading) if n in shown]:
                st.markdown(f"**{name}** · {reading.maps[name].size} numbers")
                ui.plot(ui.figure(figures.vector_figure, reading.maps[name], height=None), key=f"yn_vec_{name}")
            st.caption("Flat layers as rows of 16 cells; hover for the unit and its value.")
    with tabs[1]:
        if tabs[1].open:
            if not convs:
                st.info("This network has no conv layer, so it has no filters.")
            for f in convs:
                n_out, n_in, k, _ = f.weight.shape
                st.markdown(f"**{f.layer}** · {n_out} kernels of {n_in}×{k}×{k} (+ {n_out} biases)")
                if n_in == 1:
                    ui.plot(ui.figure(figures.mosaic_figure, f.weight[:, 0], cols=8, title=None, tile_px=70, clickable=False), key=f"yn_w_{f.layer}")
                else:
                    ui.plot(ui.figure(figures.conv2_filters_figure, f.weight, axes=("input map", f"output map ({f.layer})")), key=f"yn_w_{f.layer}")
                ui.download_csv(f.rows, f"{f.layer}_kernels.csv", f"{f.layer} kernels as CSV (one row per output map)", key=f"yn_dl_w_{f.layer}")
            st.caption("One shared colour scale per layer: red weights add the input, blue ones subtract it. Hover for the weight.")
    with tabs[2]:
        if tabs[2].open:
            if not convs:
                st.info("Figure 5 needs a conv layer that reads the digit.")
            else:
                first = convs[0]
                st.markdown(f"The report's Figure 5 for **{first.layer}**: a map value is the dot product of a patch with the kernel, plus the bias.")
                c1, c2 = st.columns(2)
                fmap_k = c1.number_input(f"{first.layer} map", 0, len(first.weight) - 1, 0, key="yn_f5_map")
                seed = c2.number_input("Random positions (seed)", 0, 999, 0, key="yn_f5_seed")
                f5 = explain.figure5_conv(reading, first, fmap_k, seed=seed)
                fig5, big5 = figures.figure5(f5.patches, f5.fmap, f5.map_index, layer=first.layer)
                ui.plot(fig5, key="yn_f5_fig")
                ui.plot(big5, key="yn_f5_big")
                st.caption("Each row: the patch, the kernel, their product and Σ(patch × kernel) + bias; below, the whole map with the positions.")
    with tabs[3]:
        if tabs[3].open:
            ev = explain.evidence(net, digit, st.selectbox("Explain the score of digit", explain.TARGETS, key="yn_sal_class"))
            e1, e2 = st.columns(2)
            with e1:
                ui.plot(ui.figure(figures.overlay_figure, digit, ev.saliency, title=f"saliency: ∂ score({ev.target}) / ∂ pixel", signed=True), key="yn_sal_fig")
                st.caption("The gradient of the class score with respect to each pixel: red pixels would raise it if brighter, blue lower it.")
                ui.download_csv(ev.saliency, f"saliency_{ev.target}.csv", "Saliency as CSV", key="yn_dl_sal")
            with e2:
                if ev.cam is None:
                    st.info("Grad-CAM needs a conv layer; this network has none.")
                else:
                    ui.plot(ui.figure(figures.overlay_figure, digit, ev.cam, title=f"Grad-CAM on {getattr(net, 'cam_layer', 'conv2')} for {ev.target}"),
                            key="yn_cam_fig")
                    st.caption("Grad-CAM on the last conv layer (after its batch norm and activation): its maps weighted by the mean "
                               "gradient of the score, summed, clipped at 0 and upsampled to 28×28.")
                    ui.download_csv(ev.cam, f"gradcam_{ev.target}.csv", "Grad-CAM as CSV", key="yn_dl_cam")


look_inside(mine, shipped, net_design, gallery)

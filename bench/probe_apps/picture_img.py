"""A 2×2 picture with values on hover, drawn without Plotly: a PNG in an <img> and a few lines of JavaScript
that read the value under the pointer from the data sent with it (bench/floor_probe.py)."""
import base64
import io

import numpy as np
import streamlit as st
from PIL import Image

# data-chart-pending until the picture has loaded (bench_browser's settle waits for that).
_JS = """
export default function (component) {
  const { data, parentElement } = component;
  const img = parentElement.querySelector('img'), tip = parentElement.querySelector('.tip');
  img.onload = () => img.parentElement.removeAttribute('data-chart-pending');
  img.src = data.png;
  img.onmousemove = (e) => {
    const r = img.getBoundingClientRect();
    const j = Math.floor((e.clientX - r.left) / r.width * data.w), i = Math.floor((e.clientY - r.top) / r.height * data.h);
    tip.textContent = `row ${i}, column ${j}: ${data.z[i * data.w + j]}`;
  };
}
"""
picture = st.components.v2.component(
    "probe_picture_img", html='<div data-chart-pending><img style="width:400px;image-rendering:pixelated">'
                              '<div class="tip"></div></div>', js=_JS, isolate_styles=False)

st.title("One picture, no Plotly")
z = np.array([[1, 2], [3, 4]], dtype=np.uint8)
buf = io.BytesIO()
Image.fromarray((z * 60).astype(np.uint8)).save(buf, format="PNG")
picture(data={"png": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(), "h": 2, "w": 2,
              "z": z.ravel().tolist()}, key="picture")

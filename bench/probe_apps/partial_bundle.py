"""The one_chart.py heatmap drawn by Plotly's cartesian partial bundle (1.34 MB, against the 4.7 MB chunk of
st.plotly_chart), loaded from the app's static folder by a small st.components.v2 component (bench/floor_probe.py).

Needs ``bench/probe_apps/static/plotly-cartesian.min.js`` (not in the repository; floor_probe.py says how to get
it) and ``STREAMLIT_SERVER_ENABLE_STATIC_SERVING=true``, which floor_probe.py sets."""
import json

import plotly.graph_objects as go
import streamlit as st

# A chart element carries data-chart-pending until Plotly has drawn it (bench_browser's settle waits for that).
_JS = """
export default function (component) {
  const { data, parentElement } = component;
  const el = parentElement.querySelector('.chart');
  if (!window.__plotlyReady) {
    window.__plotlyReady = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = '/app/static/plotly-cartesian.min.js';
      s.onload = () => resolve(window.Plotly);
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }
  window.__plotlyReady.then((Plotly) => Plotly.react(el, data.fig.data, data.fig.layout, {displaylogo: false}))
    .then(() => el.removeAttribute('data-chart-pending'));
}
"""
chart = st.components.v2.component("probe_partial_bundle", html='<div class="chart" data-chart-pending></div>',
                                   js=_JS, isolate_styles=False)

st.title("One chart, cartesian bundle")
chart(data={"fig": json.loads(go.Figure(go.Heatmap(z=[[1, 2], [3, 4]])).to_json())}, key="chart")

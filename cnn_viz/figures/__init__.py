"""The one palette and the shared Plotly builders."""

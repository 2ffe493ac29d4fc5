"""A Streamlit page with one 2×2 Plotly heatmap: what loading Streamlit's Plotly chunk adds (bench/floor_probe.py)."""
import plotly.graph_objects as go
import streamlit as st

st.title("One chart")
st.plotly_chart(go.Figure(go.Heatmap(z=[[1, 2], [3, 4]])))

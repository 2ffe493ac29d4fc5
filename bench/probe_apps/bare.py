"""A Streamlit page with no chart: the floor of a fresh tab's first visit (bench/floor_probe.py)."""
import streamlit as st

st.title("No chart")
st.write("Streamlit's frontend alone.")

"""CNN Viz core: NumPy / PyTorch code behind the pages. Never imports streamlit (except ui.py)."""

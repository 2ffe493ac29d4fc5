"""Training runs started from a page: progress, Stop, and what was trained kept in the session."""

from __future__ import annotations

import streamlit as st

# ============================== mnist


# ============================== deblur

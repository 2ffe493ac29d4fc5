"""One bar chart, sent as the app sends a themed chart (ui.plot of a cached Spec: builders.spec_text's JSON, which
leaves the default template out), so the template Streamlit's theme gives it is the theme alone. Served by
assets/tools/capture_plotly_theme.py from the repository root, with the app's .streamlit/config.toml."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cnn_viz.ui import cached, widgets  # noqa: E402

widgets.plot(cached.Spec('{"data":[{"type":"bar","x":[0,1],"y":[1,2]}],"layout":{}}'), key="probe")

"""Looking inside a trained language model: every gate, cell state and prediction on a text
(inspection.py), the page that shows them (page.py, filling the HTML, CSS and JavaScript in
assets/), and its PNG heat map (heatmap.py)."""

from .inspection import Inspection, find_units

__all__ = ["Inspection", "find_units"]

"""Looking inside a trained language model: every gate, cell state and prediction on a text
(inspection.py), and the page that shows them (page.py, with its HTML, CSS and JavaScript)."""

from .inspection import Inspection, find_units

__all__ = ["Inspection", "find_units"]

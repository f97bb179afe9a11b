"""The inspect page's HTML, CSS and JavaScript ship as package data (lstmlab/inspect/assets)
and page.py fills every marker of the template; no model or browser is needed here."""

from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np
import pytest

from lstmlab.inspect import page
from lstmlab.inspect.inspection import Inspection

ASSETS = ("page.html", "page.css", "page.js")
TEXT = 'a "quote" </script> <!-- lstmlab:data --> \u2028 & (x)\n\tend'


def fake_inspection(text: str = TEXT, cell: str = "lstm", sizes=(6, 4)) -> Inspection:
    rng = np.random.default_rng(0)
    symbols = ("\ufffd", *sorted(set(text) - {"<", "&"}))  # '<' and '&' are unknown
    ids = np.array([symbols.index(ch) if ch in symbols else 0 for ch in text])
    names = ("forget", "input", "candidate", "output", "cell", "hidden")
    gates = [{name: rng.uniform(-1, 1, (len(text), size)).astype(np.float32) for name in names} for size in sizes]
    probs = rng.dirichlet(np.ones(len(symbols)), len(text) + 1)
    return Inspection(text, ids, symbols, cell, gates, probs)


def test_assets_are_package_data():
    folder = resources.files("lstmlab.inspect") / "assets"
    for name in ASSETS:
        assert (folder / name).is_file(), name
        assert page.read_asset(name).strip(), name


def test_template_markers_appear_once_each():
    markers = page.TEMPLATE_MARKER.findall(page.read_asset("page.html"))
    assert len(markers) == len(set(markers))
    assert {"css", "script", "data", "chars", "title"} <= set(markers)
    for name in ("page.css", "page.js"):  # the inlined files hold no markers of their own
        assert not page.TEMPLATE_MARKER.search(page.read_asset(name)), name


@pytest.mark.parametrize("budget", [page.MAX_EMBEDDED_VALUES, 1])
def test_written_page_fills_every_marker(tmp_path, budget):
    inspection = fake_inspection()
    view = page.choose_view(inspection, units=[0, 2])
    document = page.render_page(inspection, view, png=b"\x89PNG", title="t <!-- lstmlab:css -->", budget=budget)
    assert not page.TEMPLATE_MARKER.search(document)  # the text and title hold one, escaped as &lt;!--
    assert page.read_asset("page.css") in document and page.read_asset("page.js") in document
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", document)  # nothing fetched over the network
    script = re.search(r'<script type="application/json" id="lstmlab-data">(.*?)</script>', document, re.S).group(1)
    assert "</" not in script and "<!--" not in script and "\u2028" not in script
    assert json.loads(script)["text"] == TEXT
    written = page.write_page(inspection, tmp_path / "p.html", units=[1])
    assert not page.TEMPLATE_MARKER.search(written.html.read_text(encoding="utf-8"))


def test_fill_template_is_one_pass_and_strict():
    template = "a<!-- lstmlab:x -->b<!-- lstmlab:y -->c{not a field}"
    # A value holding a marker is not filled in turn; braces are left alone.
    assert page.fill_template(template, {"x": "<!-- lstmlab:y -->", "y": "Y"}) == "a<!-- lstmlab:y -->bYc{not a field}"
    with pytest.raises(ValueError, match="unfilled"):
        page.fill_template(template, {"x": "X"})
    with pytest.raises(ValueError, match="unused"):
        page.fill_template(template, {"x": "X", "y": "Y", "z": "Z"})
    with pytest.raises(ValueError, match="repeated"):
        page.fill_template(template + "<!-- lstmlab:x -->", {"x": "X", "y": "Y"})

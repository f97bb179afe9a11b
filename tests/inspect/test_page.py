"""`lstmlab inspect`: the page opened in a real (headless) Chromium, driven over the
Chrome DevTools Protocol, plus the PNG, --find, the error messages and next_char_probs.

The browser tests need /usr/bin/chromium (`make test` installs it); they skip only
when it is absent. Everything shown on the page is compared with lm.inspect(text).
The Chrome DevTools Protocol client is tests/browser.py, shared with the playground's test.
"""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import lstmlab
from lstmlab.cli import main
from lstmlab.inspect import page
from lstmlab.inspect.inspection import Inspection

from tests.browser import Browser, headless_browser, page_errors

# A newline, a double-quoted phrase, parentheses; '"', '(', ')' and the rose are not in the
# Shakespeare vocabulary, so the page's unknown-character marks are exercised too.
TEXT = 'ROMEO:\nI said "hello (and farewell)" to thee.\nJULIET: What? \U0001F339'  # and one non-BMP character
PLAIN = "ROMEO:\nhow now, my lord"  # only characters the model knows: no warning on stderr


# ---------------------------------------------------------------------------
# A tiny run and its pages
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(shakespeare_slice, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inspect") / "run"
    lstmlab.train(str(shakespeare_slice), out, max_steps=30, hidden_sizes=(32,), embed_dim=8, batch_size=8,
                  seq_len=32, eval_every=15, show_progress=False, log=lambda s: None)
    return out


@pytest.fixture(scope="module")
def lm(run):
    return lstmlab.load(run)


@pytest.fixture(scope="module")
def inspection(lm) -> Inspection:
    return lm.inspect(TEXT, warn=None)


PANEL_UNITS = [0, 5, 31]
COLOUR_UNIT = 7


@pytest.fixture(scope="module")
def page_file(run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("page") / "page.html"
    code = main(["inspect", str(run), "--text", TEXT, "--out", str(out), "--units", ",".join(map(str, PANEL_UNITS)),
                 "--unit", str(COLOUR_UNIT)])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def browser(page_file):
    with headless_browser() as b:
        b.open(page_file)
        yield b


def select_char(browser: Browser, i: int) -> dict:
    """Click character i and read what the side panel shows."""
    return browser.evaluate(f"""(() => {{
        document.querySelector('#text .ch[data-i="{i}"]').click();
        return {{
            surprise: document.getElementById('surprise').textContent,
            actual: document.getElementById('actual-prob').textContent,
            top: Array.from(document.querySelectorAll('#top5 li')).map(li =>
                [li.dataset.symbol, li.querySelector('.p').textContent]),
            gates: Array.from(document.querySelectorAll('#gate-table td[data-gate]')).map(td =>
                [Number(td.dataset.unit), td.dataset.gate, td.textContent]),
        }};
    }})()""")


# ---------------------------------------------------------------------------
# In the browser
# ---------------------------------------------------------------------------


def test_page_loads_cleanly_and_asks_for_nothing_over_the_network(browser, page_file):
    assert browser.evaluate("document.body.dataset.ready") == "1"
    assert page_errors(browser) == []
    requested = browser.requested_urls()
    assert requested and all(url == page_file.resolve().as_uri() or url.startswith("data:") for url in requested), requested
    source = page_file.read_text(encoding="utf-8")
    assert not re.search(r"(src|href)\s*=\s*[\"'](https?:|//)", source) and "@import" not in source
    assert '<script type="application/json" id="lstmlab-data">' in source


def test_one_element_per_character(browser, inspection):
    chars = browser.evaluate("Array.from(document.querySelectorAll('#text .ch')).map(s => [Number(s.dataset.i), s.textContent])")
    assert len(chars) == len(TEXT) == len(inspection.text)
    assert [i for i, _ in chars] == list(range(len(TEXT)))
    shown = {"\n": "↵"}
    assert [c for _, c in chars] == [shown.get(ch, ch) for ch in TEXT]
    assert browser.evaluate("document.querySelectorAll('#text br').length") == TEXT.count("\n")
    unknown = browser.evaluate("Array.from(document.querySelectorAll('#text .ch.unk')).map(s => Number(s.dataset.i))")
    assert unknown == [i for i, ch in enumerate(TEXT) if ch in '"()\U0001F339']


@pytest.mark.parametrize("position", [0, 6, TEXT.index("(") + 2, len(TEXT) - 1])
def test_panel_shows_the_apis_gates_predictions_and_surprise(browser, inspection, position):
    shown = select_char(browser, position)
    names = list(inspection.gates[0])
    assert names == ["forget", "input", "candidate", "output", "cell", "hidden"]
    expected_units = PANEL_UNITS + [COLOUR_UNIT]
    assert [(u, g) for u, g, _ in shown["gates"]] == [(u, g) for u in expected_units for g in names]
    for unit, gate, text in shown["gates"]:
        assert abs(float(text) - inspection.signal(0, unit, gate)[position]) <= 0.0005 + 1e-9, (unit, gate, text)
    assert float(shown["surprise"].removesuffix(" bits")) == pytest.approx(inspection.surprise_bits[position], abs=0.005 + 1e-9)
    actual = inspection.probs[position, inspection.ids[position]]
    assert float(shown["actual"].removesuffix("%")) == pytest.approx(100 * actual, abs=0.05 + 1e-9)
    top = inspection.top_predictions(position, 5)
    assert [symbol for symbol, _ in shown["top"]] == [symbol for symbol, _ in top]
    for (_, text), (_, p) in zip(shown["top"], top):
        assert float(text.removesuffix("%")) == pytest.approx(100 * p, abs=0.05 + 1e-9)


def test_selector_recolours_the_text(browser, inspection):
    colours = "Array.from(document.querySelectorAll('#text .ch')).map(s => getComputedStyle(s).backgroundColor)"
    before = browser.evaluate(colours)
    assert len(set(before)) > 5  # a gradient, not one flat colour
    assert browser.evaluate("[lstmlab.state.unit, lstmlab.state.signal]") == [COLOUR_UNIT, "hidden"]
    # Higher hidden value -> redder: the order of red minus blue follows the API's values.
    rb = [int(m[0]) - int(m[2]) for m in (re.findall(r"\d+", c) for c in before)]
    values = inspection.signal(0, COLOUR_UNIT, "hidden")
    assert np.corrcoef(rb, values)[0, 1] > 0.95
    browser.evaluate("""(() => { const s = document.getElementById('unit-select'); s.value = '12';
                                 s.dispatchEvent(new Event('change')); })()""")
    after_unit = browser.evaluate(colours)
    assert after_unit != before and browser.evaluate("lstmlab.state.unit") == 12
    browser.evaluate("""(() => { const s = document.getElementById('signal-select'); s.value = 'forget';
                                 s.dispatchEvent(new Event('change')); })()""")
    after_signal = browser.evaluate(colours)
    assert after_signal != after_unit
    assert browser.evaluate("document.getElementById('legend-low').textContent") == "0"
    values = browser.evaluate("Array.from(document.querySelectorAll('#text .ch')).map(s => Number(s.dataset.v))")
    assert np.allclose(values, inspection.signal(0, 12, "forget"), atol=5e-5)
    assert page_errors(browser) == []  # nor while it was being used


# ---------------------------------------------------------------------------
# Without a browser
# ---------------------------------------------------------------------------


def test_png_is_written_and_embedded(page_file):
    png = page_file.with_suffix(".png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert 400 < width < 3000 and 200 < height < 3000
    assert f"data:image/png;base64,{base64.b64encode(data).decode()}" in page_file.read_text(encoding="utf-8")


def page_json(path: Path) -> dict:
    source = path.read_text(encoding="utf-8")
    start = source.index('id="lstmlab-data">') + len('id="lstmlab-data">')
    return json.loads(source[start : source.index("</script>", start)])


def test_find_prints_a_ranking_and_the_page_opens_on_the_best_unit(cli, run, inspection, tmp_path):
    out = tmp_path / "find.html"
    png = tmp_path / "pictures" / "find-gates.png"
    code, stdout, stderr = cli("inspect", run, "--text", TEXT, "--out", out, "--png", png, "--find")
    assert code == 0, stderr
    rows = [line.split() for line in stdout.splitlines() if line.split()[:1] and line.split()[0] in page.FEATURES]
    assert {row[0] for row in rows} == set(page.FEATURES)  # every feature changes in TEXT
    assert all(abs(float(row[4])) <= 1 for row in rows)
    best = max(lstmlab.inspect.inspection.find_units(inspection), key=lambda m: abs(m.correlation))
    initial = page_json(out)["initial"]
    assert (initial["layer"], initial["unit"], initial["signal"]) == (best.layer, best.unit, best.signal)
    assert best.unit in initial["units"]
    assert f"best match: layer {best.layer} unit {best.unit}" in stdout
    assert png.is_file() and not out.with_suffix(".png").exists()
    assert f"wrote {out} and {png}" in stdout


def test_summary_without_find(cli, run, tmp_path):
    code, stdout, stderr = cli("inspect", run, "--text", PLAIN, "--out", tmp_path / "p.html", "--signal", "cell")
    assert code == 0 and stderr == ""
    lines = stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"read {len(PLAIN)} characters")
    assert "coloured by cell of unit 0" in lines[0]
    assert page_json(tmp_path / "p.html")["initial"] == {"layer": 0, "unit": 0, "signal": "cell",
                                                          "units": [0, 1, 2, 3], "position": 0}


def test_file_input(cli, run, tmp_path):
    source = tmp_path / "passage.txt"
    source.write_bytes(PLAIN.encode("latin-1"))
    code, stdout, _ = cli("inspect", run, "--file", source, "--encoding", "latin-1", "--out", tmp_path / "f.html")
    assert code == 0 and page_json(tmp_path / "f.html")["text"] == PLAIN


@pytest.mark.parametrize("args, message", [
    (["--text", PLAIN], "no such run folder"),
    (["--text", PLAIN, "--file", "x.txt"], "exactly one of --text"),
    ([], "exactly one of --text"),
    (["--text", PLAIN, "--unit", "32"], "unit 32 does not exist"),
    (["--text", PLAIN, "--units", "1,99"], "unit 99 does not exist"),
    (["--text", PLAIN, "--units", "a,b"], "--units expects unit numbers"),
    (["--text", PLAIN, "--layer", "1"], "layer 1 does not exist"),
    (["--text", PLAIN, "--signal", "reset"], "has no signal 'reset'"),
    (["--text", ""], "no text to inspect"),
    (["--file", "missing.txt"], "no such file"),
    (["--text", "x" * 101, "--max-chars", "100"], "more than --max-chars 100"),
    (["--text", PLAIN, "--out-name", "page.txt"], "must name an .html file"),
    (["--text", PLAIN, "--out-name", "blocker/page.html"], "cannot create the folder"),
])
def test_user_errors_are_one_line_with_exit_code_2(cli, run, tmp_path, args, message):
    (tmp_path / "blocker").write_text("a file where a folder is needed")
    out = tmp_path / "page.html"
    if "--out-name" in args:
        k = args.index("--out-name")
        out = tmp_path / args[k + 1]
        args = args[:k] + args[k + 2:]
    target = tmp_path / "no-such-run" if message == "no such run folder" else run
    code, stdout, stderr = cli("inspect", target, *[str(a) for a in args], "--out", out)
    assert code == 2, stderr
    assert stderr.startswith("lstmlab inspect: error: ") and stderr.count("\n") == 1, stderr
    assert message in stderr and "Traceback" not in stderr
    assert not out.exists()


def test_next_char_probs_is_the_last_row_of_inspect(lm):
    probs = lm.next_char_probs(PLAIN)
    assert list(probs) == list(lm.vocab.symbols)
    assert math.isclose(sum(probs.values()), 1.0, abs_tol=1e-9)
    assert np.allclose(list(probs.values()), lm.inspect(PLAIN).probs[-1], rtol=0, atol=1e-12)


def test_write_page_from_python_and_other_cells(inspection, tmp_path):
    written = page.write_page(inspection, tmp_path / "nb.html", units=[2, 3], colour_signal="output")
    assert written.png == tmp_path / "nb.png" and written.png.is_file()
    assert page_json(written.html)["initial"]["signal"] == "output"
    assert page_json(written.html)["layers"][0]["units"] == list(range(32))  # small enough: every unit
    # Over the size budget, only the chosen units travel, and the page says so.
    view = page.View(0, [3], 5)
    assert page.page_data(inspection, view, budget=1)["layers"][0]["units"] == [3, 5]
    assert "holds 2 of the model's 32 units" in page.render_page(inspection, view, budget=1)
    # A GRU's page offers its own gates; built by hand, no training needed.
    rng = np.random.default_rng(0)
    text = 'a (b) "c"\nd'
    T, H = len(text), 6
    gru = Inspection(text, np.ones(T, dtype=np.int64), ("\ufffd", *"abcd"), "gru",
                     [{name: rng.uniform(0, 1, (T, H)) for name in ("reset", "update", "candidate", "hidden")}],
                     np.full((T + 1, 5), 0.2))
    view = page.choose_view(gru, find=True)
    data = page_json(page.write_page(gru, tmp_path / "gru.html", view=view).html)
    assert data["layers"][0]["signals"] == ["reset", "update", "candidate", "hidden"]
    assert data["short_names"]["candidate"] == "n"
    with pytest.raises(lstmlab.LstmlabError, match="has no signal 'forget'"):
        page.choose_view(gru, colour_signal="forget")

"""The playground of `lstmlab serve` (GET /), opened in a real headless Chromium over the Chrome
DevTools Protocol (tests/browser.py) and used as a person would: choose a model, generate, stop,
click a character, classify a text, draw a forecast. What the page shows is compared with direct
calls to the same server's API.

The server is a real `python -m lstmlab serve` process with a run of every kind (the `server`
fixture of tests/serve/conftest.py). The browser tests skip only when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import re
import time
import urllib.request

import pytest

from tests.browser import Browser, headless_browser, page_errors

pytestmark = pytest.mark.slow  # headless Chromium against a real `lstmlab serve` process

PROMPT = "ROMEO:\n"


@pytest.fixture(scope="module")
def page(server):
    with headless_browser() as browser:
        browser.open(server.url + "/")
        browser.wait_until("document.body.dataset.ready === '1'")
        yield browser


def choose(browser: Browser, model: str) -> None:
    browser.evaluate(f"""(() => {{ const s = document.getElementById('pg-model'); s.value = {model!r};
                                    s.dispatchEvent(new Event('change')); }})()""")


def set_value(browser: Browser, element_id: str, value, event: str = "input") -> None:
    browser.evaluate(f"""(() => {{ const e = document.getElementById({element_id!r}); e.value = {str(value)!r};
                                    e.dispatchEvent(new Event({event!r})); }})()""")


def click(browser: Browser, selector: str) -> None:
    browser.evaluate(f"document.querySelector({selector!r}).click()")


def generated(browser: Browser) -> int:
    """How many generated characters the page shows (one span each, for a character model)."""
    return browser.evaluate("document.querySelectorAll('#pg-output .gen').length")


def status(browser: Browser) -> tuple[str, str]:
    return tuple(browser.evaluate("[document.getElementById('pg-status').dataset.state, "
                                  "document.getElementById('pg-status').textContent]"))


def shown_text(browser: Browser) -> str:
    """The output as text: its spans' characters, a newline where the page shows ↵."""
    return browser.evaluate("""Array.from(document.querySelectorAll('#pg-output .ch'))
        .map(s => s.classList.contains('nl') ? '\\n' : s.textContent).join('')""")


def error_line(browser: Browser) -> str:
    return browser.evaluate("(e => e.hidden ? '' : e.textContent)(document.getElementById('pg-error'))")


def uncaught(browser: Browser) -> list[dict]:
    """page_errors, less what the page does on purpose: a 4xx answer the page shows as text
    (Chromium logs each as a network error), and a stream the stop button aborted."""
    return [e for e in page_errors(browser)
            if not (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("source") == "network"
                    and re.search(r"status of 4\d\d", e["params"]["entry"]["text"]))
            and not (e.get("method") == "Network.loadingFailed" and e["params"].get("canceled"))]


def generate(browser: Browser, prompt: str, length: int) -> None:
    set_value(browser, "pg-prompt", prompt)
    set_value(browser, "pg-length", length)
    click(browser, "#pg-generate")


def test_page_loads_cleanly_and_asks_only_its_own_server(page, server):
    assert page_errors(page) == []
    _, models = server.get("/v1/models")
    options = page.evaluate("Array.from(document.getElementById('pg-model').options).map(o => o.value)")
    assert options == [m["id"] for m in models["data"]]
    requested = page.requested_urls()
    assert requested and all(url.startswith(server.url + "/") for url in requested), requested
    for path in ("/", "/assets/playground.js", "/assets/playground.css", "/assets/inspect/page.js",
                 "/assets/inspect/page.css"):
        with urllib.request.urlopen(server.url + path, timeout=10) as answer:
            source = answer.read().decode("utf-8")
        # No CDN, no web fonts: the only absolute URL is SVG's namespace, which is a name, not a request.
        assert not re.findall(r"https?://(?!www\.w3\.org/2000/svg\b)", source), path
        assert "@import" not in source and "@font-face" not in source, path


def test_text_streams_in_and_stop_cancels_it(page, server):
    choose(page, "chars")
    generate(page, PROMPT, 100_000)
    counts = [generated(page)]
    deadline = time.monotonic() + 20
    while len(set(counts)) < 4 and time.monotonic() < deadline:  # it grows while the request runs
        time.sleep(0.01)
        counts.append(generated(page))
    assert counts == sorted(counts) and len(set(counts)) >= 4, counts
    assert status(page)[0] == "generating"
    click(page, "#pg-stop")
    page.wait_until("document.getElementById('pg-status').dataset.state === 'stopped'", timeout=10)
    stopped = generated(page)
    time.sleep(0.5)
    assert generated(page) == stopped < 100_000
    assert status(page) == ("stopped", f"stopped after {stopped:,} characters")
    # Aborting the fetch closed the connection, and the server cancelled the generation.
    deadline = time.monotonic() + 10
    while server.get("/healthz")[1]["streams"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.get("/healthz")[1]["streams"] == 0
    # The prompt comes first, then generated characters, each coloured by its surprise in bits.
    assert shown_text(page).startswith(PROMPT)
    bits = page.evaluate("Array.from(document.querySelectorAll('#pg-output .gen')).map(s => Number(s.dataset.bits))")
    assert len(bits) == stopped and all(0 <= b < 40 for b in bits)
    colours = page.evaluate("Array.from(document.querySelectorAll('#pg-output .gen'), s => s.style.backgroundColor)")
    assert len(set(colours)) > 5
    assert page.evaluate("document.getElementById('pg-generate').disabled") is False
    assert uncaught(page) == []


def test_clicking_a_character_shows_the_apis_next_characters_and_the_gates_there(page, server):
    choose(page, "chars")
    generate(page, PROMPT, 300)
    page.wait_until("document.getElementById('pg-status').dataset.state === 'done'")
    assert generated(page) == 300 and status(page)[1].startswith("done: 300 characters")
    text = shown_text(page)
    k = len(PROMPT) + 120  # a generated character
    page.evaluate(f"document.querySelector('#pg-output .ch[data-i=\"{k}\"]').click()")
    page.wait_until(f"document.getElementById('pg-next').dataset.prefixLength === '{k + 1}'")
    shown = page.evaluate("Array.from(document.querySelectorAll('#pg-next li'), li => [li.dataset.symbol, "
                          "Number(li.dataset.p), li.querySelector('.p').textContent])")
    code, expected = server.post("/v1/next", {"model": "chars", "text": text[: k + 1], "top": 5})
    assert code == 200 and len(shown) == 5
    assert [s for s, _, _ in shown] == [n["symbol"] for n in expected["next"]]
    for (_, p, label), n in zip(shown, expected["next"]):
        assert p == pytest.approx(n["prob"], abs=1e-12) and label == f"{100 * n['prob']:.1f}%"
    # The gates: the inspect page's own view, drawn from POST /v1/inspect, pinned at the character.
    page.wait_until("document.querySelectorAll('#pg-gates #gate-table td[data-gate]').length > 0")
    assert page.evaluate("document.getElementById('sel-pos').textContent") == f"{k + 1} of {len(text)}"
    in_view = page.evaluate("Array.from(document.querySelectorAll('#pg-gates #top5 li'), li => li.dataset.symbol)")
    assert in_view == [n["symbol"] for n in expected["next"]]
    signals = page.evaluate("Array.from(document.querySelectorAll('#pg-gates #gate-table thead th'), th => th.title)")
    assert signals[1:] == ["forget", "input", "candidate", "output", "cell", "hidden"]
    values = page.evaluate("Array.from(document.querySelectorAll('#pg-gates #gate-table td[data-gate]'), "
                           "td => Number(td.textContent))")
    assert values and all(abs(v) < 1e3 for v in values)
    assert page.evaluate("document.querySelectorAll('#pg-gates #text .ch').length") == len(text)
    assert uncaught(page) == []


def test_a_text_longer_than_the_inspect_limit_is_inspected_in_a_window(page, server):
    # The server inspects at most 2,000 characters (--max-inspect-chars); the page sends the ones
    # that end at the clicked character, and says so.
    choose(page, "chars")
    generate(page, PROMPT, 2_600)
    page.wait_until("document.getElementById('pg-status').dataset.state === 'done'")
    k = len(PROMPT) + 2_500
    page.evaluate(f"document.querySelector('#pg-output .ch[data-i=\"{k}\"]').click()")
    page.wait_until("document.querySelectorAll('#pg-gates #gate-table td[data-gate]').length > 0")
    assert page.evaluate("document.getElementById('sel-pos').textContent") == "2000 of 2000"
    assert page.evaluate("document.querySelectorAll('#pg-gates #text .ch').length") == 2_000
    note = page.evaluate("(e => e.hidden ? '' : e.textContent)(document.getElementById('pg-gates-note'))")
    assert f"characters {k + 2 - 2_000:,} to {k + 1:,}" in note
    assert error_line(page) == "" and uncaught(page) == []


def test_a_word_model_generates_and_shows_next_words_but_no_gates(page, server):
    choose(page, "words")
    page.wait_until("document.body.dataset.kind === 'word-lm'")
    assert page.evaluate("document.getElementById('pg-gates-section').hidden") is True
    generate(page, "The man", 12)
    page.wait_until("document.getElementById('pg-status').dataset.state === 'done'")
    pieces = page.evaluate("Array.from(document.querySelectorAll('#pg-output .gen'), s => s.textContent)")
    assert 1 <= len(pieces) <= 12  # one span per word (two words with equal surprise may share one)
    page.evaluate("document.querySelectorAll('#pg-output .gen')[0].click()")
    page.wait_until("document.querySelectorAll('#pg-next li').length === 5")
    prefix_length = int(page.evaluate("document.getElementById('pg-next').dataset.prefixLength"))
    code, expected = server.post("/v1/next", {"model": "words", "text": shown_text(page)[:prefix_length], "top": 5})
    assert code == 200
    assert page.evaluate("Array.from(document.querySelectorAll('#pg-next li'), li => li.dataset.symbol)") == \
        [n["symbol"] for n in expected["next"]]
    assert uncaught(page) == []


def test_a_classifier_shows_labels_and_probabilities(page, server):
    choose(page, "imdb")
    page.wait_until("document.body.dataset.kind === 'classifier'")
    review = "A wonderful, moving film with a great cast."
    set_value(page, "pg-classify-text", review)
    page.wait_until("!document.getElementById('pg-classes').hidden")
    rows = page.evaluate("Array.from(document.querySelectorAll('#pg-classes tbody tr'), "
                         "tr => [tr.dataset.label, Number(tr.dataset.p), tr.classList.contains('best')])")
    code, expected = server.post("/v1/classify", {"model": "imdb", "texts": [review]})
    assert code == 200
    probs = expected["predictions"][0]["probs"]
    assert sorted(label for label, _, _ in rows) == sorted(expected["classes"])
    assert [p for _, p, _ in rows] == sorted((p for _, p, _ in rows), reverse=True)  # likeliest first
    for label, p, best in rows:
        assert p == pytest.approx(probs[label], abs=1e-12)
        assert best == (label == expected["predictions"][0]["label"])
    assert uncaught(page) == []


def test_a_forecaster_draws_history_forecast_and_interval(page, server):
    choose(page, "airline")
    page.wait_until("document.querySelectorAll('#pg-chart circle.point').length > 0")
    code, expected = server.post("/v1/forecast", {"model": "airline", "steps": None, "interval": 0.9})
    assert code == 200
    steps = len(expected["forecast"]["mean"])
    chart = page.evaluate("""(() => { const c = document.getElementById('pg-chart'), n = (sel) =>
        c.querySelector(sel).getAttribute('points').trim().split(/\\s+/).length;
        return {points: c.querySelectorAll('circle.point').length, history: n('polyline.history'),
                forecast: n('polyline.forecast'), band: n('polygon.band')}; })()""")
    assert chart == {"points": steps, "history": len(expected["history"]["values"]), "forecast": steps + 1,
                     "band": 2 * steps}
    box = page.evaluate("(b => [b.width, b.height])(document.getElementById('pg-chart').getBoundingClientRect())")
    assert box[0] > 400 and box[1] > 150  # drawn at a readable size
    assert uncaught(page) == []


def test_an_api_error_shows_as_a_line_of_text(page, server):
    choose(page, "airline")
    page.wait_until("document.querySelectorAll('#pg-chart circle.point').length > 0")
    set_value(page, "pg-steps", 1_000_000)
    click(page, "#pg-forecast")
    message = page.wait_until("(e => !e.hidden && e.textContent)(document.getElementById('pg-error'))")
    code, expected = server.post("/v1/forecast", {"model": "airline", "steps": 1_000_000, "interval": 0.9})
    assert 400 <= code < 500 and message == expected["error"]["message"]
    assert uncaught(page) == []  # shown, not thrown
    choose(page, "chars")  # choosing a model starts afresh
    assert error_line(page) == ""

"""`inspect` on word-level runs: one element per word, surprise in bits per word, the likeliest
next words, the text joined as generation writes it; the page, the PNG, the CLI and POST
/v1/inspect, all checked against the model's own forward pass.

The runs train in-process on a made-up corpus (quotes, parentheses, sentences), so nothing
here needs ../shared/data; each takes a second or two.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import lstmlab
from lstmlab.inspect import page
from lstmlab.inspect.inspection import TOP_KEPT, WORD_FEATURES, find_units, word_features
from lstmlab.lm.trained import WordLanguageModel
from lstmlab.tokenizers import EOS, PAD, PAD_ID, UNK_ID

from tests.browser import headless_browser, page_errors

QUIET = dict(log=lambda line: None, show_progress=False)
TINY = dict(max_steps=20, hidden_sizes=(24, 16), embed_dim=8, batch_size=8, seq_len=16, eval_every=10)
# "zebra" is not in the corpus: it reads as <unk>.
TEXT = 'He said "go to the door (quietly)," and zebra laughed. She waited.'


def made_up_sentences(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    subjects = ["the man", "the old woman", "he", "she", "the student", "the clerk", "they"]
    verbs = ["said", "went", "looked", "laughed", "thought", "ran", "waited", "go"]
    objects = ["to the door", "at the window", "into the street", "for a while", "(quietly)", "again", "and left"]
    sentences = []
    for _ in range(count):
        sentence = f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}"
        if rng.random() < 0.3:
            sentence = f'"{sentence}," {rng.choice(subjects)} {rng.choice(verbs)}'
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
    return sentences


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("word-inspect")
    (folder / "corpus.txt").write_text(" ".join(made_up_sentences(1500)) + "\n", encoding="utf-8")
    lstmlab.train(str(folder / "corpus.txt"), folder / "run", level="word", **TINY, **QUIET)
    return folder / "run"


@pytest.fixture(scope="module")
def lm(run) -> WordLanguageModel:
    return lstmlab.load(run, device="cpu")


@pytest.fixture(scope="module")
def seen(lm):
    return lm.inspect(TEXT, warn=None)


def forward_log_probs(lm, ids: np.ndarray) -> torch.Tensor:
    """(T + 1, V) log p(next word) from the model's forward pass, row 0 from the all-zero state:
    computed here apart from inspect (one pass, no chunks, no trace)."""
    lm.model.eval()
    with torch.no_grad():
        scores, _ = lm.model(torch.from_numpy(ids).long()[None])
        start = lm.model.next_logits(torch.zeros(1, 0, dtype=torch.long))
    return torch.log_softmax(torch.cat([start, scores[0]]).double(), dim=-1)


# ---------------------------------------------------------------------------
# The Python API
# ---------------------------------------------------------------------------


def test_one_element_per_word_and_the_text_as_generation_writes_it(lm, seen):
    tokens = lm.tokenize(TEXT)
    assert seen.level == "word" and seen.noun == "word" and seen.bits_unit == "bits/word"
    assert list(seen.tokens) == tokens and len(seen) == len(tokens) == len(seen.ids) == len(seen.surprise_bits)
    assert "zebra" in tokens and seen.ids[tokens.index("zebra")] == UNK_ID
    np.testing.assert_array_equal(seen.ids, lm.encode(lm.normalize(TEXT), warn=None))
    # Spaces put back as generation puts them: none after an opening quote or "(", none before "," or ".".
    assert seen.text == 'he said "go to the door (quietly)," and zebra laughed. she waited.'
    assert seen.text == lm.tokenizer.join(tokens) and "".join(seen.pieces) == seen.text
    assert seen.pieces[:4] == ("he", " said", ' "', "go")
    for layer, size in zip(seen.gates, (24, 16)):
        assert all(values.shape == (len(tokens), size) for values in layer.values())
    frame = seen.to_frame(layer=1, units=[0])
    assert list(frame["word"]) == tokens and "char" not in frame


def test_surprise_is_minus_log2_of_the_forward_pass_probability(lm, seen):
    logp = forward_log_probs(lm, seen.ids)
    expected = -logp[torch.arange(len(seen)), torch.from_numpy(seen.ids)].numpy() / math.log(2)
    np.testing.assert_allclose(seen.surprise_bits, expected, rtol=1e-6, atol=1e-9)
    assert seen.surprise_bits.mean() > 0.5  # a barely trained model is unsure: not a table of zeros
    # The gates are the cells' own: the last cell state is the forward pass's final state.
    with torch.no_grad():
        _, state = lm.model(torch.from_numpy(seen.ids).long()[None])
    np.testing.assert_allclose(seen.gates[1]["cell"][-1], state[1][1][0, 0].numpy(), atol=1e-6)


def test_top_predictions_are_the_likeliest_words(lm, seen):
    logp = forward_log_probs(lm, seen.ids)
    for position in (-1, 0, 5, len(seen) - 1):
        top = seen.top_predictions(position, 5)
        row = logp[position + 1].exp().numpy().copy()
        row[PAD_ID] = -1  # padding is never a next word
        best = np.argsort(-row, kind="stable")[:5]
        assert [word for word, _ in top] == [lm.tokenizer.symbols[i] for i in best]
        np.testing.assert_allclose([p for _, p in top], row[best], rtol=1e-6)
        assert all(word in lm.tokenizer and word != PAD for word, _ in top)
    # After the whole text: the same words as next_word_probs (which renormalises without <pad>).
    assert [w for w, _ in seen.top_predictions(len(seen) - 1)] == list(lm.next_word_probs(TEXT, top=5, warn=None))
    assert len(seen.top_predictions(0, TOP_KEPT)) == TOP_KEPT
    with pytest.raises(lstmlab.LstmlabError, match=f"keeps the {TOP_KEPT} likeliest"):
        seen.top_predictions(0, TOP_KEPT + 1)


def test_only_the_needed_predictions_are_kept_and_reading_in_chunks_changes_nothing(lm, seen, monkeypatch):
    # No (T + 1, V) table: the actual word's probability and the TOP_KEPT likeliest per position.
    assert seen.probs is None
    assert seen.predictions.actual.shape == (len(seen),)
    assert seen.predictions.top_ids.shape == seen.predictions.top_probs.shape == (len(seen) + 1, TOP_KEPT)
    # A vocabulary so big that one word fits the score budget: one trace per word, state carried.
    calls = []
    trace = lm.model.trace
    monkeypatch.setattr(lm.model, "trace", lambda ids, state=None: calls.append(ids.shape[1]) or trace(ids, state))
    monkeypatch.setattr(lm, "inspect_chunk_values", 1)
    chunked = lm.inspect(TEXT, warn=None)
    assert calls == [1] * len(seen)
    np.testing.assert_allclose(chunked.surprise_bits, seen.surprise_bits, rtol=1e-6)
    np.testing.assert_array_equal(chunked.predictions.top_ids, seen.predictions.top_ids)
    for layer, chunked_layer in zip(seen.gates, chunked.gates):
        for name, values in layer.items():
            np.testing.assert_allclose(chunked_layer[name], values, atol=1e-6)


def test_empty_text_is_a_clear_error(lm):
    for text in ("", "   \n  "):
        with pytest.raises(lstmlab.LstmlabError, match="there is no text to inspect"):
            lm.inspect(text)


def test_word_features_replace_the_character_ones():
    tokens = ["he", "said", '"', "go", "(", "now", ")", ",", '"', "and", "left", ".", "``", "hi", "''", EOS, "ok"]
    f = word_features(tokens)
    assert set(f) == set(WORD_FEATURES)
    assert list(f["in_quotes"]) == [0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0]
    assert list(f["in_parens"]) == [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert list(f["punctuation"]) == [0, 0, 1, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0]
    # Words since the sentence began: "." and a line end (<eos>) close one.
    assert list(f["sentence_position"]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 0]


def test_find_units_ranks_units_by_the_word_features(seen):
    matches = find_units(seen, top=2)
    assert matches and {m.feature for m in matches} <= set(WORD_FEATURES)
    assert {"sentence_position", "punctuation", "in_quotes", "in_parens"} == {m.feature for m in matches}


def test_a_pre_tokenized_run_reads_line_ends_as_eos(tmp_path):
    lines = [" ".join(s.lower().replace(".", " .").replace(",", " ,").split()) for s in made_up_sentences(300, seed=1)]
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    lm = lstmlab.train(str(tmp_path / "corpus.txt"), tmp_path / "run", level="word", tokenizer="whitespace",
                       **{**TINY, "max_steps": 3}, **QUIET)
    seen = lm.inspect("he said again .\nshe went", warn=None)
    assert seen.tokens == ("he", "said", "again", ".", EOS, "she", "went")
    assert seen.pieces == ("he", " said", " again", " .", "\n", "she", " went")
    assert seen.text == "he said again .\nshe went"
    logp = forward_log_probs(lm, seen.ids)
    np.testing.assert_allclose(seen.surprise_bits, -logp[torch.arange(7), torch.from_numpy(seen.ids)].numpy() / math.log(2),
                               rtol=1e-6)


# ---------------------------------------------------------------------------
# The page, the PNG and the command line
# ---------------------------------------------------------------------------


def page_json(path: Path) -> dict:
    source = path.read_text(encoding="utf-8")
    start = source.index('id="lstmlab-data">') + len('id="lstmlab-data">')
    return json.loads(source[start: source.index("</script>", start)])


def test_page_speaks_of_words_and_bits_per_word(seen, tmp_path):
    written = page.write_page(seen, tmp_path / "words.html", units=[0, 3], find=True)
    source = written.html.read_text(encoding="utf-8")
    assert f"{len(seen)} words · mean surprise" in source and "bits/word" in source
    assert "bits/char" not in source and "p(word | everything before it)" in source
    assert "1 word(s)" in source and "unknown symbol &lt;unk&gt;" in source
    assert written.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = page_json(written.html)
    assert data["level"] == "word" and data["tokens"] == list(seen.tokens) and data["pieces"] == list(seen.pieces)
    assert data["unknown"] == [seen.tokens.index("zebra")]
    assert len(data["surprise"]) == len(seen) and len(data["top_ids"]) == len(seen) + 1
    # Only the words the guesses name travel; top_ids index them.
    assert len(data["symbols"]) < len(seen.symbols)
    for position in (-1, 4):
        names = [data["symbols"][i] for i in data["top_ids"][position + 1]]
        assert names == [w for w, _ in seen.top_predictions(position)]
        np.testing.assert_allclose(data["top_probs"][position + 1], [p for _, p in seen.top_predictions(position)])


def test_cli_inspects_a_word_run(cli, run, tmp_path):
    out = tmp_path / "page.html"
    code, stdout, stderr = cli("inspect", run, "--text", TEXT, "--out", out, "--find")
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].startswith("units that track features of the text")
    assert any(line.split()[:1] == ["sentence_position"] for line in lines)
    n = len(lstmlab.load(run, device="cpu").tokenize(TEXT))
    assert f"read {n} words: mean surprise " in stdout and " bits/word; showing layer " in stdout
    assert f"wrote {out} and {out.with_suffix('.png')}" in stdout
    assert out.is_file() and out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "'zebra'" in stderr and "<unk>" in stderr  # the unknown word is named once, as a warning


@pytest.mark.parametrize("text", ["", "  \n "])
def test_cli_empty_text_is_a_one_line_error(cli, run, tmp_path, text):
    out = tmp_path / "page.html"
    code, stdout, stderr = cli("inspect", run, "--text", text, "--out", out)
    assert code == 2 and stdout == ""
    assert stderr.startswith("lstmlab inspect: error: ") and stderr.count("\n") == 1 and "no text to inspect" in stderr
    assert not out.exists()


def test_post_v1_inspect_answers_for_a_word_model(run, seen):
    from fastapi.testclient import TestClient

    from lstmlab.serve.app import create_app
    from lstmlab.serve.models import load_served

    with TestClient(create_app(load_served([f"words={run}"], device="cpu"))) as client:
        response = client.post("/v1/inspect", json={"model": "words", "text": TEXT})
        empty = client.post("/v1/inspect", json={"model": "words", "text": ""})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["level"] == "word" and data["tokens"] == list(seen.tokens) and data["text"] == seen.text
    np.testing.assert_allclose(data["surprise"], seen.surprise_bits, rtol=1e-9)
    assert [data["symbols"][i] for i in data["top_ids"][0]] == [w for w, _ in seen.top_predictions(-1)]
    assert {"hidden", "cell", "forget"} <= set(data["layers"][0]["signals"])
    assert empty.status_code == 422 and "text is empty" in empty.json()["error"]["message"]


@pytest.mark.slow  # Chromium
def test_the_page_in_a_browser_shows_one_element_per_word(seen, tmp_path):
    written = page.write_page(seen, tmp_path / "browser.html", units=[0, 3])
    with headless_browser() as browser:
        browser.open(written.html)
        assert browser.evaluate("document.body.dataset.ready") == "1" and page_errors(browser) == []
        words = browser.evaluate("Array.from(document.querySelectorAll('#text .ch')).map(s => s.textContent)")
        assert words == list(seen.tokens)
        assert browser.evaluate("document.getElementById('text').textContent") == seen.text
        unknown = browser.evaluate("Array.from(document.querySelectorAll('#text .ch.unk')).map(s => s.textContent)")
        assert unknown == ["zebra"]
        shown = browser.evaluate("""(() => {
            document.querySelector('#text .ch[data-i="3"]').click();
            return {heading: document.querySelector('#panel h2').textContent,
                    guesses: document.querySelector('#panel h3').textContent,
                    surprise: document.getElementById('surprise').textContent,
                    next: document.getElementById('actual-next').textContent,
                    top: Array.from(document.querySelectorAll('#top5 li')).map(li => li.dataset.symbol)};
        })()""")
        assert shown["heading"].startswith("Word 4 of ") and shown["guesses"] == "Next-word guesses after reading it"
        assert float(shown["surprise"].removesuffix(" bits")) == pytest.approx(seen.surprise_bits[3], abs=0.005 + 1e-9)
        assert shown["next"] == seen.tokens[4]
        assert shown["top"] == [w for w, _ in seen.top_predictions(3)]
        assert page_errors(browser) == []

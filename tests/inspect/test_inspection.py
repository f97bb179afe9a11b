"""The notebook API behind `lstmlab inspect`: features, unit ranking, predictions."""

import numpy as np
import pytest
import torch

import lstmlab
from lstmlab.cells import CELLS
from lstmlab.inspect.inspection import Inspection, find_units, text_features


def test_text_features_mark_quotes_parentheses_words_and_columns():
    text = 'ab "cd" (e)\nf'
    f = text_features(text)
    assert list(f["in_quotes"]) == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert list(f["in_parens"]) == [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0]
    assert list(f["word_start"]) == [1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1]
    assert list(f["line_position"]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0]


def _fake_inspection(text: str, hidden: np.ndarray) -> Inspection:
    T, H = hidden.shape
    gates = [{"hidden": hidden, "cell": np.zeros((T, H))}]
    probs = np.full((T + 1, 3), 1 / 3)
    return Inspection(text, np.zeros(T, dtype=np.int64), ("\ufffd", "a", "b"), "lstm", gates, probs)


def test_find_units_ranks_the_unit_that_tracks_a_feature_first():
    text = 'he said "come here (now)" and left\nthen "go" she said\n' * 3
    features = text_features(text)
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(len(text), 6))
    hidden[:, 4] = features["in_quotes"] + 0.1 * rng.normal(size=len(text))  # a "quote cell"
    hidden[:, 2] = -features["line_position"] / 30 + 0.1 * rng.normal(size=len(text))  # falls along the line
    matches = find_units(_fake_inspection(text, hidden), top=3)
    best = {}  # the first (best) match per feature
    for m in matches:
        best.setdefault(m.feature, m)
    assert (best["in_quotes"].unit, best["in_quotes"].signal) == (4, "hidden")
    assert best["in_quotes"].correlation > 0.9
    assert best["line_position"].unit == 2 and best["line_position"].correlation < -0.9
    # Constant signals (the all-zero cell state here) never rank above a real one.
    assert all(m.signal == "hidden" for m in matches if abs(m.correlation) > 0)


def test_find_units_leaves_out_features_the_text_never_shows():
    text = "no quotes or brackets in here at all\n" * 2
    matches = find_units(_fake_inspection(text, np.random.default_rng(1).normal(size=(len(text), 4))))
    assert {m.feature for m in matches} == {"line_position", "word_start"}


@pytest.fixture(scope="module")
def lm(tmp_path_factory, shakespeare_slice):
    run = tmp_path_factory.mktemp("inspection") / "run"
    return lstmlab.train(str(shakespeare_slice), run, max_steps=20, hidden_sizes=(24, 16), embed_dim=8, batch_size=8,
                         seq_len=32, eval_every=10, show_progress=False, log=lambda _: None)


def test_inspect_agrees_with_the_models_forward_pass(lm):
    text = "ROMEO:\nBut soft, what light"
    seen = lm.inspect(text)
    assert len(seen) == len(text) and len(seen.gates) == 2
    assert set(seen.gates[0]) == set(CELLS["lstm"].signal_names()) and seen.gates[1]["hidden"].shape == (len(text), 16)
    ids = torch.from_numpy(lm.vocab.encode(text)).long()[None]
    with torch.no_grad():
        logits, state = lm.model(ids)
    np.testing.assert_allclose(seen.probs[1:], torch.softmax(logits[0].double(), -1).numpy(), atol=1e-6)
    np.testing.assert_allclose(seen.gates[1]["cell"][-1], state[1][1][0, 0].numpy(), atol=1e-6)
    # Surprise is -log2 of the probability the model gave each actual character.
    assert seen.surprise_bits[3] == pytest.approx(-np.log2(seen.probs[3, seen.ids[3]]))
    top = seen.top_predictions(4)
    assert len(top) == 5 and [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert top[0][1] == pytest.approx(seen.probs[5].max())


def test_next_char_probs_cover_the_vocabulary(lm):
    probs = lm.next_char_probs("ROMEO")
    assert set(probs) == set(lm.vocab.symbols)
    assert sum(probs.values()) == pytest.approx(1.0)
    assert max(probs, key=probs.get) == lm.generate("ROMEO", length=1, temperature=0)[-1]


def test_to_frame_and_unit_checks(lm):
    seen = lm.inspect("To be, or not")
    frame = seen.to_frame(layer=0, units=[1, 5])
    assert list(frame["char"]) == list("To be, or not")
    np.testing.assert_allclose(frame["forget[5]"], seen.signal(0, 5, "forget"))
    with pytest.raises(lstmlab.LstmlabError, match="units 0..23"):
        seen.signal(0, 24)
    with pytest.raises(lstmlab.LstmlabError, match="no 'reset'"):
        seen.signal(0, 1, "reset")

"""Vocabulary round trips, the prepared-corpus files and the batch layouts."""

import json
from collections import Counter

import numpy as np
import pytest
import torch

from lstmlab.lm.config import DataConfig
from lstmlab.lm.data import PreparedCorpus, StreamBatches, WindowBatches, eval_streams, eval_windows
from lstmlab.lm.prepare import prepare
from lstmlab.errors import LstmlabError
from lstmlab.lm.vocab import UNKNOWN_CHAR, CharVocab, count_chars

from tests.helpers import shared_file


def test_vocab_round_trip_on_real_text(tmp_path):
    text = shared_file("text/crime_and_punishment.txt").read_text(encoding="utf-8-sig")[:200_000]
    vocab = CharVocab.build(count_chars(text))
    assert vocab.symbols[0] == UNKNOWN_CHAR and list(vocab.symbols[1:]) == sorted(set(text))
    ids = vocab.encode(text)
    assert vocab.decode(ids) == text
    (tmp_path / "vocab.json").write_text(vocab.to_json(), encoding="utf-8")
    assert CharVocab.load(tmp_path / "vocab.json") == vocab


def test_rare_and_unseen_characters_map_to_unknown():
    vocab = CharVocab.build(Counter("aaabbbc"), min_count=2)
    assert vocab.symbols == (UNKNOWN_CHAR, "a", "b")
    assert vocab.encode("abcz").tolist() == [1, 2, 0, 0]
    assert vocab.unknown_chars("abczc") == ["c", "z"]
    assert vocab.decode([1, 0]) == "a" + UNKNOWN_CHAR


def test_count_chars_matches_counter():
    text = "héllo wörld 🙂\n" * 100
    assert count_chars(text) == Counter(text)


def test_prepare_writes_memmap_vocab_and_split(tmp_path):
    source = shared_file("text/macbeth.txt")
    prepared = prepare(DataConfig(source=str(source), lowercase=True), tmp_path / "data", report=None)
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert isinstance(prepared.tokens, np.memmap) and prepared.tokens.dtype == np.uint8
    assert meta["num_chars"] == len(prepared.tokens) == prepared.train_chars + len(prepared.val)
    # The last 10% (rounded) is validation.
    assert len(prepared.val) == round(meta["num_chars"] * 0.1)
    text = prepared.vocab.decode(prepared.tokens)
    assert text.startswith("macbeth") and text == text.lower() and "small print" not in text
    assert PreparedCorpus.open(tmp_path / "data").train_chars == prepared.train_chars


def test_prepare_prints_statistics(tmp_path):
    lines = []
    prepare(DataConfig(source=str(shared_file("text/macbeth.txt"))), tmp_path / "d", report=lines.append)
    report = lines[0]
    assert "characters:" in report and "vocabulary:" in report and "frequencies:" in report
    # The most frequent character (space) is listed first.
    assert report.split("frequencies:\n")[1].strip().startswith("' '")


def test_truncated_tokens_file_is_reported(tmp_path):
    prepare(DataConfig(source=str(shared_file("text/macbeth.txt"))), tmp_path / "d", report=None)
    path = tmp_path / "d" / "tokens.bin"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(LstmlabError, match="truncated.*lstmlab prepare"):
        PreparedCorpus.open(tmp_path / "d")


def test_stream_batches_continue_row_by_row():
    tokens = np.arange(1000, dtype=np.int64)  # each "character" is its own position
    batches = StreamBatches(tokens, batch_size=4, seq_len=10, seed=0)
    x0, y0 = batches.batch(epoch=0, index=0)
    x1, y1 = batches.batch(epoch=0, index=1)
    assert x0.shape == y0.shape == (4, 10) and x0.dtype == torch.int64
    # Targets are the inputs shifted by one character.
    assert torch.equal(y0[:, :-1], x0[:, 1:])
    # Row b of batch 1 continues row b of batch 0: the carried state reads unbroken text.
    assert torch.equal(x1[:, 0], y0[:, -1])
    # Rows are disjoint stretches of the text, one stream length apart.
    assert torch.all(x0[1:, 0] - x0[:-1, 0] == batches.stream_len)
    # Each epoch starts at an offset below seq_len, the same for the same seed.
    offsets = {int(batches.batch(epoch, 0)[0][0, 0]) for epoch in range(20)}
    assert len(offsets) > 1 and max(offsets) < 10
    assert torch.equal(batches.batch(3, 0)[0], StreamBatches(tokens, 4, 10, 0).batch(3, 0)[0])


def test_stream_batches_never_read_past_the_end():
    tokens = np.arange(10_000, dtype=np.int64)
    batches = StreamBatches(tokens, batch_size=7, seq_len=13, seed=1)
    for epoch in range(5):
        x, y = batches.batch(epoch, batches.steps_per_epoch - 1)
        assert int(y.max()) < len(tokens)
        assert torch.equal(y, x + 1)  # consecutive text, no wrap-around


def test_window_batches_match_the_seeds_layout():
    tokens = np.arange(500, dtype=np.int64)
    batches = WindowBatches(tokens, batch_size=8, window=50, step=3, seed=0)
    assert len(batches.starts) == len(range(0, 500 - 50, 3))
    x, y = batches.batch(0, 0)
    assert x.shape == (8, 50) and y.shape == (8,)
    assert torch.all(x[:, 0] % 3 == 0)  # windows start every `step` characters
    assert torch.equal(y, x[:, -1] + 1)  # the target is the character after the window


def test_eval_streams_score_every_character_once():
    tokens = np.arange(1001, dtype=np.int64)
    targets = torch.cat([y.reshape(-1) for _, y in eval_streams(tokens, seq_len=16, max_streams=8)])
    assert sorted(targets.tolist()) == list(range(1, 1001))
    windows = list(eval_windows(tokens, window=50, step=3))
    assert sum(len(y) for _, y in windows) == len(range(0, 1001 - 50, 3))


def test_corpus_shorter_than_a_batch_is_a_clear_error():
    with pytest.raises(LstmlabError, match="too short.*--seq-len"):
        StreamBatches(np.arange(100, dtype=np.int64), batch_size=4, seq_len=50, seed=0)

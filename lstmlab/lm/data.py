"""Prepared corpora on disk and the batch layouts the trainer reads from them.

A prepared corpus is a folder:

    tokens.bin   every character's id, one small unsigned integer each (raw, no header)
    vocab.json   the symbols (see vocab.py)
    meta.json    dtype, sizes, where train ends, and the cleaning settings used

prepare.py writes it. A word-level corpus (--level word, see words.py) has tokenizer.json instead of
vocab.json, and tokens.bin holds word ids.

tokens.bin is opened with numpy.memmap, so a 1 GB corpus trains without being
loaded into memory: each batch reads only the rows it needs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import torch

from ..errors import LstmlabError
from ..tokenizers import Tokenizer, load_tokenizer
from .config import DataConfig
from .vocab import CharVocab

META_FORMAT = 1


@dataclass
class PreparedCorpus:
    folder: Path
    vocab: Union[CharVocab, Tokenizer]  # a WordTokenizer for --level word
    tokens: np.ndarray  # (N,) memmap of ids
    train_chars: int  # tokens in the training part (characters, or words at word level)
    data_config: DataConfig

    @property
    def level(self) -> str:
        return self.data_config.level

    @property
    def train(self) -> np.ndarray:
        return self.tokens[: self.train_chars]

    @property
    def val(self) -> np.ndarray:
        return self.tokens[self.train_chars :]

    @classmethod
    def open(cls, folder: Path) -> "PreparedCorpus":
        folder = Path(folder)
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            dtype = np.dtype(meta["dtype"])
            if "num_tokens" in meta:  # word level
                num_chars, train_chars = int(meta["num_tokens"]), int(meta["train_tokens"])
            else:
                num_chars, train_chars = int(meta["num_chars"]), int(meta["train_chars"])
            data_config = DataConfig(**meta["data"])
        except FileNotFoundError:
            raise LstmlabError(f"{folder} is not a prepared corpus (no meta.json); run `lstmlab prepare` on the text first") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise LstmlabError(f"{folder}/meta.json is corrupt ({exc}); run `lstmlab prepare` again") from None
        if data_config.level == "word":
            vocab = load_tokenizer(folder / "tokenizer.json")
        else:
            vocab = CharVocab.load(folder / "vocab.json")
        path = folder / "tokens.bin"
        expected = num_chars * dtype.itemsize
        if not path.exists() or path.stat().st_size != expected:
            raise LstmlabError(f"{path} is missing or truncated (expected {expected:,} bytes); run `lstmlab prepare` again")
        tokens = np.memmap(path, dtype=dtype, mode="r", shape=(num_chars,))
        return cls(folder, vocab, tokens, train_chars, data_config)


def is_prepared(path: str | os.PathLike) -> bool:
    return (Path(path) / "meta.json").is_file() and (Path(path) / "tokens.bin").is_file()


# ---------------------------------------------------------------------------
# Batch layouts
# ---------------------------------------------------------------------------


class StreamBatches:
    """Truncated BPTT: B parallel streams read left to right in chunks of T.

        text:      a b c d e f g h i j k l m n o p q r s t u v w x y
        offset 1 ->  b c d e f g h i | j k l m n o p q | r s t u v w x y
                     stream 0          stream 1          stream 2     (B = 3, L = 8)

        batch 0 = columns [0, T) of each stream, batch 1 = [T, 2T), ...

    Row b of batch i continues row b of batch i-1, so the hidden state carried
    from one batch to the next has read one unbroken text. Targets are the
    inputs shifted by one character, so every position is a target. Each epoch
    starts at a different offset in [0, T) so chunk boundaries move.
    """

    def __init__(self, tokens: np.ndarray, batch_size: int, seq_len: int, seed: int, unit: str = "characters"):
        self.tokens, self.B, self.T, self.seed = tokens, batch_size, seq_len, seed
        self.stream_len = (len(tokens) - seq_len - 1) // batch_size
        self.steps_per_epoch = self.stream_len // seq_len
        if self.steps_per_epoch < 1:
            raise LstmlabError(
                f"the training text has {len(tokens):,} {unit}, too short for {batch_size} streams of "
                f"--seq-len {seq_len} (needs at least {(batch_size + 1) * seq_len + 1:,}); "
                f"lower --batch-size or --seq-len, or use a longer text"
            )

    def batch(self, epoch: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        offset = int(np.random.default_rng([self.seed, epoch]).integers(self.T))
        starts = offset + np.arange(self.B) * self.stream_len + index * self.T
        rows = np.asarray(self.tokens[starts[:, None] + np.arange(self.T + 1)], dtype=np.int64)  # (B, T+1)
        rows = torch.from_numpy(rows)
        return rows[:, :-1], rows[:, 1:]


class VariableStreamBatches(StreamBatches):
    """StreamBatches whose chunks vary in length (AWD-LSTM's variable back-propagation length):
    the same B streams and the same number of batches an epoch, but each epoch cuts the streams
    at new places. Lengths are drawn as AWD-LSTM draws them (T with probability 0.95, else T/2,
    spread by N(0, 5), at least 5) and then scaled so that an epoch's chunks still cover
    steps_per_epoch * T positions of each stream; so the boundaries fall everywhere and every
    position is still read once an epoch. The trainer scales the learning rate by length / T
    (task.lr_factor). Drawn from (seed, epoch), so a resumed run reads the same batches."""

    def cuts(self, epoch: int) -> np.ndarray:
        """(steps_per_epoch + 1,) chunk boundaries within each stream, from 0 to steps * T."""
        rng = np.random.default_rng([self.seed, epoch, 1])
        n = self.steps_per_epoch
        base = np.where(rng.random(n) < 0.95, float(self.T), self.T / 2.0)
        lengths = np.maximum(5.0, rng.normal(base, 5.0))
        ends = np.cumsum(lengths)
        # Every chunk gets one position, and the rest of the n * T in proportion to its length, so
        # that none is empty however short --seq-len is.
        return np.arange(n + 1) + np.concatenate([[0], np.round(ends / ends[-1] * (n * self.T - n))]).astype(np.int64)

    def batch(self, epoch: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        cuts = self.cuts(epoch)
        begin, end = int(cuts[index]), int(cuts[index + 1])
        offset = int(np.random.default_rng([self.seed, epoch]).integers(self.T))
        starts = offset + np.arange(self.B) * self.stream_len + begin
        rows = np.asarray(self.tokens[starts[:, None] + np.arange(end - begin + 1)], dtype=np.int64)
        rows = torch.from_numpy(rows)
        return rows[:, :-1], rows[:, 1:]


class WindowBatches:
    """The seeds' layout: windows of W characters every `step` characters,
    shuffled each epoch; the target is the one character after each window."""

    def __init__(self, tokens: np.ndarray, batch_size: int, window: int, step: int, seed: int, unit: str = "characters"):
        self.tokens, self.B, self.W, self.seed = tokens, batch_size, window, seed
        self.starts = np.arange(0, len(tokens) - window, step)
        self.steps_per_epoch = len(self.starts) // batch_size
        if self.steps_per_epoch < 1:
            raise LstmlabError(
                f"the training text has {len(tokens):,} {unit}, too short for one batch of {batch_size} "
                f"windows of {window}; lower --batch-size or --window, or use a longer text"
            )

    def batch(self, epoch: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.starts))
        starts = self.starts[order[index * self.B : (index + 1) * self.B]]
        x = np.asarray(self.tokens[starts[:, None] + np.arange(self.W)], dtype=np.int64)  # (B, W)
        y = np.asarray(self.tokens[starts + self.W], dtype=np.int64)  # (B,)
        return torch.from_numpy(x), torch.from_numpy(y)


def eval_streams(tokens: np.ndarray, seq_len: int, max_streams: int = 64):
    """Split held-out text into up to `max_streams` streams and yield (x, y)
    chunks of at most seq_len columns, so each character (but the last few that
    do not fill a stream) is scored exactly once with all its left context in
    the stream."""
    n = len(tokens) - 1
    streams = max(1, min(max_streams, n // max(seq_len, 1)))
    stream_len = n // streams
    if stream_len < 1:
        return
    starts = np.arange(streams) * stream_len
    for col in range(0, stream_len, seq_len):
        width = min(seq_len, stream_len - col)
        rows = np.asarray(tokens[starts[:, None] + col + np.arange(width + 1)], dtype=np.int64)
        rows = torch.from_numpy(rows)
        yield rows[:, :-1], rows[:, 1:]


def eval_windows(tokens: np.ndarray, window: int, step: int, batch_size: int = 256):
    """The seeds' validation: every `step`-th window and its next character."""
    starts = np.arange(0, len(tokens) - window, step)
    for i in range(0, len(starts), batch_size):
        s = starts[i : i + batch_size]
        x = np.asarray(tokens[s[:, None] + np.arange(window)], dtype=np.int64)
        y = np.asarray(tokens[s + window], dtype=np.int64)
        yield torch.from_numpy(x), torch.from_numpy(y)

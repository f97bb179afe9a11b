"""SequenceClassifier: token ids -> class probabilities, for every cell.

    embedding (random, or word2vec/GloVe vectors) -> dropout
    -> recurrent layers from cells.make_layer, each optionally in both directions
    -> pooling over the real (unpadded) steps: max, mean, both, or the last step
    -> dropout -> linear head (softmax over the classes)

Padding never reaches a result:

- every cell reads right-padded batches: a causal cell's outputs at the real
  steps never see the padding after them, pooling masks the padded steps out,
  and the next layer reads zeros there;
- the backward direction reverses each sequence within its own length, runs
  the same kind of forward layer, and reverses its outputs back, so it too
  starts at a sequence's real last token, never at padding;
- with `packed` (--packed), nn.LSTM, nn.GRU and nn.RNN read packed sequences
  (torch.nn.utils.rnn.pack_padded_sequence) instead, so padding never even
  enters the cell. The results are the same (tests check both ways against a
  batch of one), but on CPU PyTorch 2.13 runs a packed batch through a
  per-step path whose backward pass zero-fills a whole gradient at every step:
  20x slower for 32 texts of 400 tokens (1.4 s against 0.07 s per layer), so
  it is off by default. Batches of similar lengths keep the padding small.

A batch is (ids (B, T) int64, right-padded with PAD_ID 0; lengths (B,) int64, each >= 1).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..cells import make_layer
from .config import ClassifierConfig
from ..errors import LstmlabError
from ..tokenizers import PAD_ID, UNK_ID

EMBED_INIT_STD = 0.1


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of x (B, T, ...) within its own length; padding stays at the end."""
    T = x.shape[1]
    steps = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
    last = (lengths.to(x.device) - 1).unsqueeze(1)  # (B, 1)
    index = torch.where(steps <= last, last - steps, steps)  # (B, T)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


def mask_of(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(B, T) bool: True at the real steps."""
    return torch.arange(T, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


class SequenceClassifier(nn.Module):
    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=PAD_ID)
        with torch.no_grad():
            nn.init.normal_(self.embedding.weight, std=EMBED_INIT_STD)
            self.embedding.weight[PAD_ID].zero_()
        self.embedding.weight.requires_grad_(not config.freeze_embeddings)
        directions = 2 if config.bidirectional else 1
        self.layers = nn.ModuleList()
        width = config.embed_dim
        for hidden in config.hidden_sizes:
            self.layers.append(nn.ModuleList(make_layer(config.cell, width, hidden) for _ in range(directions)))
            width = hidden * directions
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.features, config.num_classes)

    @property
    def device(self) -> torch.device:
        """Where the weights are; predict_proba moves its inputs here."""
        return self.head.weight.device

    def _run(self, layer: nn.Module, x: torch.Tensor, lengths: torch.Tensor, reverse: bool) -> torch.Tensor:
        if reverse:
            x = reverse_padded(x, lengths)
        if self.config.packed and isinstance(layer, nn.RNNBase):
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = layer(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        else:
            out, _ = layer(x)
        if reverse:
            out = reverse_padded(out, lengths)
        return out

    def sequence(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The last layer's outputs (B, T, features), zero at padded steps."""
        lengths = lengths.to(ids.device)
        mask = mask_of(lengths, ids.shape[1]).unsqueeze(-1)
        if self.training and self.config.word_dropout > 0:
            dropped = torch.rand(ids.shape, device=ids.device) < self.config.word_dropout
            ids = torch.where(dropped & mask.squeeze(-1), torch.full_like(ids, UNK_ID), ids)
        x = self.dropout(self.embedding(ids))
        for i, directions in enumerate(self.layers):
            if i:
                x = self.dropout(x)
            outs = [self._run(layer, x, lengths, reverse=bool(d)) for d, layer in enumerate(directions)]
            x = (torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]).float() * mask
        return x

    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The pooled vector (B, features) the head reads."""
        out = self.sequence(ids, lengths)
        lengths = lengths.to(out.device)
        pooling = self.config.pooling
        if pooling != "last":
            parts = []
            if pooling in ("mean", "mean+max"):
                parts.append(out.sum(1) / lengths.to(out.dtype).unsqueeze(1))
            if pooling in ("max", "mean+max"):
                mask = mask_of(lengths, ids.shape[1]).unsqueeze(-1)
                parts.append(out.masked_fill(~mask, float("-inf")).max(dim=1).values)
            return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
        # last: the forward direction ends at the last real token; the backward
        # direction ends (having read the whole sequence backwards) at the first.
        hidden = self.config.hidden_sizes[-1]
        rows = torch.arange(out.shape[0], device=out.device)
        last = out[rows, lengths - 1, :hidden]
        if not self.config.bidirectional:
            return last
        return torch.cat([last, out[:, 0, hidden:]], dim=-1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits (B, classes)."""
        return self.head(self.dropout(self.features(ids, lengths)))

    @torch.inference_mode()
    def predict_proba(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, classes) on the CPU, in evaluation mode (no dropout);
        ids and lengths may be anywhere: they are moved to the model's device."""
        was_training = self.training
        self.eval()
        try:
            logits = self.forward(ids.to(self.device), lengths.to(self.device))
            return torch.softmax(logits.float(), dim=-1).cpu()
        finally:
            self.train(was_training)


def collate(sequences: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, T) and lengths (B,); an empty sequence reads as one padding token."""
    lengths = np.array([max(len(s), 1) for s in sequences], dtype=np.int64)
    ids = np.full((len(sequences), int(lengths.max())), PAD_ID, dtype=np.int64)
    for row, s in enumerate(sequences):
        ids[row, : len(s)] = s
    return torch.from_numpy(ids), torch.from_numpy(lengths)


# ---------------------------------------------------------------------------
# Pretrained word vectors
# ---------------------------------------------------------------------------


def read_vectors(path: str, symbols: list[str], lowercase: bool) -> tuple[np.ndarray, np.ndarray]:
    """Vectors (V, D) float32 for `symbols` from a word2vec or GloVe *text* file
    (`word v1 v2 ...` per line; word2vec's "count dim" first line is skipped;
    .gz is read as gzip), and a (V,) bool array: which symbols were found.

    Only the vocabulary's words are kept, so a multi-gigabyte file costs time, not memory.
    A word the file lacks, but whose lowercased form it has, takes that vector.
    """
    file = Path(path)
    if not file.is_file():
        raise LstmlabError(f"no such embeddings file: {path} (a word2vec or GloVe text file)")
    wanted: dict[str, list[int]] = {}
    for i, symbol in enumerate(symbols):
        if i > 1:  # <pad> and <unk> have no pretrained vector
            wanted.setdefault(symbol, []).append(i)
            if not lowercase and symbol.lower() != symbol:
                wanted.setdefault(symbol.lower(), [])
    found: dict[str, np.ndarray] = {}
    dim = None
    opener = gzip.open if file.suffix == ".gz" else open
    try:
        with opener(file, "rt", encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh):
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if number == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue  # word2vec header
                if len(parts) < 2:
                    continue
                if dim is None:
                    dim = len(parts) - 1
                if len(parts) - 1 != dim:
                    raise LstmlabError(f"{path}, line {number + 1}: {len(parts) - 1} numbers where earlier lines have {dim}; "
                                       "is it a word2vec/GloVe text file (binary word2vec files are not read)?")
                word = parts[0]
                if word in wanted and word not in found:
                    try:
                        found[word] = np.asarray(parts[1:], dtype=np.float32)
                    except ValueError:
                        raise LstmlabError(f"{path}, line {number + 1}: not numbers after the word; "
                                           "is it a word2vec/GloVe text file (binary files are not read)?") from None
    except (OSError, EOFError) as exc:
        raise LstmlabError(f"cannot read {path} ({exc})") from None
    if dim is None:
        raise LstmlabError(f"{path} holds no vectors")
    vectors = np.zeros((len(symbols), dim), dtype=np.float32)
    hit = np.zeros(len(symbols), dtype=bool)
    for i, symbol in enumerate(symbols):
        vector = found.get(symbol)
        if vector is None and not lowercase:
            vector = found.get(symbol.lower())
        if i > 1 and vector is not None:
            vectors[i], hit[i] = vector, True
    return vectors, hit


def init_embedding(model: SequenceClassifier, vectors: np.ndarray, hit: np.ndarray, seed: int = 0) -> None:
    """Copy pretrained vectors in; words without one get random vectors of the same scale."""
    weight = model.embedding.weight
    with torch.no_grad():
        std = float(vectors[hit].std()) if hit.any() else EMBED_INIT_STD
        generator = torch.Generator().manual_seed(seed)
        fresh = torch.randn(weight.shape, generator=generator) * std
        weight.copy_(torch.where(torch.from_numpy(hit).unsqueeze(1), torch.from_numpy(vectors), fresh))
        weight[PAD_ID].zero_()


def coverage_text(hit: np.ndarray, token_counts: Optional[np.ndarray] = None) -> str:
    """'found 8,123 of 9,000 words (90.3%), 98.1% of training tokens'."""
    words = len(hit) - 2
    found = int(hit[2:].sum())
    text = f"found vectors for {found:,} of {words:,} vocabulary words ({found / max(words, 1):.1%})"
    if token_counts is not None and token_counts.sum():
        text += f", {token_counts[hit].sum() / token_counts.sum():.1%} of training tokens"
    return text

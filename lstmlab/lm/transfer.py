"""Starting from another run's weights (--init-from RUN): a language model continued on new text,
or (classify/) a classifier whose encoder is a language model's.

ULMFiT's first two stages (Howard & Ruder 2018): a language model pretrained on general text is
fine-tuned on the task's own text. The new text brings words (or characters) the pretrained
vocabulary lacks. They are appended after its symbols, so every id the run knew keeps its meaning
and its rows; a new symbol's rows (embedding, output weights and bias) start from the mean of the
known rows, as ULMFiT starts its new words, rather than from random numbers the trained layers
have never seen.

    source = SourceRun.open("runs/wiki")              # the run's config, vocabulary and best weights
    vocab, added = source.vocab.extended(counts, min_freq=2)     # tokenizers.py, vocab.py
    tensors = grown_tensors(source.tensors, source.config.model, len(vocab))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

from .. import checkpoint
from ..config import read_run_json
from ..errors import LstmlabError
from ..tokenizers import Tokenizer
from .config import ModelConfig, RunConfig
from .trained import load
from .vocab import CharVocab

Vocabulary = Union[CharVocab, Tokenizer]

# The model settings that fix the shapes of a run's weights: --init-from takes them from the run,
# and giving another value is an error. The rest (dropouts, regularisers) may change.
ARCHITECTURE = ("cell", "hidden_sizes", "embed_dim", "input", "tie_embeddings", "adaptive_softmax")
# Weights with one row per vocabulary symbol, grown with the vocabulary. The adaptive softmax's
# new symbols fall in its last cluster, whose output projection is the tail's last Linear.
EMBEDDING = "embedding.weight"
FULL_OUTPUT = ("head.weight", "head.bias")


@dataclass
class SourceRun:
    """A trained language model run to start from: its config, vocabulary and best weights (CPU)."""

    folder: Path
    config: RunConfig
    vocab: Vocabulary
    tensors: dict[str, torch.Tensor]

    @property
    def level(self) -> str:
        return self.config.data.level

    @classmethod
    def open(cls, folder: Union[str, Path]) -> "SourceRun":
        folder = Path(folder)
        if not folder.is_dir():
            raise LstmlabError(f"--init-from {folder}: no such run folder; give a language model's run folder "
                               "(made by lstmlab train)")
        raw = read_run_json(folder / "config.json", "lstmlab train")
        kind = raw.get("kind")
        if kind is not None:
            raise LstmlabError(f"--init-from {folder} is a {kind} run; it needs a language model's run folder "
                               "(made by lstmlab train)")
        model = load(folder, device="cpu")
        tensors = checkpoint.model_tensors(model.model)
        return cls(folder, model.config, model.vocab, {k: v.detach().clone() for k, v in tensors.items()})


def grown_tensors(tensors: dict[str, torch.Tensor], model: ModelConfig, vocab_size: int) -> dict[str, torch.Tensor]:
    """A run's weights for a vocabulary grown to `vocab_size` symbols (the old ones first): every
    per-symbol row of the new symbols is the mean of the old rows. `model` is the run's config."""
    old = model.vocab_size
    added = vocab_size - old
    if added < 0:
        raise ValueError(f"a vocabulary only grows: {old} -> {vocab_size}")
    if added == 0:
        return dict(tensors)
    if model.input != "embedding":  # a fixed table (one-hot, scaled-id) is made for its vocabulary's size
        raise LstmlabError(f"--init-from cannot grow the vocabulary of a model with --input {model.input} (a fixed "
                           "table made for its size); give text whose symbols the run knows")
    rows = [EMBEDDING]
    if model.adaptive_softmax:
        # The last cluster's projection to its words: tail.{k}.1.weight, k the last cluster.
        rows.append(f"head.tail.{len(model.adaptive_softmax) - 1}.1.weight")
    else:  # a tied head's weight is the embedding's (not saved twice); its bias is its own
        rows.extend(name for name in FULL_OUTPUT if name in tensors)
    grown = dict(tensors)
    for name in rows:
        weight = tensors[name]
        mean = weight.float().mean(dim=0, keepdim=True).to(weight.dtype)
        grown[name] = torch.cat([weight, mean.expand(added, *weight.shape[1:])])
    return grown


def known_share(ids: np.ndarray, known_size: int, unknown_id: int) -> float:
    """The share of `ids` (a text's training part, encoded with the grown vocabulary) that the
    run's own vocabulary of `known_size` symbols already named: not added, and not unknown."""
    if len(ids) == 0:
        return 0.0
    known = (ids < known_size) & (ids != unknown_id)
    return float(np.count_nonzero(known) / len(ids))


LEVEL_NAMES = {"char": "character", "word": "word"}


def check_level(source: SourceRun, level: Optional[str], what: str) -> None:
    """A character run cannot start a word-level model, nor the reverse."""
    if level is not None and level != source.level:
        raise LstmlabError(f"--init-from {source.folder} is a {LEVEL_NAMES[source.level]}-level language model, but "
                           f"{what} is {LEVEL_NAMES[level]}-level; give --level {source.level} (or drop --level), or "
                           f"a {LEVEL_NAMES[level]}-level run")

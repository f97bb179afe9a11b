"""The language-modelling task (characters or words), as the generic Trainer sees it.

A task tells the trainer how to fetch batch `index` of epoch `epoch`, how to
turn a batch into a loss (threading any recurrent state it carries from one
batch to the next), and how to score held-out data. The trainer itself never
knows about characters, cells or objectives.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .config import TrainConfig
from .data import PreparedCorpus, StreamBatches, WindowBatches, eval_streams, eval_windows
from .errors import LstmlabError
from .model import RecurrentLM, State

LN2 = math.log(2.0)


class LanguageModelTask:
    def __init__(self, corpus: PreparedCorpus, config: TrainConfig):
        self.config = config
        # Ids are ids: a word-level corpus trains the same way; only the units reported differ.
        self.unit = "word" if corpus.level == "word" else "char"
        units = "words" if self.unit == "word" else "characters"
        if config.objective == "tbptt":
            self.batches = StreamBatches(corpus.train, config.batch_size, config.seq_len, config.seed, unit=units)
            self.chars_per_step = config.batch_size * config.seq_len
        else:
            self.batches = WindowBatches(corpus.train, config.batch_size, config.window, config.step, config.seed,
                                         unit=units)
            self.chars_per_step = config.batch_size * config.window
        self.steps_per_epoch = self.batches.steps_per_epoch
        self.val = corpus.val[: config.eval_chars] if config.eval_chars else corpus.val
        needed = config.window + 1 if config.objective == "window" else 2
        if len(self.val) < needed:
            raise LstmlabError(
                f"only {len(self.val)} validation {units}; raise --val-fraction or use a longer text"
            )

    def batch(self, epoch: int, index: int):
        return self.batches.batch(epoch, index)

    def training_loss(self, model: RecurrentLM, batch, carry: Optional[State]):
        x, y = batch
        if self.config.objective == "window":
            hidden, _ = model.features(x)  # (B, W, H), from a fresh state
            return F.cross_entropy(model.logits(hidden[:, -1]), y), None
        logits, state = model(x, carry)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        # Keep the state's values for the next chunk but cut the graph here:
        # that cut is what makes back-propagation through time "truncated".
        return loss, [tuple(t.detach() for t in layer) for layer in state]

    def evaluate(self, model: RecurrentLM) -> dict[str, float]:
        if self.config.objective == "window":
            nll, count = score_batches(model, eval_windows(self.val, self.config.window, self.config.step), stateful=False)
        else:
            nll, count = score_tokens(model, self.val, self.config.seq_len)
        loss = nll / max(count, 1)
        if self.unit == "word":  # nats per word, and perplexity: bits per character make no sense for words
            return {"val_loss": loss, "val_ppl": math.exp(min(loss, 700.0)), "val_words": count}
        return {"val_loss": loss, "val_bpc": loss / LN2, "val_chars": count}


def score_tokens(model: RecurrentLM, tokens: np.ndarray, seq_len: int = 256) -> tuple[float, int]:
    """Total negative log-likelihood (nats) of `tokens`, each predicted from its left context."""
    return score_batches(model, eval_streams(tokens, seq_len), stateful=True)


def score_batches(model: RecurrentLM, batches: Iterable, stateful: bool) -> tuple[float, int]:
    was_training = model.training
    model.eval()
    nll, count, state = 0.0, 0, None
    with torch.inference_mode():
        for x, y in batches:
            if stateful:
                logits, state = model(x, state)
            else:
                hidden, _ = model.features(x)
                logits = model.logits(hidden[:, -1])
            nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    model.train(was_training)
    return nll, count

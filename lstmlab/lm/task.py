"""The language-modelling task (characters or words), as the generic Trainer sees it.

A task (trainer.Task) tells the trainer how to fetch batch `index` of epoch
`epoch`, how to turn a batch into a loss (threading the recurrent state it
carries from one batch to the next), how to score held-out data, and how to
word those scores. The trainer itself never knows about characters, cells or
objectives.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..config import TrainConfig
from ..distributed import Group
from ..errors import LstmlabError
from ..stack import State
from .config import ObjectiveConfig
from .data import PreparedCorpus, StreamBatches, VariableStreamBatches, WindowBatches, eval_streams, eval_windows
from .model import RecurrentLM

LN2 = math.log(2.0)
# Validation during training reads the held-out text as this many parallel streams (data.eval_streams).
EVAL_STREAMS = 64


class LanguageModelTask:
    monitor = "val_loss"
    resume_command = "lstmlab train"

    def __init__(self, corpus: PreparedCorpus, objective: ObjectiveConfig, train: TrainConfig):
        self.objective = objective
        # Ids are ids: a word-level corpus trains the same way; only the units reported differ.
        self.unit = "word" if corpus.level == "word" else "char"
        self.loss_label = f"loss (nats/{self.unit})"
        units = "words" if self.unit == "word" else "characters"
        if objective.objective == "tbptt":
            layout = VariableStreamBatches if objective.variable_seq_len else StreamBatches
            self.batches = layout(corpus.train, train.batch_size, objective.seq_len, train.seed, unit=units)
            self.units_per_step = train.batch_size * objective.seq_len
        else:
            self.batches = WindowBatches(corpus.train, train.batch_size, objective.window, objective.step, train.seed,
                                         unit=units)
            self.units_per_step = train.batch_size * objective.window
        self.steps_per_epoch = self.batches.steps_per_epoch
        self.val = corpus.val[: objective.eval_chars] if objective.eval_chars else corpus.val
        self.val_total = len(corpus.val)
        needed = objective.window + 1 if objective.objective == "window" else 2
        if len(self.val) < needed:
            raise LstmlabError(
                f"only {len(self.val)} validation {units}; raise --val-fraction or use a longer text"
            )

    def describe_validation(self, source: str) -> str:
        """How validation scores, in words, for the log."""
        units = "words" if self.unit == "word" else "characters"
        if len(self.val) < self.val_total:
            source += f"; the first {len(self.val):,} of {self.val_total:,}, --eval-chars 0 reads them all"
        if self.objective.objective == "window":
            return (f"validation: every {self.objective.step}th window of {len(self.val):,} held-out {units} "
                    f"({source}), each from an empty state")
        streams = max(1, min(EVAL_STREAMS, (len(self.val) - 1) // self.objective.seq_len))
        return (f"validation: {len(self.val):,} held-out {units} ({source}) read as {streams} parallel streams, each "
                f"from an empty state with the state carried, every token after a stream's first scored")

    def batch(self, epoch: int, index: int):
        return self.batches.batch(epoch, index)

    def lr_factor(self, batch) -> float:
        """The learning rate's scale for this batch: its length over --seq-len with
        --variable-seq-len (AWD-LSTM's rule), so that every word weighs the same; 1 otherwise."""
        if not self.objective.variable_seq_len:
            return 1.0
        return batch[0].shape[1] / self.objective.seq_len

    def training_loss(self, model: RecurrentLM, batch, carry: Optional[State]):
        """(the loss to minimise, the cross entropy to report), and the state to carry. They differ
        only by the activation penalties (--ar, --tar), which are not part of the model's score."""
        x, y = batch
        if self.objective.objective == "window":
            hidden, _ = model.features(x)  # (B, W, H), from a fresh state
            loss, dropped = model.loss(hidden[:, -1], y)
            return self.penalised(loss, hidden[:, -1:], dropped[:, None]), None
        hidden, state = model.features(x, carry)  # (B, T, H)
        loss, dropped = model.loss(hidden, y)
        # Keep the state's values for the next chunk but cut the graph here:
        # that cut is what makes back-propagation through time "truncated".
        return self.penalised(loss, hidden, dropped), [tuple(t.detach() for t in layer) for layer in state]

    def penalised(self, loss: torch.Tensor, hidden: torch.Tensor, dropped: torch.Tensor):
        """loss, or (loss + AR + TAR, loss) when either is on. hidden and dropped: the top layer's
        outputs (B, T, H) before and after the output dropout. AR (--ar) is the mean square of the
        dropped outputs, TAR (--tar) the mean square of the step-to-step change of the outputs,
        as AWD-LSTM computes them (on the last layer only)."""
        ar, tar = self.objective.ar, self.objective.tar
        if not (ar or tar):
            return loss
        total = loss
        if ar:
            total = total + ar * dropped.float().pow(2).mean()
        if tar and hidden.shape[1] > 1:
            total = total + tar * (hidden[:, 1:] - hidden[:, :-1]).float().pow(2).mean()
        return total, loss.detach()

    def evaluate(self, model: RecurrentLM, group: Group = Group()) -> dict[str, float]:
        if self.objective.objective == "window":
            batches = eval_windows(self.val, self.objective.window, self.objective.step)
        else:
            batches = eval_streams(self.val, self.objective.seq_len, max_streams=EVAL_STREAMS)
        # Each rank scores its share of the rows (streams, or windows) of every batch.
        nll, count = score_batches(model, (group.rows_of(batch) for batch in batches),
                                   stateful=self.objective.objective != "window")
        nll, count = group.sum([nll, count])
        count = int(count)
        loss = nll / max(count, 1)
        if self.unit == "word":  # nats per word, and perplexity: bits per character make no sense for words
            return {"val_loss": loss, "val_ppl": math.exp(min(loss, 700.0)), "val_words": count}
        return {"val_loss": loss, "val_bpc": loss / LN2, "val_chars": count}

    def describe(self, metrics: dict[str, float]) -> str:
        if self.unit == "word":  # perplexity per word: bits per character make no sense for words
            return f"val {metrics['val_loss']:.4f} nats/word (perplexity {metrics['val_ppl']:,.1f})"
        return f"val {metrics['val_loss']:.4f} nats ({metrics['val_bpc']:.3f} bits/char)"


def score_tokens(model: RecurrentLM, tokens: np.ndarray, seq_len: int = 256, streams: int = 1) -> tuple[float, int]:
    """Total negative log-likelihood (nats) of `tokens` and how many were scored: every one after
    the first, each predicted from all the text before it in its stream, with the state carried.

    streams=1 reads the text as one stream (AWD-LSTM scores its test set so, at batch size 1).
    More streams read equal slices in parallel, each from an empty state, and the few targets
    left over continue the last stream, so that every token is scored either way."""
    n = len(tokens) - 1
    streams = max(1, min(streams, n // max(seq_len, 1)))
    body = n - n % streams  # targets read in parallel
    nll, count, state = score_batches(model, eval_streams(tokens[: body + 1], seq_len, max_streams=streams),
                                      stateful=True, keep_state=True)
    if body < n:
        last = [tuple(t[:, -1:] for t in layer) for layer in state]
        more, more_count, _ = score_batches(model, eval_streams(tokens[body:], seq_len, max_streams=1),
                                            stateful=True, state=last, keep_state=True)
        nll, count = nll + more, count + more_count
    return nll, count


def score_batches(model: RecurrentLM, batches: Iterable, stateful: bool, state: Optional[State] = None,
                  keep_state: bool = False):
    """Total negative log-likelihood (nats) and count of the targets in `batches`, on the model's
    device, starting from `state` (stateful: the state is carried from batch to batch). With
    keep_state, the final state is returned too."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    nll, count = 0.0, 0
    with torch.inference_mode():
        for x, y in batches:
            if x.shape[0] == 0:
                continue
            x, y = x.to(device), y.to(device)
            if stateful:
                logits, state = model(x, state)
            else:
                hidden, _ = model.features(x)
                logits = model.logits(hidden[:, -1])
            nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    model.train(was_training)
    return (nll, count, state) if keep_state else (nll, count)

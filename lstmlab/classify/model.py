"""SequenceClassifier: token ids -> class probabilities, for every cell.

    embedding (random, pretrained word vectors: vectors.py, or a language model's: transfer.py)
    -> dropout -> recurrent layers from cells.make_layer, each optionally in both directions
    -> pooling over the real (unpadded) steps: max, mean, both, the last step, or all three (concat)
    -> dropout -> [hidden layer, ReLU, dropout] -> linear head (softmax over the classes)

With chunk_length, a text is read in chunks with each layer's state carried from one to the next
(and cut from the gradient there): the same outputs as one pass, back-propagating through a
chunk at a time, as ULMFiT's classifier reads a long review.

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

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..cells import make_layer
from ..recurrence import with_dropped_weight
from .config import ClassifierConfig
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
        self.hidden_head = nn.Linear(config.features, config.head_hidden) if config.head_hidden else None
        self.pooled_norm = FeatureNorm(config.features) if config.head_norm else None
        self.hidden_norm = FeatureNorm(config.head_hidden) if config.head_norm and config.head_hidden else None
        self.head = nn.Linear(config.head_hidden or config.features, config.num_classes)

    @property
    def device(self) -> torch.device:
        """Where the weights are; predict_proba moves its inputs here."""
        return self.head.weight.device

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """The parameters from the top down: the head (with its hidden layer), each recurrent layer
        (both directions) from the last to the first, the embedding. Discriminative rates and
        gradual unfreezing (classify/task.py) treat each as one."""
        head = [p for module in (self.head, self.hidden_head, self.pooled_norm, self.hidden_norm)
                if module is not None for p in module.parameters()]
        layers = [list(directions.parameters()) for directions in reversed(self.layers)]
        return [head, *layers, [self.embedding.weight]]

    def _call(self, layer: nn.Module, x, state):
        """layer(x, state), with --weight-drop's DropConnect on its recurrent weights in training."""
        if self.training and self.config.weight_drop > 0:
            return with_dropped_weight(layer, x, state, self.config.weight_drop)
        return layer(x, state)

    def _run(self, layer: nn.Module, x: torch.Tensor, lengths: torch.Tensor, reverse: bool, state=None):
        """One direction of one layer: (outputs, the state after the last step)."""
        if reverse:
            x = reverse_padded(x, lengths)
        if self.config.packed and isinstance(layer, nn.RNNBase):
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, state = self._call(layer, packed, state)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        else:
            out, state = self._call(layer, x, state)
        if reverse:
            out = reverse_padded(out, lengths)
        return out, state

    def _layers(self, x: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor, states: Optional[list] = None):
        """Embedded inputs (B, T, E) through every layer: outputs (B, T, features), zero where `mask`
        is False, and each layer's final state per direction (`states` start them: chunk_length)."""
        new_states = []
        for i, directions in enumerate(self.layers):
            if i:
                x = self.dropout(x)
            outs = []
            for d, layer in enumerate(directions):
                state = states[len(new_states)] if states else None
                out, state = self._run(layer, x, lengths, reverse=bool(d), state=state)
                outs.append(out)
                new_states.append(state)
            x = (torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]).float() * mask
        return x, new_states

    def sequence(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The last layer's outputs (B, T, features), zero at padded steps."""
        lengths = lengths.to(ids.device)
        mask = mask_of(lengths, ids.shape[1]).unsqueeze(-1)
        if self.training and self.config.word_dropout > 0:
            dropped = torch.rand(ids.shape, device=ids.device) < self.config.word_dropout
            ids = torch.where(dropped & mask.squeeze(-1), torch.full_like(ids, UNK_ID), ids)
        x = self.dropout(self.embedding(ids))
        chunk = self.config.chunk_length
        if not chunk or ids.shape[1] <= chunk:
            return self._layers(x, lengths, mask)[0]
        # A row shorter than the batch reads padding after its end: the (causal, one-way) layers
        # never carry it back to its real steps, and the mask zeroes the outputs there.
        outs, states = [], None
        for start in range(0, ids.shape[1], chunk):
            part = slice(start, start + chunk)
            out, states = self._layers(x[:, part], lengths, mask[:, part], states)
            states = [detached(state) for state in states]
            outs.append(out)
        return torch.cat(outs, dim=1)

    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The pooled vector (B, features) the head reads."""
        out = self.sequence(ids, lengths)
        lengths = lengths.to(out.device)
        pooling = self.config.pooling
        parts = []
        if pooling in ("last", "concat"):
            parts.append(self.last_step(out, lengths))
        if pooling in ("mean", "mean+max", "concat"):
            parts.append(out.sum(1) / lengths.to(out.dtype).unsqueeze(1))
        if pooling in ("max", "mean+max", "concat"):
            mask = mask_of(lengths, ids.shape[1]).unsqueeze(-1)
            parts.append(out.masked_fill(~mask, float("-inf")).max(dim=1).values)
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]

    def last_step(self, out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The forward direction's output at the last real token; the backward direction's
        (having read the whole sequence backwards) at the first."""
        hidden = self.config.hidden_sizes[-1]
        rows = torch.arange(out.shape[0], device=out.device)
        last = out[rows, lengths - 1, :hidden]
        if not self.config.bidirectional:
            return last
        return torch.cat([last, out[:, 0, hidden:]], dim=-1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits (B, classes)."""
        x = self.features(ids, lengths)
        if self.pooled_norm is not None:
            x = self.pooled_norm(x)
        x = self.dropout(x)
        if self.hidden_head is not None:
            x = torch.relu(self.hidden_head(x))
            if self.hidden_norm is not None:
                x = self.hidden_norm(x)
            x = self.dropout(x)
        return self.head(x)

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


class FeatureNorm(nn.BatchNorm1d):
    """Batch normalisation of (B, features) that also takes a batch of one text in training (the
    last batch of an epoch can be one): that batch is normalised by the running statistics."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


def detached(state):
    """A layer's state (a tensor, or a tuple of them: an LSTM's h and c) cut from the gradient."""
    return tuple(t.detach() for t in state) if isinstance(state, tuple) else state.detach()


def collate(sequences: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, T) and lengths (B,); an empty sequence reads as one padding token."""
    lengths = np.array([max(len(s), 1) for s in sequences], dtype=np.int64)
    ids = np.full((len(sequences), int(lengths.max())), PAD_ID, dtype=np.int64)
    for row, s in enumerate(sequences):
        ids[row, : len(s)] = s
    return torch.from_numpy(ids), torch.from_numpy(lengths)

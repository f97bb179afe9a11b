"""One recurrent language model for every cell type.

Shapes (one legend for the whole package):
    B batch, T time steps, E embedding size, H hidden size, V vocabulary size.

    ids (B, T) -> Embedding -> (B, T, E) -> layer 1 -> (B, T, H1) -> ... -> (B, T, Hn) -> Linear -> (B, T, V)

The recurrent state is a list with one entry per layer; each entry is a tuple
of tensors shaped (1, B, H): (h, c) for an LSTM layer, (h,) for GRU and RNN.
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

State = list[tuple[torch.Tensor, ...]]

_CELL_MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def make_layer(cell: str, input_size: int, hidden_size: int) -> nn.Module:
    layer = _CELL_MODULES[cell](input_size, hidden_size, batch_first=True)
    if cell == "lstm":
        # Start with the forget gate open (bias 1) so that memory is kept by
        # default and gradients flow through time early in training
        # (Jozefowicz et al. 2015; Keras' unit_forget_bias does the same).
        with torch.no_grad():
            layer.bias_ih_l0[hidden_size : 2 * hidden_size].fill_(1.0)
            layer.bias_hh_l0[hidden_size : 2 * hidden_size].zero_()
    return layer


def _as_tuple(state) -> tuple[torch.Tensor, ...]:
    return tuple(state) if isinstance(state, tuple) else (state,)


class RecurrentStack(nn.Module):
    """Stacked recurrent layers of one cell type, each with its own size."""

    def __init__(self, cell: str, input_size: int, hidden_sizes: Sequence[int], dropout: float):
        super().__init__()
        sizes = [input_size, *hidden_sizes]
        self.layers = nn.ModuleList(make_layer(cell, i, h) for i, h in zip(sizes[:-1], sizes[1:]))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, state: Optional[State] = None) -> tuple[torch.Tensor, State]:
        """x (B, T, E) -> (B, T, H_last), new state."""
        new_state: State = []
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.dropout(x)
            layer_state = None if state is None else state[i]
            if layer_state is not None and len(layer_state) == 1:
                layer_state = layer_state[0]
            x, out_state = layer(x, layer_state)
            new_state.append(_as_tuple(out_state))
        return x, new_state


class RecurrentLM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        self.rnn = RecurrentStack(config.cell, config.embed_dim, config.hidden_sizes, config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_sizes[-1], config.vocab_size)
        if config.tie_embeddings:
            self.head.weight = self.embedding.weight

    def features(self, ids: torch.Tensor, state: Optional[State] = None) -> tuple[torch.Tensor, State]:
        """ids (B, T) -> top-layer outputs (B, T, H), before dropout and head."""
        return self.rnn(self.embedding(ids), state)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., V)."""
        return self.head(self.dropout(hidden))

    def forward(self, ids: torch.Tensor, state: Optional[State] = None) -> tuple[torch.Tensor, State]:
        """ids (B, T) -> logits (B, T, V), new state."""
        hidden, state = self.features(ids, state)
        return self.logits(hidden), state

    @torch.inference_mode()
    def generate(
        self,
        prompt: torch.Tensor,
        length: int,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        generator: Optional[torch.Generator] = None,
        suppress: Sequence[int] = (),
    ) -> Iterator[torch.Tensor]:
        """Yield `length` next-symbol ids, each (N,), for N prompts (N, P) at once.

        The prompt is read in one pass; after that each new symbol costs a
        single recurrent step, because the state is carried (the seeds re-read a
        50-character window for every character instead). An empty prompt
        (P = 0) starts from a fresh, all-zero state. Ids in `suppress` (the
        unknown symbol) are never produced.
        """
        self.eval()
        if prompt.shape[1] > 0:
            hidden, state = self.features(prompt)
            hidden = hidden[:, -1]
        else:
            hidden = torch.zeros(prompt.shape[0], self.config.hidden_sizes[-1])
            state = None
        step = _SingleStep(self, prompt.shape[0], state)
        for i in range(length):
            logits = self.logits(hidden)
            if suppress:
                logits[:, list(suppress)] = float("-inf")
            next_id = sample_next(logits, temperature, top_k, top_p, generator)
            yield next_id
            if i + 1 < length:
                hidden = step(next_id)


class _SingleStep:
    """Advance the model by one symbol with little Python overhead.

    nn.LSTM & co. are built for sequences; called once per character their
    set-up cost dominates. Here each layer is one fused cell call
    (torch.lstm_cell / gru_cell / rnn_tanh_cell, the kernels nn.LSTM runs
    inside) on the same weights. Dropout is off in generation, so it is skipped.
    """

    _CELLS = {"lstm": torch.lstm_cell, "gru": torch.gru_cell, "rnn": torch.rnn_tanh_cell}

    def __init__(self, model: RecurrentLM, batch: int, state: Optional[State]):
        cell = model.config.cell
        self.cell_fn = self._CELLS[cell]
        self.embedding = model.embedding.weight
        self.weights = [(l.weight_ih_l0, l.weight_hh_l0, l.bias_ih_l0, l.bias_hh_l0) for l in model.rnn.layers]
        self.is_lstm = cell == "lstm"
        # Per layer: (h, c) for LSTM, h otherwise, each (B, H) as the cell functions take them.
        self.state = []
        for i, size in enumerate(model.config.hidden_sizes):
            if state is None:
                layer = tuple(torch.zeros(batch, size) for _ in range(2 if self.is_lstm else 1))
            else:
                layer = tuple(t[0] for t in state[i])
            self.state.append(layer if self.is_lstm else layer[0])

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B,) -> top-layer output (B, H)."""
        x = self.embedding[ids]  # (B, E)
        for i, (w_ih, w_hh, b_ih, b_hh) in enumerate(self.weights):
            self.state[i] = self.cell_fn(x, self.state[i], w_ih, w_hh, b_ih, b_hh)
            x = self.state[i][0] if self.is_lstm else self.state[i]
        return x


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """logits (N, V) -> ids (N,). Temperature 0 is greedy (argmax)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a symbol when the ones before it already cover top_p; the most
        # likely symbol always stays.
        drop_sorted = (cumulative - sorted_logits.softmax(-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = F.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

"""Stacked recurrent layers of one cell type: the part every task's network shares.

The recurrent state is a list with one entry per layer; each entry is a tuple
of tensors shaped (1, B, H): (h, c) for an LSTM layer, (h,) for GRU and RNN.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .cells import Gates, make_layer
from .recurrence import drop, with_dropped_weight

State = list[tuple[torch.Tensor, ...]]


def _as_tuple(state) -> tuple[torch.Tensor, ...]:
    return tuple(state) if isinstance(state, tuple) else (state,)


class RecurrentStack(nn.Module):
    """Stacked recurrent layers of one cell type, each with its own size.

    `dropout` drops numbers between layers: a fresh draw at every time step, or with `locked`
    one mask per sequence (AWD-LSTM's LockedDropout). `input_dropout` (Keras' `dropout=` of a
    recurrent layer) drops whole input features of each layer, the first included, for a whole
    sequence: one mask per row, the same at every step. `recurrent_dropout` goes to the layers
    (cells.py). `weight_drop` is DropConnect on each layer's hidden-to-hidden weights (AWD-LSTM's
    WeightDrop): one mask per forward call, shared by every row and step, applied to the weight
    itself, so the layer's fused kernel still runs."""

    def __init__(self, cell: str, input_size: int, hidden_sizes: Sequence[int], dropout: float,
                 recurrent_dropout: float = 0.0, input_dropout: float = 0.0, weight_drop: float = 0.0,
                 locked: bool = False):
        super().__init__()
        sizes = [input_size, *hidden_sizes]
        self.layers = nn.ModuleList(make_layer(cell, i, h, recurrent_dropout) for i, h in zip(sizes[:-1], sizes[1:]))
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.weight_drop = weight_drop
        self.locked = locked

    def forward(self, x: torch.Tensor, state: Optional[State] = None) -> tuple[torch.Tensor, State]:
        """x (B, T, E) -> (B, T, H_last), new state."""
        new_state: State = []
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = drop(x, self.dropout, self.training, self.locked)
            if self.training and self.input_dropout > 0:
                # A multiply outside the layer, so the fused kernels still run.
                x = drop(x, self.input_dropout, True, locked=True)
            layer_state = None if state is None else state[i]
            if layer_state is not None and len(layer_state) == 1:
                layer_state = layer_state[0]
            if self.training and self.weight_drop > 0:
                x, out_state = with_dropped_weight(layer, x, layer_state, self.weight_drop)
            else:
                x, out_state = layer(x, layer_state)
            new_state.append(_as_tuple(out_state))
        return x, new_state

    def trace(self, x: torch.Tensor, state: Optional[State] = None) -> tuple[torch.Tensor, State, list[Gates]]:
        """forward() in eval mode, also returning each layer's gate values {name: (B, T, H)}."""
        new_state: State = []
        gates = []
        for i, layer in enumerate(self.layers):
            x, out_state, layer_gates = layer.trace(x, None if state is None else state[i])
            new_state.append(out_state)
            gates.append(layer_gates)
        return x, new_state, gates

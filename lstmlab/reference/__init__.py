"""Reference recurrent cells in plain NumPy: forward pass and backpropagation through time.

This module is the yardstick for lstmlab's PyTorch layers, and a place to
read the gate equations next to the code that computes them. Nothing here is
fast; every line is meant to be matched against one equation.

Conventions
-----------
* Batch first: an input sequence ``x`` has shape (B, T, I) (batch, time steps,
  input size); a state ``h`` or ``C`` has shape (B, H).
* Row vectors, as in Keras: one step's input ``x_t`` is a (B, I) block of rows,
  and it is multiplied on the right, ``x_t W`` with ``W`` of shape (I, H);
  recurrent weights ``U`` are (H, H) and biases ``b`` are (H,).
  (PyTorch stores the transposes, stacked gate by gate; ``from_torch`` and
  ``torch_layout`` convert.)
* float64 throughout by default, so that comparisons can be tight.
* ``σ`` is the logistic sigmoid, ``⊙`` elementwise multiplication.
* Time steps are counted from 1 in the equations (h_0 is the initial state)
  and from 0 in Python (``trace.steps[0]`` is step t = 1).

Each cell class holds its parameters in a plain dict of arrays,
``cell.params``, under the names used in its equations ("W_f", "U_f", "b_f"...).

    cell = LSTM.random(input_size=3, hidden_size=5, rng=0)
    outputs, (h_T, C_T), trace = cell.forward(x)          # x: (B, T, 3)
    print(trace.format())                                 # every gate, every step
    grads = cell.backward(trace, d_outputs, (d_h_T, d_C_T))
    grads["W_f"], grads["x"], grads["h0"], grads["c0"]

The four cells: ElmanRNN, LSTM, GRU (PyTorch's form) and PeepholeLSTM.

One file per cell, each opening with its equations: rnn.py (ElmanRNN),
lstm.py (LSTM), gru.py (GRU), peephole.py (PeepholeLSTM). What they share:
common.py (σ, the derivatives, Trace, PyTorch layout helpers) and base.py
(Cell: parameters, random initialisation, the loops forward and back).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Cell
from .common import Array, State, Trace, sigmoid
from .gru import GRU
from .lstm import LSTM
from .peephole import PeepholeLSTM
from .rnn import ElmanRNN

__all__ = ["CELLS", "GRU", "LSTM", "ElmanRNN", "PeepholeLSTM", "Trace", "from_torch", "sigmoid"]

CELLS: dict[str, type[Cell]] = {"rnn": ElmanRNN, "lstm": LSTM, "gru": GRU, "peephole": PeepholeLSTM}


def from_torch(layer, dtype: Any = np.float64) -> Cell:
    """The reference cell for a PyTorch layer, with its weights.

    Accepts a single-layer, one-direction torch.nn.RNN (tanh), nn.LSTM or
    nn.GRU (subclasses such as lstmlab.cells.LSTM included), or an
    lstmlab.cells.PeepholeLSTM. The reference cells are batch-first whatever
    the layer's batch_first says (it does not change the weights).
    """
    import torch

    from lstmlab.cells import PeepholeLSTM as TorchPeephole

    for torch_class, cell_class in ((torch.nn.LSTM, LSTM), (torch.nn.GRU, GRU), (torch.nn.RNN, ElmanRNN),
                                    (TorchPeephole, PeepholeLSTM)):
        if isinstance(layer, torch_class):
            return cell_class.from_torch(layer, dtype=dtype)
    raise TypeError(f"no reference cell for {type(layer).__name__}")

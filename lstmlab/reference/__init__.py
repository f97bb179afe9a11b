"""Reference recurrent cells in plain NumPy: forward pass and backpropagation through time.

This module is the yardstick for lstmlab's PyTorch layers, and a place to
read the gate equations next to the code that computes them. Nothing here is
fast; every line is meant to be matched against one equation.

Conventions
-----------
* Batch first: an input sequence ``x`` has shape (B, T, I) (batch, time steps,
  input size); a state ``h`` or ``C`` has shape (B, H).
* Row vectors, as in Keras: one step's input ``x_t`` is a (B, I) block of rows,
  and it is multiplied on the right, ``x_t W`` with ``W`` of shape (I, G·H);
  recurrent weights ``U`` are (H, G·H) and biases ``b`` are (G·H,).
  (PyTorch stores the transposes; ``lstmlab.cells`` converts.)
* float64 throughout by default, so that comparisons can be tight.
* ``σ`` is the logistic sigmoid, ``⊙`` elementwise multiplication.
* Time steps are counted from 1 in the equations (h_0 is the initial state)
  and from 0 in Python (``trace.steps[0]`` is step t = 1).

Every cell is written over one fused layout: W (I, G·H) and U (H, G·H) hold the G gates as
column blocks, b (G·H,) their bias, plus the cell's own vectors; ``cell.params`` is that dict.
A step is the two products xw = x_t W and hu = h_{t-1} U, then the cell's equations
(``input_part``, ``pointwise``), which are static functions of the parameter dict: the tests'
float64 oracle here and lstmlab's NumPy generation stepper (lm/generation.py, float32) call the
same ones.

    cell = LSTM.random(input_size=3, hidden_size=5, rng=0)
    outputs, (h_T, C_T), trace = cell.forward(x)          # x: (B, T, 3)
    print(trace.format())                                 # every gate, every step
    grads = cell.backward(trace, d_outputs, (d_h_T, d_C_T))
    grads["W"], grads["x"], grads["h0"], grads["c0"]
    cell.gate("W", "f")                                   # W_f, the forget gate's block
    LSTM.from_gates({"W_i": ..., "U_i": ..., "b_i": ..., ...})   # one array per gate

One file per cell, each opening with its equations: rnn.py (ElmanRNN), lstm.py (LSTM),
gru.py (GRU), peephole.py (PeepholeLSTM), layernorm_lstm.py (LayerNormLSTM). What they share:
common.py (σ, layer norm, their derivatives, Trace) and base.py (Cell: the fused layout, the
loops forward and back). ``lstmlab.cells`` converts a PyTorch layer's weights to and from
these (``cells.reference_of``, ``cells.layer_from_reference``).
"""

from __future__ import annotations

from .base import Cell
from .common import Array, State, Trace, sigmoid
from .gru import GRU
from .layernorm_lstm import LayerNormLSTM
from .lstm import LSTM
from .peephole import PeepholeLSTM
from .rnn import ElmanRNN

__all__ = ["CELLS", "Cell", "ElmanRNN", "GRU", "LSTM", "LayerNormLSTM", "PeepholeLSTM", "Trace", "sigmoid"]

CELLS: dict[str, type[Cell]] = {cell.name: cell for cell in (ElmanRNN, LSTM, GRU, PeepholeLSTM, LayerNormLSTM)}

"""The simple (Elman) recurrent cell, PyTorch's nn.RNN and Keras' SimpleRNN.

    h_t = tanh(x_t W + h_{t-1} U + b)

Parameters: W (I, H), U (H, H), b (H,): one block.
"""

from __future__ import annotations

import numpy as np

from .base import Cell
from .common import d_tanh

__all__ = ["ElmanRNN"]


class ElmanRNN(Cell):
    """The simple (Elman) recurrent cell, PyTorch's nn.RNN and Keras' SimpleRNN.

        h_t = tanh(x_t W + h_{t-1} U + b)
    """

    name = "rnn"
    gates = ("h",)

    @staticmethod
    def pointwise(p, x_part, hu, state, record=None):
        h = np.tanh(x_part + hu)
        return h, h

    @staticmethod
    def pointwise_backward(p, s, d_h, grads):
        """With a = x_t W + h_{t-1} U + b:  ∂L/∂a = ∂L/∂h_t ⊙ (1 - h_t²); h_{t-1} reaches h_t
        only through U."""
        d_a = d_h * d_tanh(s["h"])
        return d_a, d_a, np.zeros_like(d_h)

"""The simple (Elman) recurrent cell, PyTorch's nn.RNN and Keras' SimpleRNN.

    h_t = tanh(x_t W + h_{t-1} U + b)

Parameters: W (I, H), U (H, H), b (H,).
"""

from __future__ import annotations

import numpy as np

from .base import Cell
from .common import d_tanh, zeros_like_bias

__all__ = ["ElmanRNN"]


class ElmanRNN(Cell):
    """The simple (Elman) recurrent cell, PyTorch's nn.RNN and Keras' SimpleRNN.

        h_t = tanh(x_t W + h_{t-1} U + b)

    Parameters: W (I, H), U (H, H), b (H,).
    """

    name = "rnn"

    @classmethod
    def param_shapes(cls, input_size, hidden_size):
        I, H = input_size, hidden_size
        return {"W": (I, H), "U": (H, H), "b": (H,)}

    def step(self, x_t, h_prev):
        p = self.params
        h = np.tanh(x_t @ p["W"] + h_prev @ p["U"] + p["b"])
        return h, {"x": x_t, "h_prev": h_prev, "h": h}

    def step_backward(self, s, d_h, grads):
        """With a = x_t W + h_{t-1} U + b:

            ∂L/∂a = ∂L/∂h_t ⊙ (1 - h_t²)
            ∂L/∂W += x_tᵀ ∂L/∂a     ∂L/∂U += h_{t-1}ᵀ ∂L/∂a     ∂L/∂b += Σ_batch ∂L/∂a
            ∂L/∂x_t = ∂L/∂a Wᵀ      ∂L/∂h_{t-1} = ∂L/∂a Uᵀ
        """
        p = self.params
        d_a = d_h * d_tanh(s["h"])
        grads["W"] += s["x"].T @ d_a
        grads["U"] += s["h_prev"].T @ d_a
        grads["b"] += d_a.sum(axis=0)
        return d_a @ p["W"].T, d_a @ p["U"].T

    # PyTorch: weight_ih_l0 (H, I), weight_hh_l0 (H, H), bias_ih_l0 + bias_hh_l0.
    @classmethod
    def params_from_torch_layout(cls, tensors):
        w_ih = np.asarray(tensors["weight_ih_l0"])
        return {
            "W": w_ih.T.copy(),
            "U": np.asarray(tensors["weight_hh_l0"]).T.copy(),
            "b": zeros_like_bias(tensors, "bias_ih_l0", "weight_ih_l0")
            + zeros_like_bias(tensors, "bias_hh_l0", "weight_ih_l0"),
        }

    def torch_layout(self, values=None, gradient=False):
        v = self.params if values is None else values
        return {
            "weight_ih_l0": v["W"].T.copy(),
            "weight_hh_l0": v["U"].T.copy(),
            "bias_ih_l0": v["b"].copy(),
            "bias_hh_l0": v["b"].copy() if gradient else np.zeros_like(v["b"]),
        }

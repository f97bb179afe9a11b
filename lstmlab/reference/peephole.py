"""LSTM whose gates also look at the cell state (Gers, Schraudolph & Schmidhuber 2002).

    i_t = σ(x_t W_i + h_{t-1} U_i + p_i ⊙ C_{t-1} + b_i)
    f_t = σ(x_t W_f + h_{t-1} U_f + p_f ⊙ C_{t-1} + b_f)
    C̃_t = tanh(x_t W_c + h_{t-1} U_c + b_c)
    C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t
    o_t = σ(x_t W_o + h_{t-1} U_o + p_o ⊙ C_t + b_o)
    h_t = o_t ⊙ tanh(C_t)

The peephole weights p_i, p_f, p_o are vectors (H,): each unit sees only its own cell (a
diagonal matrix). Other parameters as in ``LSTM`` (lstm.py).
"""

from __future__ import annotations

import numpy as np

from .common import d_sigmoid, d_tanh, sigmoid
from .lstm import LSTM

__all__ = ["PeepholeLSTM"]


class PeepholeLSTM(LSTM):
    """LSTM whose gates also look at the cell state (Gers, Schraudolph & Schmidhuber 2002).

        i_t = σ(x_t W_i + h_{t-1} U_i + p_i ⊙ C_{t-1} + b_i)
        f_t = σ(x_t W_f + h_{t-1} U_f + p_f ⊙ C_{t-1} + b_f)
        C̃_t = tanh(x_t W_c + h_{t-1} U_c + b_c)
        C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t
        o_t = σ(x_t W_o + h_{t-1} U_o + p_o ⊙ C_t + b_o)
        h_t = o_t ⊙ tanh(C_t)

    The input and forget gates look at the old cell state; the output gate at the new one,
    which is why o_t is computed after C_t. Compared with ``lstmlab.cells.PeepholeLSTM``.
    """

    name = "peephole"

    @classmethod
    def extra_shapes(cls, hidden_size):
        return {f"p_{g}": (hidden_size,) for g in ("i", "f", "o")}

    @staticmethod
    def pointwise(p, x_part, hu, state, record=None):
        c_prev = state[1]
        a = x_part + hu
        H = c_prev.shape[-1]
        i = sigmoid(a[:, :H] + p["p_i"] * c_prev)
        f = sigmoid(a[:, H:2 * H] + p["p_f"] * c_prev)
        c_tilde = np.tanh(a[:, 2 * H:3 * H])
        c = f * c_prev + i * c_tilde
        o = sigmoid(a[:, 3 * H:] + p["p_o"] * c)
        tanh_c = np.tanh(c)
        h = o * tanh_c
        if record is not None:
            record.update(f=f, i=i, c_tilde=c_tilde, c=c, o=o, tanh_c=tanh_c)
        return h, (h, c)

    @staticmethod
    def pointwise_backward(p, s, d_state, grads):
        """As ``LSTM.pointwise_backward``, with the peepholes' three extra paths:

            a_o contains p_o ⊙ C_t      ∂L/∂C_t += ∂L/∂a_o ⊙ p_o      ∂L/∂p_o += Σ_batch ∂L/∂a_o ⊙ C_t
            a_i, a_f contain p ⊙ C_{t-1}
                                        ∂L/∂C_{t-1} += ∂L/∂a_i ⊙ p_i + ∂L/∂a_f ⊙ p_f
                                        ∂L/∂p_i += Σ_batch ∂L/∂a_i ⊙ C_{t-1}   (and p_f alike)

        Order matters: ∂L/∂a_o must be known before ∂L/∂C_t is complete, mirroring the forward
        pass where o_t needs C_t.
        """
        d_h, d_c = d_state
        d_a_o = d_h * s["tanh_c"] * d_sigmoid(s["o"])
        d_c = d_c + d_h * s["o"] * d_tanh(s["tanh_c"]) + d_a_o * p["p_o"]
        d_a_i = d_c * s["c_tilde"] * d_sigmoid(s["i"])
        d_a_f = d_c * s["c_prev"] * d_sigmoid(s["f"])
        d_a_c = d_c * s["i"] * d_tanh(s["c_tilde"])
        grads["p_o"] += (d_a_o * s["c"]).sum(axis=0)
        grads["p_i"] += (d_a_i * s["c_prev"]).sum(axis=0)
        grads["p_f"] += (d_a_f * s["c_prev"]).sum(axis=0)
        d_c_prev = d_c * s["f"] + d_a_i * p["p_i"] + d_a_f * p["p_f"]
        d_a = np.concatenate([d_a_i, d_a_f, d_a_c, d_a_o], axis=1)
        return d_a, d_a, (np.zeros_like(d_h), d_c_prev)

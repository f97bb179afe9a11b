"""LSTM whose gates also look at the cell state (Gers, Schraudolph & Schmidhuber 2002).

    i_t = σ(x_t W_i + h_{t-1} U_i + p_i ⊙ C_{t-1} + b_i)
    f_t = σ(x_t W_f + h_{t-1} U_f + p_f ⊙ C_{t-1} + b_f)
    C̃_t = tanh(x_t W_c + h_{t-1} U_c + b_c)
    C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t
    o_t = σ(x_t W_o + h_{t-1} U_o + p_o ⊙ C_t + b_o)
    h_t = o_t ⊙ tanh(C_t)

The peephole weights p_i, p_f, p_o are vectors (H,): each unit sees only
its own cell (a diagonal matrix). Other parameters as in ``LSTM`` (lstm.py).
"""

from __future__ import annotations

import numpy as np

from .common import d_sigmoid, d_tanh, sigmoid, split, stack, unstack
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

    The peephole weights p_i, p_f, p_o are vectors (H,): each unit sees only
    its own cell (a diagonal matrix). The input and forget gates look at the
    old cell state; the output gate at the new one, which is why o_t is
    computed after C_t. Other parameters as in ``LSTM``.
    Compared with ``lstmlab.cells.PeepholeLSTM``.
    """

    name = "peephole"

    @classmethod
    def param_shapes(cls, input_size, hidden_size):
        shapes = super().param_shapes(input_size, hidden_size)
        shapes.update({f"p_{g}": (hidden_size,) for g in ("i", "f", "o")})
        return shapes

    def step(self, x_t, state):
        h_prev, c_prev = state
        p = self.params
        i = sigmoid(self._pre("i", x_t, h_prev) + p["p_i"] * c_prev)
        f = sigmoid(self._pre("f", x_t, h_prev) + p["p_f"] * c_prev)
        c_tilde = np.tanh(self._pre("c", x_t, h_prev))
        c = f * c_prev + i * c_tilde
        o = sigmoid(self._pre("o", x_t, h_prev) + p["p_o"] * c)
        tanh_c = np.tanh(c)
        h = o * tanh_c
        record = dict(x=x_t, h_prev=h_prev, c_prev=c_prev, f=f, i=i, c_tilde=c_tilde, c=c, o=o, tanh_c=tanh_c, h=h)
        return (h, c), record

    def step_backward(self, s, d_state, grads):
        """As ``LSTM.step_backward``, with the peepholes' three extra paths:

            a_o contains p_o ⊙ C_t      ∂L/∂C_t += ∂L/∂a_o ⊙ p_o      ∂L/∂p_o += Σ_batch ∂L/∂a_o ⊙ C_t
            a_i, a_f contain p ⊙ C_{t-1}
                                        ∂L/∂C_{t-1} += ∂L/∂a_i ⊙ p_i + ∂L/∂a_f ⊙ p_f
                                        ∂L/∂p_i += Σ_batch ∂L/∂a_i ⊙ C_{t-1}   (and p_f alike)

        Order matters: ∂L/∂a_o must be known before ∂L/∂C_t is complete,
        mirroring the forward pass where o_t needs C_t.
        """
        p = self.params
        d_h, d_c = d_state
        d_a_o = d_h * s["tanh_c"] * d_sigmoid(s["o"])
        d_c = d_c + d_h * s["o"] * d_tanh(s["tanh_c"]) + d_a_o * p["p_o"]
        d_pre = {
            "f": d_c * s["c_prev"] * d_sigmoid(s["f"]),
            "i": d_c * s["c_tilde"] * d_sigmoid(s["i"]),
            "c": d_c * s["i"] * d_tanh(s["c_tilde"]),
            "o": d_a_o,
        }
        grads["p_o"] += (d_a_o * s["c"]).sum(axis=0)
        grads["p_i"] += (d_pre["i"] * s["c_prev"]).sum(axis=0)
        grads["p_f"] += (d_pre["f"] * s["c_prev"]).sum(axis=0)
        d_c_prev = d_c * s["f"] + d_pre["i"] * p["p_i"] + d_pre["f"] * p["p_f"]
        d_x, d_h_prev = self._gate_backward(s, d_pre, grads)
        return d_x, (d_h_prev, d_c_prev)

    # lstmlab.cells.PeepholeLSTM: weight_ih (4H, I), weight_hh (4H, H), one bias (4H,),
    # rows in gate order i, f, g, o; peephole_i, peephole_f, peephole_o (H,).
    @classmethod
    def params_from_torch_layout(cls, tensors):
        params = unstack(np.asarray(tensors["weight_ih"]), cls.gates, "W")
        params.update(unstack(np.asarray(tensors["weight_hh"]), cls.gates, "U"))
        params.update(split(np.asarray(tensors["bias"]), cls.gates, "b"))
        for g in ("i", "f", "o"):
            params[f"p_{g}"] = np.asarray(tensors[f"peephole_{g}"]).copy()
        return params

    def torch_layout(self, values=None, gradient=False):
        # One bias only, so nothing to split: parameters and gradients map alike.
        v = self.params if values is None else values
        layout = {
            "weight_ih": stack(v, self.gates, "W"),
            "weight_hh": stack(v, self.gates, "U"),
            "bias": stack(v, self.gates, "b"),
        }
        layout.update({f"peephole_{g}": v[f"p_{g}"].copy() for g in ("i", "f", "o")})
        return layout

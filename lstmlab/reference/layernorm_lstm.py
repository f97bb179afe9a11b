"""LSTM with layer normalisation (Ba, Kiros & Hinton 2016), as lstmlab.cells.LayerNormLSTM.

    a_t = LN(x_t W) ⊙ g_x + LN(h_{t-1} U) ⊙ g_h + b         all four gates' pre-activations
    i_t, f_t, o_t = σ(a_i), σ(a_f), σ(a_o)    C̃_t = tanh(a_c)
    C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t
    h_t = o_t ⊙ tanh(LN(C_t) ⊙ g_c + s_c)

LN(v) = (v - mean(v)) / sqrt(var(v) + 1e-5) over the vector's own numbers (all 4H of a
product, the H of the cell). Normalising each product keeps the gates' inputs at a steady
scale whatever the weights do. Fused layout: W (I, 4H), U (H, 4H), b (4H,) in gate order
i, f, c, o; the gains g_x, g_h (4H,) and g_c (H,), the cell norm's shift s_c (H,).
"""

from __future__ import annotations

import numpy as np

from .common import d_layer_norm, d_sigmoid, d_tanh, layer_norm, sigmoid
from .lstm import LSTM

__all__ = ["LayerNormLSTM"]


class LayerNormLSTM(LSTM):
    """LSTM with layer normalisation (Ba, Kiros & Hinton 2016).

        a_t = LN(x_t W) ⊙ g_x + LN(h_{t-1} U) ⊙ g_h + b
        i_t, f_t, o_t = σ(a_i), σ(a_f), σ(a_o)    C̃_t = tanh(a_c)
        C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t
        h_t = o_t ⊙ tanh(LN(C_t) ⊙ g_c + s_c)
    """

    name = "layernorm-lstm"
    products_add = False  # each product is normalised on its own

    @classmethod
    def extra_shapes(cls, hidden_size):
        return {"g_x": (4 * hidden_size,), "g_h": (4 * hidden_size,), "g_c": (hidden_size,), "s_c": (hidden_size,)}

    @staticmethod
    def input_part(p, xw, record=None):
        normed_x, inv_x = layer_norm(xw)
        if record is not None:
            record.update(normed_x=normed_x, inv_x=inv_x)
        return normed_x * p["g_x"] + p["b"]

    @staticmethod
    def input_part_backward(p, s, d_x_part, grads):
        grads["b"] += d_x_part.sum(axis=0)
        grads["g_x"] += (d_x_part * s["normed_x"]).sum(axis=0)
        return d_layer_norm(d_x_part * p["g_x"], s["normed_x"], s["inv_x"])

    @staticmethod
    def pointwise(p, x_part, hu, state, record=None):
        c_prev = state[1]
        normed_r, inv_r = layer_norm(hu)
        z = x_part + normed_r * p["g_h"]
        H = c_prev.shape[-1]
        gates = sigmoid(z)
        i, f, o = gates[:, :H], gates[:, H:2 * H], gates[:, 3 * H:]
        c_tilde = np.tanh(z[:, 2 * H:3 * H])
        c = f * c_prev + i * c_tilde
        normed_c, inv_c = layer_norm(c)
        tanh_c = np.tanh(normed_c * p["g_c"] + p["s_c"])
        h = o * tanh_c
        if record is not None:
            record.update(f=f, i=i, c_tilde=c_tilde, c=c, o=o, tanh_c=tanh_c, normed_r=normed_r, inv_r=inv_r,
                          normed_c=normed_c, inv_c=inv_c)
        return h, (h, c)

    @staticmethod
    def pointwise_backward(p, s, d_state, grads):
        """As ``LSTM.pointwise_backward``, with the three norms in the way:

            h_t = o_t ⊙ tanh(u),  u = LN(C_t) ⊙ g_c + s_c
                        ∂L/∂u = ∂L/∂h_t ⊙ o_t ⊙ (1 - tanh²(u))
                        ∂L/∂g_c += Σ_batch ∂L/∂u ⊙ LN(C_t)    ∂L/∂s_c += Σ_batch ∂L/∂u
                        ∂L/∂C_t += LN'(∂L/∂u ⊙ g_c)
            a_t = ... + LN(hu) ⊙ g_h
                        ∂L/∂g_h += Σ_batch ∂L/∂a ⊙ LN(hu)      ∂L/∂hu = LN'(∂L/∂a ⊙ g_h)

        where LN'(d) = (d - mean(d) - v̂ ⊙ mean(d ⊙ v̂)) / std is the gradient through a norm
        whose output was v̂ (common.d_layer_norm).
        """
        d_h, d_c = d_state
        d_o = d_h * s["tanh_c"]
        d_u = d_h * s["o"] * d_tanh(s["tanh_c"])
        d_c = d_c + d_layer_norm(d_u * p["g_c"], s["normed_c"], s["inv_c"])
        d_a = np.concatenate([d_c * s["c_tilde"] * d_sigmoid(s["i"]), d_c * s["c_prev"] * d_sigmoid(s["f"]),
                              d_c * s["i"] * d_tanh(s["c_tilde"]), d_o * d_sigmoid(s["o"])], axis=1)
        grads["g_c"] += (d_u * s["normed_c"]).sum(axis=0)
        grads["s_c"] += d_u.sum(axis=0)
        grads["g_h"] += (d_a * s["normed_r"]).sum(axis=0)
        d_hu = d_layer_norm(d_a * p["g_h"], s["normed_r"], s["inv_r"])
        return d_a, d_hu, (np.zeros_like(d_h), d_c * s["f"])

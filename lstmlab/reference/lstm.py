"""The long short-term memory cell with a forget gate, as in nn.LSTM and Keras' LSTM.

    f_t = σ(x_t W_f + h_{t-1} U_f + b_f)          forget gate
    i_t = σ(x_t W_i + h_{t-1} U_i + b_i)          input gate
    C̃_t = tanh(x_t W_c + h_{t-1} U_c + b_c)       candidate cell state
    C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t              cell state
    o_t = σ(x_t W_o + h_{t-1} U_o + b_o)          output gate
    h_t = o_t ⊙ tanh(C_t)                         hidden state (the output)

Fused layout: W (I, 4H), U (H, 4H), b (4H,), gate blocks in PyTorch's order i, f, c, o
(PyTorch calls the candidate g). The state is the pair (h, C).
"""

from __future__ import annotations

import numpy as np

from .base import Cell
from .common import d_sigmoid, d_tanh, sigmoid

__all__ = ["LSTM"]


class LSTM(Cell):
    """The long short-term memory cell with a forget gate, as in nn.LSTM and Keras' LSTM.

        f_t = σ(x_t W_f + h_{t-1} U_f + b_f)          forget gate
        i_t = σ(x_t W_i + h_{t-1} U_i + b_i)          input gate
        C̃_t = tanh(x_t W_c + h_{t-1} U_c + b_c)       candidate cell state
        C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t              cell state
        o_t = σ(x_t W_o + h_{t-1} U_o + b_o)          output gate
        h_t = o_t ⊙ tanh(C_t)                         hidden state (the output)
    """

    name = "lstm"
    has_cell_state = True
    gates = ("i", "f", "c", "o")

    @staticmethod
    def pointwise(p, x_part, hu, state, record=None):
        c_prev = state[1]
        z = x_part + hu
        H = c_prev.shape[-1]
        # One σ over all four blocks (the candidate's block is then taken with tanh): at batch 1
        # a single call over 4H numbers costs less than three calls over H.
        gates = sigmoid(z)
        i, f, o = gates[:, :H], gates[:, H:2 * H], gates[:, 3 * H:]
        c_tilde = np.tanh(z[:, 2 * H:3 * H])
        c = f * c_prev + i * c_tilde
        tanh_c = np.tanh(c)
        h = o * tanh_c
        if record is not None:
            record.update(f=f, i=i, c_tilde=c_tilde, c=c, o=o, tanh_c=tanh_c)
        return h, (h, c)

    @staticmethod
    def pointwise_backward(p, s, d_state, grads):
        """The forward equations taken in reverse (a_g is gate g's pre-activation):

            h_t = o_t ⊙ tanh(C_t)       ∂L/∂o_t = ∂L/∂h_t ⊙ tanh(C_t)
                                        ∂L/∂C_t += ∂L/∂h_t ⊙ o_t ⊙ (1 - tanh²(C_t))
            C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t
                                        ∂L/∂f_t = ∂L/∂C_t ⊙ C_{t-1}
                                        ∂L/∂i_t = ∂L/∂C_t ⊙ C̃_t
                                        ∂L/∂C̃_t = ∂L/∂C_t ⊙ i_t
                                        ∂L/∂C_{t-1} = ∂L/∂C_t ⊙ f_t
            gates                       ∂L/∂a_g = ∂L/∂g ⊙ σ'  (tanh' for C̃)

        The ∂L/∂C_t that arrives here already holds what C_t gave to step t+1. x_part and hu
        simply add, so both get the same ∂L/∂a.
        """
        d_h, d_c = d_state
        d_o = d_h * s["tanh_c"]
        d_c = d_c + d_h * s["o"] * d_tanh(s["tanh_c"])
        d_a = np.concatenate([d_c * s["c_tilde"] * d_sigmoid(s["i"]), d_c * s["c_prev"] * d_sigmoid(s["f"]),
                              d_c * s["i"] * d_tanh(s["c_tilde"]), d_o * d_sigmoid(s["o"])], axis=1)
        return d_a, d_a, (np.zeros_like(d_h), d_c * s["f"])

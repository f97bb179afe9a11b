"""The long short-term memory cell with a forget gate, as in nn.LSTM and Keras' LSTM.

    f_t = σ(x_t W_f + h_{t-1} U_f + b_f)          forget gate
    i_t = σ(x_t W_i + h_{t-1} U_i + b_i)          input gate
    C̃_t = tanh(x_t W_c + h_{t-1} U_c + b_c)       candidate cell state
    C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t              cell state
    o_t = σ(x_t W_o + h_{t-1} U_o + b_o)          output gate
    h_t = o_t ⊙ tanh(C_t)                         hidden state (the output)

Parameters W_g (I, H), U_g (H, H), b_g (H,) for g in i, f, c, o.
The state is the pair (h, C).
"""

from __future__ import annotations

import numpy as np

from .base import Cell
from .common import Array, d_sigmoid, d_tanh, sigmoid, split, stack, unstack, zeros_like_bias

__all__ = ["LSTM"]


class LSTM(Cell):
    """The long short-term memory cell with a forget gate, as in nn.LSTM and Keras' LSTM.

        f_t = σ(x_t W_f + h_{t-1} U_f + b_f)          forget gate
        i_t = σ(x_t W_i + h_{t-1} U_i + b_i)          input gate
        C̃_t = tanh(x_t W_c + h_{t-1} U_c + b_c)       candidate cell state
        C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t              cell state
        o_t = σ(x_t W_o + h_{t-1} U_o + b_o)          output gate
        h_t = o_t ⊙ tanh(C_t)                         hidden state (the output)

    Parameters W_g (I, H), U_g (H, H), b_g (H,) for g in i, f, c, o.
    The state is the pair (h, C).
    """

    name = "lstm"
    has_cell_state = True
    # PyTorch's row-block order (it calls the candidate "g").
    gates = ("i", "f", "c", "o")

    @classmethod
    def param_shapes(cls, input_size, hidden_size):
        I, H = input_size, hidden_size
        shapes = {f"W_{g}": (I, H) for g in cls.gates}
        shapes.update({f"U_{g}": (H, H) for g in cls.gates})
        shapes.update({f"b_{g}": (H,) for g in cls.gates})
        return shapes

    def _pre(self, gate: str, x_t: Array, h_prev: Array) -> Array:
        """x_t W_g + h_{t-1} U_g + b_g: what every gate starts from."""
        p = self.params
        return x_t @ p[f"W_{gate}"] + h_prev @ p[f"U_{gate}"] + p[f"b_{gate}"]

    def step(self, x_t, state):
        h_prev, c_prev = state
        f = sigmoid(self._pre("f", x_t, h_prev))
        i = sigmoid(self._pre("i", x_t, h_prev))
        c_tilde = np.tanh(self._pre("c", x_t, h_prev))
        c = f * c_prev + i * c_tilde
        o = sigmoid(self._pre("o", x_t, h_prev))
        tanh_c = np.tanh(c)
        h = o * tanh_c
        record = dict(x=x_t, h_prev=h_prev, c_prev=c_prev, f=f, i=i, c_tilde=c_tilde, c=c, o=o, tanh_c=tanh_c, h=h)
        return (h, c), record

    def _gate_backward(self, s, d_pre: dict[str, Array], grads) -> tuple[Array, Array]:
        """From ∂L/∂(pre-activation) of each gate to the weights, x_t and h_{t-1}.

        Every gate's pre-activation is x_t W_g + h_{t-1} U_g + b_g, so each
        adds the same three terms; x_t and h_{t-1} collect from all gates.
        """
        p = self.params
        d_x = np.zeros_like(s["x"])
        d_h_prev = np.zeros_like(s["h_prev"])
        for g, d_a in d_pre.items():
            grads[f"W_{g}"] += s["x"].T @ d_a
            grads[f"U_{g}"] += s["h_prev"].T @ d_a
            grads[f"b_{g}"] += d_a.sum(axis=0)
            d_x += d_a @ p[f"W_{g}"].T
            d_h_prev += d_a @ p[f"U_{g}"].T
        return d_x, d_h_prev

    def step_backward(self, s, d_state, grads):
        """The forward equations taken in reverse (a_g is gate g's pre-activation):

            h_t = o_t ⊙ tanh(C_t)       ∂L/∂o_t = ∂L/∂h_t ⊙ tanh(C_t)
                                        ∂L/∂C_t += ∂L/∂h_t ⊙ o_t ⊙ (1 - tanh²(C_t))
            C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t
                                        ∂L/∂f_t = ∂L/∂C_t ⊙ C_{t-1}
                                        ∂L/∂i_t = ∂L/∂C_t ⊙ C̃_t
                                        ∂L/∂C̃_t = ∂L/∂C_t ⊙ i_t
                                        ∂L/∂C_{t-1} = ∂L/∂C_t ⊙ f_t
            gates                       ∂L/∂a_g = ∂L/∂g ⊙ σ'  (tanh' for C̃)

        The ∂L/∂C_t that arrives here already holds what C_t gave to step t+1.
        """
        d_h, d_c = d_state
        d_o = d_h * s["tanh_c"]
        d_c = d_c + d_h * s["o"] * d_tanh(s["tanh_c"])
        d_pre = {
            "f": d_c * s["c_prev"] * d_sigmoid(s["f"]),
            "i": d_c * s["c_tilde"] * d_sigmoid(s["i"]),
            "c": d_c * s["i"] * d_tanh(s["c_tilde"]),
            "o": d_o * d_sigmoid(s["o"]),
        }
        d_c_prev = d_c * s["f"]
        d_x, d_h_prev = self._gate_backward(s, d_pre, grads)
        return d_x, (d_h_prev, d_c_prev)

    # PyTorch: weight_ih_l0 (4H, I), weight_hh_l0 (4H, H), bias_ih_l0, bias_hh_l0 (4H,),
    # rows in gate order i, f, g, o.
    @classmethod
    def params_from_torch_layout(cls, tensors):
        params = unstack(np.asarray(tensors["weight_ih_l0"]), cls.gates, "W")
        params.update(unstack(np.asarray(tensors["weight_hh_l0"]), cls.gates, "U"))
        bias = (zeros_like_bias(tensors, "bias_ih_l0", "weight_ih_l0")
                + zeros_like_bias(tensors, "bias_hh_l0", "weight_ih_l0"))
        params.update(split(bias, cls.gates, "b"))
        return params

    def torch_layout(self, values=None, gradient=False):
        v = self.params if values is None else values
        bias = stack(v, self.gates, "b")
        return {
            "weight_ih_l0": stack(v, self.gates, "W"),
            "weight_hh_l0": stack(v, self.gates, "U"),
            "bias_ih_l0": bias,
            "bias_hh_l0": bias.copy() if gradient else np.zeros_like(bias),
        }

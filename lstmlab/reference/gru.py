"""The gated recurrent unit in PyTorch's form (also Keras 3's default, reset_after=True).

    r_t = σ(x_t W_r + h_{t-1} U_r + b_r)                      reset gate
    z_t = σ(x_t W_z + h_{t-1} U_z + b_z)                      update gate
    n_t = tanh(x_t W_n + b_n + r_t ⊙ (h_{t-1} U_n + b_hn))    candidate
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

Parameters W_g (I, H), U_g (H, H), b_g (H,) for g in r, z, n, and b_hn (H,).
"""

from __future__ import annotations

import numpy as np

from .base import Cell
from .common import d_sigmoid, d_tanh, sigmoid, split, stack, unstack, zeros_like_bias

__all__ = ["GRU"]


class GRU(Cell):
    """The gated recurrent unit in PyTorch's form (also Keras 3's default, reset_after=True).

        r_t = σ(x_t W_r + h_{t-1} U_r + b_r)                      reset gate
        z_t = σ(x_t W_z + h_{t-1} U_z + b_z)                      update gate
        n_t = tanh(x_t W_n + b_n + r_t ⊙ (h_{t-1} U_n + b_hn))    candidate
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    The reset gate scales the whole recurrent term of the candidate,
    including its bias, so that bias b_hn cannot be merged into b_n the way
    the other biases merge. Parameters W_g (I, H), U_g (H, H), b_g (H,) for
    g in r, z, n, and b_hn (H,).
    """

    name = "gru"
    # PyTorch's row-block order.
    gates = ("r", "z", "n")

    @classmethod
    def param_shapes(cls, input_size, hidden_size):
        I, H = input_size, hidden_size
        shapes = {f"W_{g}": (I, H) for g in cls.gates}
        shapes.update({f"U_{g}": (H, H) for g in cls.gates})
        shapes.update({f"b_{g}": (H,) for g in cls.gates})
        shapes["b_hn"] = (H,)
        return shapes

    def step(self, x_t, h_prev):
        p = self.params
        r = sigmoid(x_t @ p["W_r"] + h_prev @ p["U_r"] + p["b_r"])
        z = sigmoid(x_t @ p["W_z"] + h_prev @ p["U_z"] + p["b_z"])
        hn = h_prev @ p["U_n"] + p["b_hn"]  # kept: the reset gate's gradient needs it
        n = np.tanh(x_t @ p["W_n"] + p["b_n"] + r * hn)
        h = (1.0 - z) * n + z * h_prev
        return h, dict(x=x_t, h_prev=h_prev, r=r, z=z, hn=hn, n=n, h=h)

    def step_backward(self, s, d_h, grads):
        """The forward equations taken in reverse (a_g is gate g's pre-activation):

            h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
                        ∂L/∂n_t = ∂L/∂h_t ⊙ (1 - z_t)
                        ∂L/∂z_t = ∂L/∂h_t ⊙ (h_{t-1} - n_t)
                        ∂L/∂h_{t-1} gets ∂L/∂h_t ⊙ z_t   (the direct path)
            n_t = tanh(a_n),  a_n = x_t W_n + b_n + r_t ⊙ hn_t,  hn_t = h_{t-1} U_n + b_hn
                        ∂L/∂a_n = ∂L/∂n_t ⊙ (1 - n_t²)
                        ∂L/∂r_t = ∂L/∂a_n ⊙ hn_t
                        ∂L/∂hn_t = ∂L/∂a_n ⊙ r_t  -> U_n, b_hn and h_{t-1}
            r_t, z_t    ∂L/∂a_g = ∂L/∂g ⊙ σ'
        """
        p = self.params
        x, h_prev = s["x"], s["h_prev"]
        d_n = d_h * (1.0 - s["z"])
        d_z = d_h * (h_prev - s["n"])
        d_h_prev = d_h * s["z"]

        d_a_n = d_n * d_tanh(s["n"])
        d_r = d_a_n * s["hn"]
        d_hn = d_a_n * s["r"]
        grads["W_n"] += x.T @ d_a_n
        grads["b_n"] += d_a_n.sum(axis=0)
        grads["U_n"] += h_prev.T @ d_hn
        grads["b_hn"] += d_hn.sum(axis=0)
        d_x = d_a_n @ p["W_n"].T
        d_h_prev = d_h_prev + d_hn @ p["U_n"].T

        for g, d_a in (("r", d_r * d_sigmoid(s["r"])), ("z", d_z * d_sigmoid(s["z"]))):
            grads[f"W_{g}"] += x.T @ d_a
            grads[f"U_{g}"] += h_prev.T @ d_a
            grads[f"b_{g}"] += d_a.sum(axis=0)
            d_x = d_x + d_a @ p[f"W_{g}"].T
            d_h_prev = d_h_prev + d_a @ p[f"U_{g}"].T
        return d_x, d_h_prev

    # PyTorch: weight_ih_l0 (3H, I), weight_hh_l0 (3H, H), bias_ih_l0, bias_hh_l0 (3H,),
    # rows in gate order r, z, n. The r and z biases add up; n's two stay apart.
    @classmethod
    def params_from_torch_layout(cls, tensors):
        params = unstack(np.asarray(tensors["weight_ih_l0"]), cls.gates, "W")
        params.update(unstack(np.asarray(tensors["weight_hh_l0"]), cls.gates, "U"))
        b_ih = split(zeros_like_bias(tensors, "bias_ih_l0", "weight_ih_l0"), cls.gates, "b")
        b_hh = split(zeros_like_bias(tensors, "bias_hh_l0", "weight_ih_l0"), cls.gates, "b")
        params.update(b_r=b_ih["b_r"] + b_hh["b_r"], b_z=b_ih["b_z"] + b_hh["b_z"], b_n=b_ih["b_n"], b_hn=b_hh["b_n"])
        return params

    def torch_layout(self, values=None, gradient=False):
        v = self.params if values is None else values
        zeros = np.zeros_like(v["b_r"])
        r_hh, z_hh = (v["b_r"], v["b_z"]) if gradient else (zeros, zeros)
        return {
            "weight_ih_l0": stack(v, self.gates, "W"),
            "weight_hh_l0": stack(v, self.gates, "U"),
            "bias_ih_l0": np.concatenate([v["b_r"], v["b_z"], v["b_n"]]),
            "bias_hh_l0": np.concatenate([r_hh, z_hh, v["b_hn"]]),
        }

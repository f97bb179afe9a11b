"""The gated recurrent unit in PyTorch's form (also Keras 3's default, reset_after=True).

    r_t = σ(x_t W_r + b_r + h_{t-1} U_r + b'_r)                reset gate
    z_t = σ(x_t W_z + b_z + h_{t-1} U_z + b'_z)                update gate
    n_t = tanh(x_t W_n + b_n + r_t ⊙ (h_{t-1} U_n + b'_n))     candidate
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

Fused layout: W (I, 3H), U (H, 3H), gate blocks r, z, n; the input's bias b (3H,) and the
recurrent product's own bias b_h (3H,) = (b'_r, b'_z, b'_n), as PyTorch keeps them.
"""

from __future__ import annotations

import numpy as np

from .base import Cell
from .common import d_sigmoid, d_tanh, sigmoid

__all__ = ["GRU"]


class GRU(Cell):
    """The gated recurrent unit in PyTorch's form (also Keras 3's default, reset_after=True).

        r_t = σ(x_t W_r + b_r + h_{t-1} U_r + b'_r)                reset gate
        z_t = σ(x_t W_z + b_z + h_{t-1} U_z + b'_z)                update gate
        n_t = tanh(x_t W_n + b_n + r_t ⊙ (h_{t-1} U_n + b'_n))     candidate
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    The reset gate scales the whole recurrent term of the candidate, its bias b'_n included,
    so that bias cannot be merged into b_n the way the other biases could merge; the
    recurrent product therefore has a bias of its own, b_h.
    """

    name = "gru"
    gates = ("r", "z", "n")
    products_add = False  # the reset gate multiplies the recurrent part of the candidate only

    @classmethod
    def extra_shapes(cls, hidden_size):
        return {"b_h": (3 * hidden_size,)}

    @staticmethod
    def pointwise(p, x_part, hu, h_prev, record=None):
        H = hu.shape[-1] // 3
        gh = hu + p["b_h"]
        hn = gh[:, 2 * H:]
        rz = sigmoid(x_part[:, : 2 * H] + gh[:, : 2 * H])
        r, z = rz[:, :H], rz[:, H:]
        n = np.tanh(x_part[:, 2 * H:] + r * hn)
        h = (1.0 - z) * n + z * h_prev
        if record is not None:
            record.update(r=r, z=z, hn=hn, n=n)  # hn: the reset gate's gradient needs it
        return h, h

    @staticmethod
    def pointwise_backward(p, s, d_h, grads):
        """The forward equations taken in reverse (a_g is gate g's pre-activation):

            h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
                        ∂L/∂n_t = ∂L/∂h_t ⊙ (1 - z_t)
                        ∂L/∂z_t = ∂L/∂h_t ⊙ (h_{t-1} - n_t)
                        ∂L/∂h_{t-1} gets ∂L/∂h_t ⊙ z_t   (the direct path)
            n_t = tanh(a_n),  a_n = x_t W_n + b_n + r_t ⊙ hn_t,  hn_t = h_{t-1} U_n + b'_n
                        ∂L/∂a_n = ∂L/∂n_t ⊙ (1 - n_t²)
                        ∂L/∂r_t = ∂L/∂a_n ⊙ hn_t
                        ∂L/∂hn_t = ∂L/∂a_n ⊙ r_t
            r_t, z_t    ∂L/∂a_g = ∂L/∂g ⊙ σ'
        """
        d_a_n = d_h * (1.0 - s["z"]) * d_tanh(s["n"])
        d_a_r = d_a_n * s["hn"] * d_sigmoid(s["r"])
        d_a_z = d_h * (s["h_prev"] - s["n"]) * d_sigmoid(s["z"])
        d_x_part = np.concatenate([d_a_r, d_a_z, d_a_n], axis=1)
        d_gh = np.concatenate([d_a_r, d_a_z, d_a_n * s["r"]], axis=1)
        grads["b_h"] += d_gh.sum(axis=0)
        return d_x_part, d_gh, d_h * s["z"]

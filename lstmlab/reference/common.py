"""What the reference cells share: array types, σ, tanh and layer normalisation with their
derivatives, and the trace of a forward pass.

    σ(a) = 1 / (1 + exp(-a))
    σ'(a) = σ(a) (1 - σ(a))        tanh'(a) = 1 - tanh(a)²

The base class that runs a cell over time and back again is in ``base.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

__all__ = ["Array", "LAYER_NORM_EPS", "State", "Trace", "blocks", "d_layer_norm", "d_sigmoid", "d_tanh", "layer_norm",
           "sigmoid"]

Array = np.ndarray
# The recurrent state: h alone, or the pair (h, C) for the LSTM kinds.
State = Union[Array, tuple[Array, Array]]
# PyTorch's nn.LayerNorm default.
LAYER_NORM_EPS = 1e-5


def sigmoid(a: Array) -> Array:
    """σ(a) = 1 / (1 + exp(-a)).

    Computed as (1 + tanh(a/2)) / 2, which is the same function but cannot
    overflow for large negative a (the last two steps in place: generation
    calls this at every symbol).
    """
    s = np.tanh(0.5 * a)
    s += 1.0
    s *= 0.5
    return s


# The two derivatives BPTT needs, written in terms of the activation's own
# output (which the forward pass keeps), not its input:
#     σ'(a) = σ(a) (1 - σ(a))        tanh'(a) = 1 - tanh(a)²
def d_sigmoid(s: Array) -> Array:
    return s * (1.0 - s)


def d_tanh(t: Array) -> Array:
    return 1.0 - t * t


@dataclass
class Trace:
    """What a forward pass computed, step by step.

    ``steps[t]`` is a dict of (B, ·) arrays for Python step t (equation step
    t + 1): the step's inputs ("x", "h_prev" and, for the LSTM kinds,
    "c_prev") and every value the step computed, under the names of the
    equations: "f", "i", "c_tilde", "c", "o", "tanh_c", "h" for the LSTM
    kinds; "r", "z", "hn", "n", "h" for the GRU; "h" for the Elman RNN.
    ``backward`` reads exactly these values, nothing else.

    ``trace["f"]`` stacks one name over time: shape (B, T, H).
    """

    cell: str
    x: Array
    initial_state: State
    steps: list[dict[str, Array]]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.steps[0]) if self.steps else ()

    def __getitem__(self, name: str) -> Array:
        if not self.steps:
            raise KeyError(f"{name!r}: the trace has no time steps")
        return np.stack([step[name] for step in self.steps], axis=1)

    def format(self, batch: int = 0, names: Optional[tuple[str, ...]] = None, precision: int = 4) -> str:
        """One line per time step with the chosen values for one sequence of the batch."""
        names = names or tuple(n for n in self.names if n not in ("h_prev", "c_prev"))
        lines = [f"{self.cell}, sequence {batch} of the batch"]
        for t, step in enumerate(self.steps, start=1):
            parts = [f"{n}={np.array2string(step[n][batch], precision=precision)}" for n in names]
            lines.append(f"t={t}  " + "  ".join(parts))
        return "\n".join(lines)


def layer_norm(a: Array, eps: float = LAYER_NORM_EPS) -> tuple[Array, Array]:
    """Layer normalisation without gain or shift over the last axis: (â, 1/std) with
    â = (a - mean(a)) / sqrt(var(a) + eps), the variance taken over the H values, not H - 1."""
    inv_std = 1.0 / np.sqrt(a.var(axis=-1, keepdims=True) + eps)
    return (a - a.mean(axis=-1, keepdims=True)) * inv_std, inv_std


def d_layer_norm(d_normed: Array, normed: Array, inv_std: Array) -> Array:
    """∂L/∂a from ∂L/∂â:  (d - mean(d) - â ⊙ mean(d ⊙ â)) / std, each mean over the last axis."""
    return inv_std * (d_normed - d_normed.mean(axis=-1, keepdims=True)
                      - normed * (d_normed * normed).mean(axis=-1, keepdims=True))


def blocks(a: Array, count: int) -> list[Array]:
    """The last axis cut into `count` equal gate blocks (views, not copies)."""
    width = a.shape[-1] // count
    return [a[..., k * width:(k + 1) * width] for k in range(count)]

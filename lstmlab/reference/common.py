"""What the reference cells share: array types, σ and tanh with their derivatives, the trace
of a forward pass, and the converters between the equations' parameters and PyTorch's layout.

    σ(a) = 1 / (1 + exp(-a))
    σ'(a) = σ(a) (1 - σ(a))        tanh'(a) = 1 - tanh(a)²

The base class that runs a cell over time and back again is in ``base.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

import numpy as np

__all__ = ["Array", "State", "Trace", "check_torch_layer", "d_sigmoid", "d_tanh", "sigmoid", "split", "stack",
           "unstack", "zeros_like_bias"]

Array = np.ndarray
# The recurrent state: h alone, or the pair (h, C) for the LSTM kinds.
State = Union[Array, tuple[Array, Array]]


def sigmoid(a: Array) -> Array:
    """σ(a) = 1 / (1 + exp(-a)).

    Computed as (1 + tanh(a/2)) / 2, which is the same function but cannot
    overflow for large negative a.
    """
    return 0.5 * (1.0 + np.tanh(0.5 * a))


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


# -- helpers for PyTorch's stacked layout ---------------------------------
#
# PyTorch keeps one matrix per layer with the gates stacked as row blocks,
# each block in column-vector form (H, I). The equations here use row
# vectors, so each block is transposed.

def unstack(matrix: Array, gates: tuple[str, ...], prefix: str) -> dict[str, Array]:
    """(k·H, n) torch matrix -> {prefix_gate: (n, H)} for k gates."""
    hidden = matrix.shape[0] // len(gates)
    return {f"{prefix}_{g}": matrix[k * hidden:(k + 1) * hidden].T.copy() for k, g in enumerate(gates)}


def stack(values: Mapping[str, Array], gates: tuple[str, ...], prefix: str) -> Array:
    """{prefix_gate: (n, H)} -> the (k·H, n) torch matrix (or the (k·H,) vector for biases)."""
    return np.concatenate([values[f"{prefix}_{g}"].T for g in gates], axis=0)


def split(vector: Array, gates: tuple[str, ...], prefix: str) -> dict[str, Array]:
    hidden = vector.shape[0] // len(gates)
    return {f"{prefix}_{g}": vector[k * hidden:(k + 1) * hidden].copy() for k, g in enumerate(gates)}


def check_torch_layer(layer, kind) -> None:
    """The converters read a single-layer, one-direction layer of the right class."""
    import torch

    from lstmlab.cells import PeepholeLSTM as TorchPeephole

    expected = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "peephole": TorchPeephole}[kind]
    if not isinstance(layer, expected):
        raise TypeError(f"expected a {expected.__module__}.{expected.__name__}, got {type(layer).__name__}")
    if not isinstance(layer, torch.nn.RNNBase):
        return
    if layer.num_layers != 1 or layer.bidirectional:
        raise ValueError("only single-layer, one-direction layers can be converted")
    if getattr(layer, "proj_size", 0):
        raise ValueError("LSTM projections (proj_size > 0) have no reference cell")
    if kind == "rnn" and layer.nonlinearity != "tanh":
        raise ValueError("the reference Elman RNN uses tanh, this layer uses " + layer.nonlinearity)


def zeros_like_bias(tensors: Mapping[str, Any], name: str, like: str) -> Array:
    """A bias, or zeros for a layer built with bias=False."""
    if name in tensors:
        return np.asarray(tensors[name])
    return np.zeros(np.asarray(tensors[like]).shape[0])

"""What every cell layer declares and shares: the declaration (CellLayer, Signal), the registry
of cell kinds (CELLS, filled by cells.py's classes), the trace() loop, and the conversion of a
layer's weights to its NumPy reference cell and back. Nothing here names a cell kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch import nn

from . import reference
from .recurrence import Gates, LayerState, initial_state, stack_steps

__all__ = ["CELLS", "CellLayer", "Signal", "cell_class", "cells_help", "layer_from_reference", "make_layer",
           "reference_of", "register_cell"]


@dataclass(frozen=True)
class Signal:
    """One value a cell computes at every step: what trace() calls it, the letter the inspect
    page shows, how its values map to colours ("sigmoid" 0..1, "tanh" -1..1, "cell" unbounded),
    and one sentence (HTML) for the page."""

    name: str
    short: str
    scale: str
    meaning: str


CELLS: dict[str, type[nn.Module]] = {}


def register_cell(layer_class: type[nn.Module]) -> type[nn.Module]:
    """Add a layer class to CELLS under its `kind` (a class decorator)."""
    CELLS[layer_class.kind] = layer_class
    return layer_class


def cell_class(kind: str) -> type[nn.Module]:
    """The layer class of a cell kind (configs check the name first, so a KeyError here is a bug)."""
    return CELLS[kind]


def cells_help() -> str:
    """Every kind with its one-line description, for `--cell`'s help."""
    return "; ".join(f"{kind}: {layer.help}" for kind, layer in CELLS.items())


def make_layer(cell: str, input_size: int, hidden_size: int, recurrent_dropout: float = 0.0) -> nn.Module:
    return CELLS[cell](input_size, hidden_size, recurrent_dropout)


class CellLayer:
    """The declaration every layer class makes (see the module's docstring), with defaults, and
    the trace() loop they share. A class mixes this in before its nn.Module base."""

    # The hidden-to-hidden weight, by its parameter name: what --weight-drop drops (stack.py).
    recurrent_weight_name = "weight_hh_l0"

    kind = ""
    title = ""
    help = ""
    reference: type = reference.Cell
    signals: tuple[Signal, ...] = ()
    # True when the input part and the recurrent product just add (their gradients are one tensor).
    inputs_add_to_recurrent = True
    normalises_input = False
    keras_class: Optional[str] = None
    keras_count_excludes: tuple[str, ...] = ()

    @classmethod
    def has_cell_state(cls) -> bool:
        return cls.reference.has_cell_state

    @classmethod
    def signal_names(cls) -> tuple[str, ...]:
        return tuple(s.name for s in cls.signals)

    @classmethod
    def signal(cls, name: str) -> Signal:
        """The declaration of one of trace()'s signals (an unknown name: an unbounded value)."""
        return next((s for s in cls.signals if s.name == name), Signal(name, name, "cell", ""))

    # -- the reference's fused layout (W (I, G·H), U (H, G·H), b, extras) and back ---------------

    @classmethod
    def reference_parameters(cls, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """{PyTorch parameter name: array} -> the reference cell's parameter dict. The default
        reads a hand-written layer's layout, weight_ih (G·H, I), weight_hh (G·H, H) and one bias
        (G·H,): the reference's W, U and b transposed. A class with other parameters extends it."""
        return {"W": np.asarray(tensors["weight_ih"]).T.copy(), "U": np.asarray(tensors["weight_hh"]).T.copy(),
                "b": np.asarray(tensors["bias"]).copy()}

    @classmethod
    def torch_parameters(cls, params: Mapping[str, np.ndarray], gradient: bool = False) -> dict[str, np.ndarray]:
        """The reference's parameters -> PyTorch's. With gradient=True, `params` are gradients
        ∂L/∂p and the result is the gradient with respect to PyTorch's parameters: where PyTorch
        keeps two biases that act only as their sum, both get ∂L/∂b. The default writes the
        layout reference_parameters reads."""
        return {"weight_ih": params["W"].T.copy(), "weight_hh": params["U"].T.copy(), "bias": params["b"].copy()}

    # -- Keras (lm/keras_import.py) --------------------------------------------------------------

    @classmethod
    def keras_problem(cls, config: Mapping[str, Any]) -> Optional[str]:
        """Why a Keras layer of this class, with this config, cannot be imported ("uses ..."), or None."""
        return None

    @classmethod
    def keras_bias_shape(cls, units: int) -> tuple[int, ...]:
        return (len(cls.reference.gates) * units,)

    @classmethod
    def keras_tensors(cls, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray) -> dict[str, np.ndarray]:
        """Keras' kernel (I, G·H), recurrent kernel (H, G·H) and bias -> this layer's parameters."""
        raise NotImplementedError

    # -- running -----------------------------------------------------------------------------------

    def trace(self, x: torch.Tensor, state: Optional[LayerState] = None) -> tuple[torch.Tensor, LayerState, Gates]:
        """The plain loop of `pointwise`, recording every signal. Autograd can run through it too
        (the tests compare its gradients with the hand-written ones)."""
        weight = self.recurrent_weight()
        parts = initial_state(x, state, self.hidden_size, 2 if self.has_cell_state() else 1, weight.dtype)
        h, c = parts[0], parts[-1]
        steps = []
        for x_t in self.project_inputs(x.to(weight.dtype)).unbind(1):
            h, c, gates = self.pointwise(x_t, h @ weight.T, c)
            steps.append(gates)
        gates = stack_steps(steps, self.signal_names())
        return gates["hidden"], self.final_state(h, c), gates

    def final_state(self, h: torch.Tensor, c: torch.Tensor) -> LayerState:
        return (h[None], c[None]) if self.has_cell_state() else (h[None],)


def _layer_class_of(layer: nn.Module) -> type:
    for layer_class in CELLS.values():
        if isinstance(layer, layer_class):
            return layer_class
    # A plain nn.LSTM, nn.GRU or nn.RNN (tanh) holds the same parameters as lstmlab's subclass.
    for layer_class in CELLS.values():
        torch_base = next((base for base in layer_class.__mro__ if base.__module__.startswith("torch.nn")), None)
        if torch_base not in (None, nn.Module) and type(layer) is torch_base:
            return layer_class
    raise TypeError(f"no reference cell for {type(layer).__name__}")


def reference_of(layer: nn.Module, dtype: Any = np.float64) -> reference.Cell:
    """The reference cell (lstmlab.reference) of a one-layer, one-direction recurrent layer, with
    its weights: any layer in CELLS, or a plain nn.LSTM, nn.GRU or nn.RNN (tanh)."""
    layer_class = _layer_class_of(layer)
    if isinstance(layer, nn.RNNBase):
        if layer.num_layers != 1 or layer.bidirectional:
            raise ValueError("only single-layer, one-direction layers can be converted")
        if getattr(layer, "proj_size", 0):
            raise ValueError("LSTM projections (proj_size > 0) have no reference cell")
        if getattr(layer, "nonlinearity", "tanh") != "tanh":
            raise ValueError("the reference Elman RNN uses tanh, this layer uses " + layer.nonlinearity)
        if not layer.bias:
            raise ValueError("a layer built with bias=False has no reference cell; build it with bias=True")
    tensors = {name: p.detach().cpu().double().numpy() for name, p in layer.named_parameters()}
    return layer_class.reference(layer_class.reference_parameters(tensors), dtype=dtype)


def layer_from_reference(cell: reference.Cell) -> nn.Module:
    """A new lstmlab layer (batch-first, float64 if the cell is) with a reference cell's weights."""
    layer = make_layer(cell.name, cell.input_size, cell.hidden_size)
    layer = layer.to(torch.from_numpy(np.zeros(0, dtype=cell.dtype)).dtype)
    with torch.no_grad():
        named = dict(layer.named_parameters())
        for name, value in CELLS[cell.name].torch_parameters(cell.params).items():
            named[name].copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return layer

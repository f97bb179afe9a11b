"""A recurrent layer of any cell kind, stepped by torch's scan operator so that an exported
graph keeps a dynamic number of steps.

The layers' own loops are Python loops (the stepped cells) or fused kernels that torch.onnx
cannot read (nn.LSTM under oneDNN), and an exporter unrolls a Python loop to the one length it
was traced at. `torch._higher_order_ops.scan` is one operator over the whole sequence, which
torch.onnx writes as ONNX's Scan: the body is one step of the cell, taken from the layer's own
declaration (`project_inputs`, `recurrent_weight`, `pointwise`, cells.py), so a cell's
equations still have one home and every kind exports the same way.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
# The scan operator has no public name in torch 2.13 (the version pyproject.toml pins); this
# module is the only one that imports it.
from torch._higher_order_ops import scan

from ..recurrence import LayerState


class ScannedLayer(nn.Module):
    """`layer` in evaluation mode, with the call signature of the cell layers: x (B, T, I) and
    a state ((1, B, H) tensors, a tuple of them, or None) -> outputs (B, T, H), final state.
    `run` also returns every step's signals (the layer's `signals`, in order) as (B, T, S, H)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer
        self.parts = 2 if layer.has_cell_state() else 1

    def forward(self, x: torch.Tensor, state=None):
        out, final, _ = self.run(x, state, signals=False)
        return out, (final if self.parts == 2 else final[0])

    def run(self, x: torch.Tensor, state=None, signals: bool = True
            ) -> tuple[torch.Tensor, LayerState, Optional[torch.Tensor]]:
        layer = self.layer
        weight = layer.recurrent_weight()
        if state is None:
            start = tuple(x.new_zeros(x.shape[0], layer.hidden_size, dtype=weight.dtype) for _ in range(self.parts))
        else:
            state = state if isinstance(state, tuple) else (state,)
            start = tuple(part[0].to(weight.dtype) for part in state)

        def body(carry: tuple[torch.Tensor, ...], x_t: torch.Tensor):
            new, gates = self.step(x_t, carry)
            # Scan's outputs may not alias its carry: the step's outputs are copies.
            return new, ((new[0].clone(), gates) if signals else (new[0].clone(),))

        steps = layer.project_inputs(x.to(weight.dtype)).transpose(0, 1)  # (T, B, G·H): scan walks axis 0
        final, outputs = scan(body, start, steps)
        out = outputs[0].transpose(0, 1)
        gates = outputs[1].transpose(0, 1) if signals else None
        return out, tuple(part[None] for part in final), gates

    def step(self, x_proj: torch.Tensor, carry: tuple[torch.Tensor, ...]
             ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """One step: the input part (B, G·H) and the state parts (B, H) -> the new parts and the
        step's signals (B, S, H). A cell without a cell state carries h in the "cell" slot too
        (cells.py's _BuiltIn)."""
        layer = self.layer
        h, c, values = layer.pointwise(x_proj, carry[0] @ layer.recurrent_weight().T, carry[-1])
        new = (h, c) if self.parts == 2 else (h,)
        return new, torch.stack([values[name] for name in layer.signal_names()], dim=1)

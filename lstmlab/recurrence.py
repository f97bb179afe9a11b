"""The time loop that the stepped cells (and the built-in ones under recurrent dropout) run,
with its backward pass organised by hand, and what it needs: masks, the initial state, the
recurrent product. Nothing here knows one cell from another: each layer brings its own
`pointwise` step and `pointwise_backward` (cells.py).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

LayerState = tuple[torch.Tensor, ...]
Gates = dict[str, torch.Tensor]


def initial_state(x: torch.Tensor, state: Optional[LayerState], hidden: int, parts: int, dtype: torch.dtype) -> list[torch.Tensor]:
    """The state as (B, H) tensors of the weights' dtype, zeros when none is given."""
    if state is None:
        return [x.new_zeros(x.shape[0], hidden, dtype=dtype) for _ in range(parts)]
    return [s[0].to(dtype) for s in state]


def dropout_mask(rows: int, width: int, p: float, device: torch.device,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A (rows, width) mask of 0 (probability p) and 1/(1-p), for a whole sequence.

    Drawn from torch's CPU generator whatever the device: that is the random
    state a checkpoint saves (checkpoint.save_last), so a resumed run draws the
    masks an uninterrupted one would, and a seed gives the same masks on a GPU."""
    keep = 1.0 - p
    return torch.empty(rows, width, dtype=dtype).bernoulli_(keep).div_(keep).to(device)


def drop(x: torch.Tensor, p: float, training: bool, locked: bool = False) -> torch.Tensor:
    """Dropout at rate p in training. A (B, T, F) x with `locked` gets one mask per row, the same
    at every step (variational or "locked" dropout); otherwise every number its own draw."""
    if not training or p == 0:
        return x
    if not locked or x.dim() != 3:
        return F.dropout(x, p, training=True)
    mask = dropout_mask(x.shape[0], x.shape[2], p, x.device, torch.promote_types(x.dtype, torch.float32))
    return x * mask[:, None, :]


def with_dropped_weight(layer: nn.Module, x: torch.Tensor, state, p: float):
    """layer(x, state) with DropConnect at rate p on its hidden-to-hidden weight (the parameter
    its class names `recurrent_weight_name`): one mask for this call, the gradient reaching the
    kept entries of the weight. The layer runs unchanged on the dropped weight, fused kernel and
    all (torch.func.functional_call swaps the parameter for the call)."""
    name = layer.recurrent_weight_name
    weight = getattr(layer, name)
    mask = dropout_mask(weight.shape[0], weight.shape[1], p, weight.device, weight.dtype)
    return torch.func.functional_call(layer, {name: weight * mask}, (x, state))


def recurrent_mask(layer: nn.Module, x: torch.Tensor, dtype: torch.dtype) -> Optional[torch.Tensor]:
    """The layer's recurrent-dropout mask (B, H) for this forward call; None in eval mode or at p = 0."""
    if not (layer.training and layer.recurrent_dropout > 0):
        return None
    return dropout_mask(x.shape[0], layer.hidden_size, layer.recurrent_dropout, x.device, dtype)


def stack_steps(steps: list[dict[str, torch.Tensor]], names: tuple[str, ...]) -> Gates:
    return {name: torch.stack([s[name] for s in steps], dim=1) for name in names}


def packed_linear_available(weight: torch.Tensor) -> bool:
    """oneDNN's packed linear runs on CPU tensors only; on a GPU plain matmul is the fast path."""
    return (weight.device.type == "cpu" and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_reorder_linear_weight"))


def autocast_dtype(device_type: str, fallback: torch.dtype) -> torch.dtype:
    """The dtype products run in on this device: autocast's when it is on there, else the weights'."""
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else fallback


class RecurrentProduct:
    """h U^T (forward) and d U (backward) for every step of one sequence.

    At a batch of 32 these are thin products that BLAS runs far below its peak.
    In float32, oneDNN's linear on weights re-laid out once per sequence (the
    kernels PyTorch's compiler uses on CPU) runs them 1.5x faster on the
    development machine (benchmarks/cell_speed.py times both). Other dtypes use plain matmul: oneDNN has no
    float64, and for bf16 plain matmul was as fast. On a GPU (or MPS) cuBLAS's
    plain matmul is the fast path, and oneDNN's ops take only CPU tensors.
    """

    def __init__(self, weight: torch.Tensor, dtype: torch.dtype, batch: int, backward: bool = False,
                 steps: int = 2):
        self.dtype = dtype
        weight = weight.detach().to(dtype)
        # Forward multiplies by U^T, backward by U: a linear layer with weight U, or with weight U^T.
        matrix = weight.T.contiguous() if backward else weight
        self.packed = None
        # Re-laying the weight out costs 2-3 plain products, so a single step (generation
        # with the model's own layers) multiplies plainly.
        if dtype == torch.float32 and steps > 1 and packed_linear_available(weight):
            self.packed = torch.ops.mkldnn._reorder_linear_weight(matrix, batch)
        else:
            self.matrix_t = matrix.T

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype)
        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, None, "none", [], "")
        return x @ self.matrix_t


class Recurrence(torch.autograd.Function):
    """The time loop of a stepped cell (or of a built-in cell under recurrent
    dropout), with its backward pass organised by hand.

    Backward walks the steps in reverse: the cell's `pointwise_backward` gives
    d r_t, and d h_{t-1} = d r_t U carries the gradient one step back. The
    weight gradient is then one large product over all steps,
    dU = sum_t d r_t^T h_{t-1}, as cuDNN and oneDNN organise it.

    `mask` (B, H), or None: recurrent dropout, r_t = (m ⊙ h_{t-1}) U^T. The
    weight gradient then needs the masked h_{t-1} (what is saved), and the
    gradient reaching h_{t-1} through the product is m ⊙ (d r_t U).
    """

    @staticmethod
    def forward(ctx, layer, x_proj, weight_hh, mask, h0, c0, *pointwise_params):
        state_dtype = weight_hh.dtype
        # Autocast is per device type: ask the one the inputs are on (cpu, cuda, mps).
        dtype = autocast_dtype(x_proj.device.type, state_dtype)
        recurrent = RecurrentProduct(weight_hh, dtype, h0.shape[0], steps=x_proj.shape[1])
        h, c = h0, c0
        h_prev, c_prev, saved, outputs = [], [], [], []
        for x_t in x_proj.to(state_dtype).unbind(1):
            seen = h if mask is None else h * mask
            h_prev.append(seen)
            c_prev.append(c)
            h, c, values = layer.pointwise(x_t, recurrent(seen).to(state_dtype), c)
            saved.append(values)
            outputs.append(h)
        ctx.layer, ctx.dtype, ctx.saved_steps, ctx.c_prev, ctx.mask = layer, dtype, saved, c_prev, mask
        ctx.save_for_backward(weight_hh, torch.stack(h_prev, 1))
        # Return copies: the final h and c also sit in ctx.saved_steps, and an
        # output held by its own node's context is a reference cycle that
        # Python never frees (the whole sequence's values would leak per step).
        return torch.stack(outputs, 1), h.clone(), c.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_out, d_h, d_c):
        weight_hh, h_prev = ctx.saved_tensors
        layer, dtype, state_dtype = ctx.layer, ctx.dtype, weight_hh.dtype
        steps = len(ctx.saved_steps)
        back_through_weight = RecurrentProduct(weight_hh, dtype, h_prev.shape[0], backward=True, steps=steps)
        d_r = torch.empty(h_prev.shape[0], steps, weight_hh.shape[0], dtype=state_dtype, device=h_prev.device)
        # The input part and the recurrent product usually just add, so their
        # gradients are one tensor; a second buffer only when they differ.
        d_x = d_r if layer.inputs_add_to_recurrent else torch.empty_like(d_r)
        d_params = None
        dh = d_h.to(state_dtype) if d_h is not None else torch.zeros_like(h_prev[:, 0])
        dc = d_c.to(state_dtype) if d_c is not None else torch.zeros_like(dh)
        d_out = d_out.to(state_dtype)
        for t in reversed(range(steps)):
            dx_t, d_r[:, t], dc, step_params = layer.pointwise_backward(
                ctx.saved_steps[t], ctx.c_prev[t], dh + d_out[:, t], dc)
            if d_x is not d_r:
                d_x[:, t] = dx_t
            d_params = step_params if d_params is None else [a + b for a, b in zip(d_params, step_params)]
            dh = back_through_weight(d_r[:, t]).to(state_dtype)
            if ctx.mask is not None:
                dh = dh * ctx.mask
        d_weight = d_r.flatten(0, 1).T.to(dtype) @ h_prev.flatten(0, 1).to(dtype)
        return (None, d_x, d_weight.to(state_dtype), None, dh, dc, *d_params)

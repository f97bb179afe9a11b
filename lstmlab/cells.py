"""The recurrent layers, one class per cell type, each able to show its gates.

Every layer takes x (B, T, I) batch-first and a state tuple per layer, (h, c)
for the LSTM kinds and (h,) for GRU and RNN, each (1, B, H) as in nn.LSTM, and
returns (outputs (B, T, H), new state).

    lstm            nn.LSTM (oneDNN's fused kernel on a CPU, cuDNN's on a GPU), gate order i, f, g, o
    gru             nn.GRU, gate order r, z, n
    rnn             nn.RNN (Elman), h_t = tanh(x_t W + h_{t-1} U + b)
    peephole        LSTM whose gates also read the cell state (Gers et al. 2002):
                      i_t = σ(W_i x_t + U_i h_{t-1} + p_i ⊙ c_{t-1} + b_i)
                      f_t = σ(W_f x_t + U_f h_{t-1} + p_f ⊙ c_{t-1} + b_f)
                      g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)
                      c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
                      o_t = σ(W_o x_t + U_o h_{t-1} + p_o ⊙ c_t + b_o)
                      h_t = o_t ⊙ tanh(c_t)
    layernorm-lstm  LSTM with layer normalisation (Ba, Kiros & Hinton 2016):
                      z_t = LN(W x_t) + LN(U h_{t-1}) + b,  split into i, f, g, o
                      c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
                      h_t = o_t ⊙ tanh(LN(c_t))

`layer.trace(x, state)` runs the layer and also returns every step's gate
values, {name: (B, T, H)}; the inspect page and the notebook API show these.
For the built-in cells the trace recomputes the steps from the layer's own
weights (nn.LSTM does not expose its gates), and tests check that its hidden
states equal the fused kernel's. The two extra cells have one forward step
(`pointwise`) that both training and tracing run; their backward step is
written by hand and tested against autograd through that forward step.
lstmlab.reference has the same equations in NumPy with backpropagation.

Recurrent dropout (Keras' `recurrent_dropout`, Gal & Ghahramani 2016): with
`recurrent_dropout` p > 0 and the layer in training mode, one mask per
sequence (per row and unit, 0 or 1/(1-p), the same at every step of a forward
call) multiplies h_{t-1} where it enters the recurrent product
(m ⊙ h_{t-1}) U^T, one mask shared by all gates as in Keras 3's cells. The
path of h_{t-1} that does not go through U (the GRU's z ⊙ h_{t-1}) keeps the
whole state. Every cell then runs the stepped loop of `_Recurrence`: the
fused kernels of nn.LSTM/GRU/RNN have no place for a mask. In eval mode the
mask is off and the built-ins run their fused kernel as before.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

LayerState = tuple[torch.Tensor, ...]
Gates = dict[str, torch.Tensor]

# What trace() returns per cell, in display order. "cell" is the cell state c_t.
GATE_NAMES = {
    "lstm": ("forget", "input", "candidate", "output", "cell", "hidden"),
    "peephole": ("forget", "input", "candidate", "output", "cell", "hidden"),
    "layernorm-lstm": ("forget", "input", "candidate", "output", "cell", "hidden"),
    "gru": ("reset", "update", "candidate", "hidden"),
    "rnn": ("hidden",),
}
LSTM_KINDS = ("lstm", "peephole", "layernorm-lstm")


def _initial(x: torch.Tensor, state: Optional[LayerState], hidden: int, parts: int, dtype: torch.dtype) -> list[torch.Tensor]:
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


def _recurrent_mask(layer: nn.Module, x: torch.Tensor, dtype: torch.dtype) -> Optional[torch.Tensor]:
    """The layer's recurrent-dropout mask (B, H) for this forward call; None in eval mode or at p = 0."""
    if not (layer.training and layer.recurrent_dropout > 0):
        return None
    return dropout_mask(x.shape[0], layer.hidden_size, layer.recurrent_dropout, x.device, dtype)


def _stack(steps: list[dict[str, torch.Tensor]], names: tuple[str, ...]) -> Gates:
    return {name: torch.stack([s[name] for s in steps], dim=1) for name in names}


def _lstm_update(z: torch.Tensor, c: torch.Tensor, hidden: int):
    """Pre-activations z (B, 4H) in order i, f, g, o -> the gates and the new cell state."""
    i, f, g, o = z.split(hidden, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    return i, f, g, o, f * c + i * g


def open_forget_gate(bias: torch.Tensor, hidden: int) -> None:
    # Start with the forget gate open (bias 1) so that memory is kept by
    # default and gradients flow through time early in training
    # (Jozefowicz et al. 2015; Keras' unit_forget_bias does the same).
    with torch.no_grad():
        bias[hidden : 2 * hidden].fill_(1.0)


class LSTM(nn.LSTM):
    """nn.LSTM; with recurrent dropout in training, the same weights run by `_Recurrence`.

    `pointwise` (and `pointwise_backward`) are the step of that loop, which trace() runs too."""

    kind = "lstm"
    inputs_add_to_recurrent = True

    def __init__(self, input_size: int, hidden_size: int, recurrent_dropout: float = 0.0):
        super().__init__(input_size, hidden_size, batch_first=True)
        self.recurrent_dropout = recurrent_dropout
        open_forget_gate(self.bias_ih_l0, hidden_size)
        with torch.no_grad():
            self.bias_hh_l0[hidden_size : 2 * hidden_size].zero_()

    def forward(self, x: torch.Tensor, hx: Optional[LayerState] = None):
        state_dtype = self.weight_hh_l0.dtype
        mask = _recurrent_mask(self, x, state_dtype)
        if mask is None:
            return super().forward(x, hx)
        h0, c0 = _initial(x, hx, self.hidden_size, 2, state_dtype)
        x_proj = F.linear(x, self.weight_ih_l0, self.bias_ih_l0 + self.bias_hh_l0).to(state_dtype)
        out, h, c = _Recurrence.apply(self, x_proj, self.weight_hh_l0, mask, h0, c0)
        return out, (h[None], c[None])

    def pointwise_parameters(self) -> list[nn.Parameter]:
        return []

    def pointwise(self, x_proj, recurrent, c):
        i, f, g, o, c = _lstm_update(x_proj + recurrent, c, self.hidden_size)
        tanh_c = torch.tanh(c)
        h = o * tanh_c
        return h, c, dict(forget=f, input=i, candidate=g, output=o, cell=c, hidden=h, tanh_cell=tanh_c)

    def pointwise_backward(self, s, c_prev, dh, dc):
        i, f, g, o, tanh_c = s["input"], s["forget"], s["candidate"], s["output"], s["tanh_cell"]
        dz_o = dh * tanh_c * _d_sigmoid(o)
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        dz_i = dc * g * _d_sigmoid(i)
        dz_f = dc * c_prev * _d_sigmoid(f)
        dz_g = dc * i * (1 - g * g)
        dz = torch.cat([dz_i, dz_f, dz_g, dz_o], dim=1)
        return dz, dz, dc * f, []

    def trace(self, x: torch.Tensor, state: Optional[LayerState] = None) -> tuple[torch.Tensor, LayerState, Gates]:
        h, c = _initial(x, state, self.hidden_size, 2, self.weight_hh_l0.dtype)
        x_proj = F.linear(x.to(h.dtype), self.weight_ih_l0, self.bias_ih_l0 + self.bias_hh_l0)
        steps = []
        for t in range(x.shape[1]):
            h, c, gates = self.pointwise(x_proj[:, t], h @ self.weight_hh_l0.T, c)
            steps.append(gates)
        gates = _stack(steps, GATE_NAMES[self.kind])
        return gates["hidden"], (h[None], c[None]), gates


class GRU(nn.GRU):
    """nn.GRU; with recurrent dropout in training, the same weights run by `_Recurrence`.

    A GRU has no cell state: in that loop the "cell" slot carries h_{t-1} itself,
    unmasked, for the update gate's z ⊙ h_{t-1}, which does not go through U."""

    kind = "gru"
    # The reset gate scales the recurrent part of the candidate only.
    inputs_add_to_recurrent = False

    def __init__(self, input_size: int, hidden_size: int, recurrent_dropout: float = 0.0):
        super().__init__(input_size, hidden_size, batch_first=True)
        self.recurrent_dropout = recurrent_dropout

    def forward(self, x: torch.Tensor, hx: Optional[torch.Tensor] = None):
        state_dtype = self.weight_hh_l0.dtype
        mask = _recurrent_mask(self, x, state_dtype)
        if mask is None:
            return super().forward(x, hx)
        (h0,) = _initial(x, None if hx is None else (hx,), self.hidden_size, 1, state_dtype)
        x_proj = F.linear(x, self.weight_ih_l0, self.bias_ih_l0).to(state_dtype)
        out, h, _ = _Recurrence.apply(self, x_proj, self.weight_hh_l0, mask, h0, h0, self.bias_hh_l0)
        return out, h[None]

    def pointwise_parameters(self) -> list[nn.Parameter]:
        return [self.bias_hh_l0]

    def pointwise(self, x_proj, recurrent, h_prev):
        H = self.hidden_size
        gh = recurrent + self.bias_hh_l0
        r = torch.sigmoid(x_proj[:, :H] + gh[:, :H])
        z = torch.sigmoid(x_proj[:, H : 2 * H] + gh[:, H : 2 * H])
        # The reset gate scales the recurrent part only (PyTorch's and Keras 3's form).
        n = torch.tanh(x_proj[:, 2 * H :] + r * gh[:, 2 * H :])
        h = (1 - z) * n + z * h_prev
        return h, h, dict(reset=r, update=z, candidate=n, hidden=h, recurrent_candidate=gh[:, 2 * H :])

    def pointwise_backward(self, s, h_prev, dh, dc):
        r, z, n = s["reset"], s["update"], s["candidate"]
        dh = dh + dc  # h_t is both the output and the "cell" slot
        dz_n = dh * (1 - z) * (1 - n * n)
        dz_r = dz_n * s["recurrent_candidate"] * _d_sigmoid(r)
        dz_z = dh * (h_prev - n) * _d_sigmoid(z)
        d_recurrent = torch.cat([dz_r, dz_z, dz_n * r], dim=1)
        return torch.cat([dz_r, dz_z, dz_n], dim=1), d_recurrent, dh * z, [d_recurrent.sum(0)]

    def trace(self, x: torch.Tensor, state: Optional[LayerState] = None) -> tuple[torch.Tensor, LayerState, Gates]:
        (h,) = _initial(x, state, self.hidden_size, 1, self.weight_hh_l0.dtype)
        x_proj = F.linear(x.to(h.dtype), self.weight_ih_l0, self.bias_ih_l0)
        steps = []
        for t in range(x.shape[1]):
            h, _, gates = self.pointwise(x_proj[:, t], h @ self.weight_hh_l0.T, h)
            steps.append(gates)
        gates = _stack(steps, GATE_NAMES[self.kind])
        return gates["hidden"], (h[None],), gates


class RNN(nn.RNN):
    """nn.RNN; with recurrent dropout in training, the same weights run by `_Recurrence`
    (its "cell" slot carries h_{t-1}, which the step does not read)."""

    kind = "rnn"
    inputs_add_to_recurrent = True

    def __init__(self, input_size: int, hidden_size: int, recurrent_dropout: float = 0.0):
        super().__init__(input_size, hidden_size, batch_first=True)
        self.recurrent_dropout = recurrent_dropout

    def forward(self, x: torch.Tensor, hx: Optional[torch.Tensor] = None):
        state_dtype = self.weight_hh_l0.dtype
        mask = _recurrent_mask(self, x, state_dtype)
        if mask is None:
            return super().forward(x, hx)
        (h0,) = _initial(x, None if hx is None else (hx,), self.hidden_size, 1, state_dtype)
        x_proj = F.linear(x, self.weight_ih_l0, self.bias_ih_l0 + self.bias_hh_l0).to(state_dtype)
        out, h, _ = _Recurrence.apply(self, x_proj, self.weight_hh_l0, mask, h0, h0)
        return out, h[None]

    def pointwise_parameters(self) -> list[nn.Parameter]:
        return []

    def pointwise(self, x_proj, recurrent, h_prev):
        h = torch.tanh(x_proj + recurrent)
        return h, h, dict(hidden=h)

    def pointwise_backward(self, s, h_prev, dh, dc):
        dz = (dh + dc) * (1 - s["hidden"] ** 2)
        return dz, dz, torch.zeros_like(dh), []

    def trace(self, x: torch.Tensor, state: Optional[LayerState] = None) -> tuple[torch.Tensor, LayerState, Gates]:
        (h,) = _initial(x, state, self.hidden_size, 1, self.weight_hh_l0.dtype)
        x_proj = F.linear(x.to(h.dtype), self.weight_ih_l0, self.bias_ih_l0 + self.bias_hh_l0)
        steps = []
        for t in range(x.shape[1]):
            h, _, gates = self.pointwise(x_proj[:, t], h @ self.weight_hh_l0.T, h)
            steps.append(gates)
        gates = _stack(steps, GATE_NAMES[self.kind])
        return gates["hidden"], (h[None],), gates


def _normalize(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer normalisation without gain: (x - mean) / std over the last axis, and 1 / std."""
    mean = x.mean(dim=-1, keepdim=True)
    inv_std = torch.rsqrt(x.var(dim=-1, unbiased=False, keepdim=True) + eps)
    return (x - mean) * inv_std, inv_std


def _normalize_backward(d_normed: torch.Tensor, normed: torch.Tensor, inv_std: torch.Tensor) -> torch.Tensor:
    """Gradient through _normalize: (d - mean(d) - x̂ mean(d x̂)) / std."""
    return inv_std * (d_normed - d_normed.mean(-1, keepdim=True) - normed * (d_normed * normed).mean(-1, keepdim=True))


def _d_sigmoid(s: torch.Tensor) -> torch.Tensor:
    return s * (1 - s)


class _SteppedLSTM(nn.Module):
    """An LSTM variant run by a Python loop over time steps.

    Each step is one recurrent product r_t = h_{t-1} U^T (done by the loop) and
    the variant's element-wise `pointwise(x_t, r_t, c_{t-1})`. The input product
    for all steps is one large matrix product before the loop.

    Training runs the loop inside `_Recurrence`, whose backward pass is written
    by hand (`pointwise_backward`, checked against autograd through the plain
    loop in the tests). Left to autograd, the loop was 2-3x slower: every step
    builds a graph of a dozen small nodes and writes a whole (4H, H) weight
    gradient, where one product at the end does for all steps.

    Gate maths runs in the weights' dtype (float32) even under bf16 autocast:
    the cell state accumulates over hundreds of steps and must not be rounded
    to 8 bits of mantissa at every one. The products run in autocast's dtype.
    """

    kind = ""
    # True when z_t = x part + recurrent product (no normalisation between).
    inputs_add_to_recurrent = True

    def __init__(self, input_size: int, hidden_size: int, recurrent_dropout: float = 0.0):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.recurrent_dropout = recurrent_dropout
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
        # nn.LSTM's initialisation, so the variants start where the baseline does.
        bound = hidden_size ** -0.5
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)
        open_forget_gate(self.bias, hidden_size)

    def pointwise_parameters(self) -> list[nn.Parameter]:
        """The parameters `pointwise` reads, in the order `pointwise_backward` returns their gradients."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: Optional[LayerState] = None) -> tuple[torch.Tensor, LayerState]:
        h0, c0 = _initial(x, state, self.hidden_size, 2, self.weight_hh.dtype)
        x_proj = self.project_inputs(x)  # (B, T, 4H)
        mask = _recurrent_mask(self, x, self.weight_hh.dtype)
        out, h, c = _Recurrence.apply(self, x_proj, self.weight_hh, mask, h0, c0, *self.pointwise_parameters())
        return out, (h[None], c[None])

    def trace(self, x: torch.Tensor, state: Optional[LayerState] = None) -> tuple[torch.Tensor, LayerState, Gates]:
        """The plain loop, recording every gate. Autograd can run through it too
        (the tests compare its gradients with the hand-written ones)."""
        h, c = _initial(x, state, self.hidden_size, 2, self.weight_hh.dtype)
        steps = []
        for x_t in self.project_inputs(x).unbind(1):
            h, c, gates = self.pointwise(x_t, h @ self.weight_hh.T, c)
            steps.append(gates)
        gates = _stack(steps, GATE_NAMES[self.kind])
        return gates["hidden"], (h[None], c[None]), gates

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def pointwise(self, x_proj: torch.Tensor, recurrent: torch.Tensor, c: torch.Tensor):
        """(B, 4H) input part, (B, 4H) recurrent product, (B, H) cell state ->
        h, new c, and the step's values by name (what backward needs included)."""
        raise NotImplementedError

    def pointwise_backward(self, saved: dict[str, torch.Tensor], c_prev: torch.Tensor, dh: torch.Tensor,
                           dc: torch.Tensor):
        """Gradients of h and c -> those of the input part, the recurrent
        product, c_{t-1}, and (summed over the batch) each pointwise parameter."""
        raise NotImplementedError


def _packed_linear_available(weight: torch.Tensor) -> bool:
    """oneDNN's packed linear runs on CPU tensors only; on a GPU plain matmul is the fast path."""
    return (weight.device.type == "cpu" and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_reorder_linear_weight"))


def _autocast_dtype(device_type: str, fallback: torch.dtype) -> torch.dtype:
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
        if dtype == torch.float32 and steps > 1 and _packed_linear_available(weight):
            self.packed = torch.ops.mkldnn._reorder_linear_weight(matrix, batch)
        else:
            self.matrix_t = matrix.T

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype)
        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, None, "none", [], "")
        return x @ self.matrix_t


class _Recurrence(torch.autograd.Function):
    """The time loop of a _SteppedLSTM (or of a built-in cell under recurrent
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
        dtype = _autocast_dtype(x_proj.device.type, state_dtype)
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


class PeepholeLSTM(_SteppedLSTM):
    kind = "peephole"

    def __init__(self, input_size: int, hidden_size: int, recurrent_dropout: float = 0.0):
        super().__init__(input_size, hidden_size, recurrent_dropout)
        # Diagonal peephole weights, one per unit and gate; zero starts the
        # cell exactly as a plain LSTM and lets training decide how much to peek.
        self.peephole_i = nn.Parameter(torch.zeros(hidden_size))
        self.peephole_f = nn.Parameter(torch.zeros(hidden_size))
        self.peephole_o = nn.Parameter(torch.zeros(hidden_size))

    def pointwise_parameters(self):
        return [self.peephole_i, self.peephole_f, self.peephole_o]

    def project_inputs(self, x):
        return F.linear(x, self.weight_ih, self.bias).to(self.weight_hh.dtype)

    def pointwise(self, x_proj, recurrent, c):
        zi, zf, zg, zo = (x_proj + recurrent).split(self.hidden_size, dim=1)
        i = torch.sigmoid(zi + self.peephole_i * c)
        f = torch.sigmoid(zf + self.peephole_f * c)
        g = torch.tanh(zg)
        c_new = f * c + i * g
        # The output gate looks at the new cell state, as in Gers et al.
        o = torch.sigmoid(zo + self.peephole_o * c_new)
        tanh_c = torch.tanh(c_new)
        h = o * tanh_c
        return h, c_new, dict(forget=f, input=i, candidate=g, output=o, cell=c_new, hidden=h, tanh_cell=tanh_c)

    def pointwise_backward(self, s, c_prev, dh, dc):
        i, f, g, o, c, tanh_c = s["input"], s["forget"], s["candidate"], s["output"], s["cell"], s["tanh_cell"]
        dz_o = dh * tanh_c * _d_sigmoid(o)
        # c_t reaches the loss through h_t (via tanh), through o_t's peephole, and through the next step.
        dc = dc + dh * o * (1 - tanh_c * tanh_c) + dz_o * self.peephole_o
        dz_i = dc * g * _d_sigmoid(i)
        dz_f = dc * c_prev * _d_sigmoid(f)
        dz_g = dc * i * (1 - g * g)
        dc_prev = dc * f + dz_i * self.peephole_i + dz_f * self.peephole_f
        dz = torch.cat([dz_i, dz_f, dz_g, dz_o], dim=1)
        d_peepholes = [(dz_i * c_prev).sum(0), (dz_f * c_prev).sum(0), (dz_o * c).sum(0)]
        return dz, dz, dc_prev, d_peepholes


class LayerNormLSTM(_SteppedLSTM):
    kind = "layernorm-lstm"
    inputs_add_to_recurrent = False

    def __init__(self, input_size: int, hidden_size: int, recurrent_dropout: float = 0.0):
        super().__init__(input_size, hidden_size, recurrent_dropout)
        # Normalising each product keeps the gates' inputs at a steady scale
        # whatever the weights do, which lets larger learning rates work. The
        # shift lives in self.bias, so the two products' norms have gains only.
        self.norm_ih = nn.LayerNorm(4 * hidden_size, bias=False)
        self.norm_hh = nn.LayerNorm(4 * hidden_size, bias=False)
        self.norm_cell = nn.LayerNorm(hidden_size)

    def pointwise_parameters(self):
        return [self.norm_hh.weight, self.norm_cell.weight, self.norm_cell.bias]

    def project_inputs(self, x):
        return self.norm_ih(F.linear(x, self.weight_ih).to(self.weight_hh.dtype)) + self.bias

    def pointwise(self, x_proj, recurrent, c):
        normed_r, inv_r = _normalize(recurrent, self.norm_hh.eps)
        i, f, g, o, c = _lstm_update(x_proj + self.norm_hh.weight * normed_r, c, self.hidden_size)
        normed_c, inv_c = _normalize(c, self.norm_cell.eps)
        tanh_c = torch.tanh(self.norm_cell.weight * normed_c + self.norm_cell.bias)
        h = o * tanh_c
        return h, c, dict(forget=f, input=i, candidate=g, output=o, cell=c, hidden=h, tanh_cell=tanh_c,
                          normed_r=normed_r, inv_r=inv_r, normed_c=normed_c, inv_c=inv_c)

    def pointwise_backward(self, s, c_prev, dh, dc):
        i, f, g, o, tanh_c = s["input"], s["forget"], s["candidate"], s["output"], s["tanh_cell"]
        dz_o = dh * tanh_c * _d_sigmoid(o)
        d_cell_norm_out = dh * o * (1 - tanh_c * tanh_c)  # gradient at LN(c_t)'s output
        dc = dc + _normalize_backward(d_cell_norm_out * self.norm_cell.weight, s["normed_c"], s["inv_c"])
        dz_i = dc * g * _d_sigmoid(i)
        dz_f = dc * c_prev * _d_sigmoid(f)
        dz_g = dc * i * (1 - g * g)
        dz = torch.cat([dz_i, dz_f, dz_g, dz_o], dim=1)
        d_r = _normalize_backward(dz * self.norm_hh.weight, s["normed_r"], s["inv_r"])
        d_params = [(dz * s["normed_r"]).sum(0), (d_cell_norm_out * s["normed_c"]).sum(0), d_cell_norm_out.sum(0)]
        return dz, d_r, dc * f, d_params


CELL_LAYERS: dict[str, type[nn.Module]] = {
    "lstm": LSTM, "gru": GRU, "rnn": RNN, "peephole": PeepholeLSTM, "layernorm-lstm": LayerNormLSTM,
}


def make_layer(cell: str, input_size: int, hidden_size: int, recurrent_dropout: float = 0.0) -> nn.Module:
    return CELL_LAYERS[cell](input_size, hidden_size, recurrent_dropout)

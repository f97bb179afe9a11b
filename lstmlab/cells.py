"""The recurrent layers, one class per cell kind, and the one place that declares each kind.

Every layer takes x (B, T, I) batch-first and a state tuple per layer, (h, c)
for the kinds with a cell state and (h,) otherwise, each (1, B, H) as in nn.LSTM,
and returns (outputs (B, T, H), new state).

    lstm            nn.LSTM (oneDNN's fused kernel on a CPU, cuDNN's on a GPU), gate order i, f, g, o
    gru             nn.GRU, gate order r, z, n
    rnn             nn.RNN (Elman), h_t = tanh(x_t W + h_{t-1} U + b)
    peephole        LSTM whose gates also read the cell state (Gers et al. 2002)
    layernorm-lstm  LSTM with layer normalisation (Ba, Kiros & Hinton 2016)

The equations of each kind are written twice, and only twice: here in PyTorch (the layer's
`pointwise` step, and its hand-written `pointwise_backward`), and in NumPy in
`lstmlab/reference/<cell>.py`, which the tests hold these layers to in float64 and which the
NumPy generation stepper (lm/generation.py) runs in float32.

A layer class also declares what the rest of the package asks of its kind, so that no other
module names a cell kind (tests/test_layout.py checks):
    kind, title              the name in configs and flags; the name in summaries
    help                     a line for `--cell`'s help
    reference                its NumPy twin (lstmlab.reference)
    signals                  what trace() returns, in display order, with a short name, a
                             colour scale and a sentence for the inspect page
    reference_parameters     its weights in the reference's fused layout, and back
    keras_class, ...         how a Keras layer of this kind is imported (None: not importable)
    keras_count_excludes     parameters Keras' count leaves out (PyTorch's second bias)
    normalises_input         whether a single input number would be normalised away
`register_cell` adds a class to CELLS, the registry every config, flag and loader reads.

`layer.trace(x, state)` runs the layer and also returns every step's gate values, {name:
(B, T, H)}; the inspect page and the notebook API show these. For the built-in cells the trace
recomputes the steps from the layer's own weights (nn.LSTM does not expose its gates), and tests
check that its hidden states equal the fused kernel's.

Recurrent dropout (Keras' `recurrent_dropout`, Gal & Ghahramani 2016): with `recurrent_dropout`
p > 0 and the layer in training mode, one mask per sequence (per row and unit, 0 or 1/(1-p), the
same at every step of a forward call) multiplies h_{t-1} where it enters the recurrent product
(m ⊙ h_{t-1}) U^T, one mask shared by all gates as in Keras 3's cells. The path of h_{t-1} that
does not go through U (the GRU's z ⊙ h_{t-1}) keeps the whole state. Every cell then runs the
stepped loop of `recurrence.Recurrence`: the fused kernels of nn.LSTM/GRU/RNN have no place for
a mask. In eval mode the mask is off and the built-ins run their fused kernel as before.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import reference
from .cell_base import (CELLS, CellLayer, Signal, cell_class, cells_help, layer_from_reference, make_layer, reference_of,
                        register_cell)
from .recurrence import Gates, LayerState, Recurrence, dropout_mask, initial_state, recurrent_mask

__all__ = ["CELLS", "DEFAULT_CELL", "Gates", "LayerState", "Signal", "cell_class", "cells_help", "dropout_mask",
           "layer_from_reference", "make_layer", "reference_of", "register_cell"]

DEFAULT_CELL = "lstm"


_LSTM_SIGNALS = (
    Signal("forget", "f", "sigmoid", "how much of the old cell state is kept: 1 keeps all of the memory, 0 wipes it."),
    Signal("input", "i", "sigmoid", "how much of the candidate is written into the cell at this character."),
    Signal("candidate", "g", "tanh", "the new content proposed for the cell at this character."),
    Signal("output", "o", "sigmoid", "how much of the cell the unit shows to the rest of the network."),
    Signal("cell", "c", "cell", "the unit's memory, c = f·c<sub>prev</sub> + i·g. It is not squashed, so it can grow "
           "past ±1 and carry something (an open quote, say) across many characters."),
    Signal("hidden", "h", "tanh", "what the unit outputs, h = o·tanh(c): the next layer and the next-character "
           "prediction read this."),
)


def _replace_meaning(signals: tuple[Signal, ...], name: str, meaning: str) -> tuple[Signal, ...]:
    return tuple(Signal(s.name, s.short, s.scale, meaning) if s.name == name else s for s in signals)


def open_forget_gate(bias: torch.Tensor, hidden: int) -> None:
    # Start with the forget gate open (bias 1) so that memory is kept by
    # default and gradients flow through time early in training
    # (Jozefowicz et al. 2015; Keras' unit_forget_bias does the same).
    with torch.no_grad():
        bias[hidden : 2 * hidden].fill_(1.0)


def _d_sigmoid(s: torch.Tensor) -> torch.Tensor:
    return s * (1 - s)


def _lstm_update(z: torch.Tensor, c: torch.Tensor, hidden: int):
    """Pre-activations z (B, 4H) in order i, f, g, o -> the gates and the new cell state."""
    i, f, g, o = z.split(hidden, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    return i, f, g, o, f * c + i * g


class _BuiltIn(CellLayer):
    """nn.LSTM, nn.GRU or nn.RNN; with recurrent dropout in training, the same weights run by
    `Recurrence`, whose step is the class's `pointwise` (which trace() runs too). Without a
    cell state, the loop's "cell" slot carries h_{t-1} itself, unmasked."""

    def recurrent_weight(self) -> torch.Tensor:
        return self.weight_hh_l0

    def input_bias(self) -> torch.Tensor:
        return self.bias_ih_l0 + self.bias_hh_l0

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight_ih_l0, self.input_bias()).to(self.weight_hh_l0.dtype)

    def pointwise_parameters(self) -> list[nn.Parameter]:
        return []

    def forward(self, x: torch.Tensor, hx=None):
        state_dtype = self.weight_hh_l0.dtype
        mask = recurrent_mask(self, x, state_dtype)
        if mask is None:
            return super().forward(x, hx)
        given = None if hx is None else (hx if self.has_cell_state() else (hx,))
        parts = initial_state(x, given, self.hidden_size, 2 if self.has_cell_state() else 1, state_dtype)
        out, h, c = Recurrence.apply(self, self.project_inputs(x), self.weight_hh_l0, mask, parts[0], parts[-1],
                                     *self.pointwise_parameters())
        return out, ((h[None], c[None]) if self.has_cell_state() else h[None])

    # nn.LSTM/GRU/RNN's parameters: weight_ih_l0 (G·H, I), weight_hh_l0 (G·H, H), bias_ih_l0 and
    # bias_hh_l0 (G·H,), which act only as their sum except where a class says otherwise.
    @classmethod
    def reference_parameters(cls, tensors):
        bias = np.asarray(tensors["bias_ih_l0"]) + np.asarray(tensors["bias_hh_l0"])
        return {"W": np.asarray(tensors["weight_ih_l0"]).T.copy(), "U": np.asarray(tensors["weight_hh_l0"]).T.copy(),
                "b": bias}

    @classmethod
    def torch_parameters(cls, params, gradient=False):
        return {"weight_ih_l0": params["W"].T.copy(), "weight_hh_l0": params["U"].T.copy(),
                "bias_ih_l0": params["b"].copy(),
                "bias_hh_l0": params["b"].copy() if gradient else np.zeros_like(params["b"])}


def _keras_gated_problem(config: Mapping[str, Any]) -> Optional[str]:
    activation = config.get("recurrent_activation", "sigmoid")
    if isinstance(activation, dict):  # Keras 3 may save {"class_name": ..., "config": ...}
        activation = activation.get("config") if isinstance(activation.get("config"), str) else activation.get("class_name")
    if activation != "sigmoid":
        return (f"uses recurrent_activation {activation!r}; lstmlab's gates use sigmoid "
                "(old Keras defaulted to hard_sigmoid: retrain with recurrent_activation='sigmoid')")
    return None


@register_cell
class LSTM(_BuiltIn, nn.LSTM):
    kind = "lstm"
    title = "LSTM"
    help = "long short-term memory (Hochreiter & Schmidhuber 1997, with a forget gate)"
    reference = reference.LSTM
    signals = _LSTM_SIGNALS
    keras_class = "LSTM"
    keras_count_excludes = ("bias_hh_l0",)

    def __init__(self, input_size: int, hidden_size: int, recurrent_dropout: float = 0.0):
        super().__init__(input_size, hidden_size, batch_first=True)
        self.recurrent_dropout = recurrent_dropout
        open_forget_gate(self.bias_ih_l0, hidden_size)
        with torch.no_grad():
            self.bias_hh_l0[hidden_size : 2 * hidden_size].zero_()

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

    keras_problem = staticmethod(_keras_gated_problem)

    @classmethod
    def keras_tensors(cls, kernel, recurrent, bias):
        # Keras' i, f, c, o is PyTorch's i, f, g, o. One Keras bias; PyTorch adds two.
        return {"weight_ih_l0": kernel.T, "weight_hh_l0": recurrent.T, "bias_ih_l0": bias,
                "bias_hh_l0": np.zeros_like(bias)}


@register_cell
class GRU(_BuiltIn, nn.GRU):
    """The reset gate scales the recurrent part of the candidate only (PyTorch's and Keras 3's
    form), so the recurrent product keeps its own bias."""

    kind = "gru"
    title = "GRU"
    help = "gated recurrent unit (Cho et al. 2014), PyTorch's form"
    reference = reference.GRU
    signals = (
        Signal("reset", "r", "sigmoid", "how much of the previous hidden state the candidate may look at: 0 starts afresh."),
        Signal("update", "z", "sigmoid", "how much of the previous hidden state is kept, h = (1 − z)·n + "
               "z·h<sub>prev</sub>: 1 keeps the old value, 0 takes the candidate."),
        Signal("candidate", "n", "tanh", "the new value proposed from this character and the (reset) previous state."),
        Signal("hidden", "h", "tanh", "the unit's state and output: the next layer and the prediction read this."),
    )
    inputs_add_to_recurrent = False
    keras_class = "GRU"

    def __init__(self, input_size: int, hidden_size: int, recurrent_dropout: float = 0.0):
        super().__init__(input_size, hidden_size, batch_first=True)
        self.recurrent_dropout = recurrent_dropout

    def input_bias(self):
        return self.bias_ih_l0

    def pointwise_parameters(self) -> list[nn.Parameter]:
        return [self.bias_hh_l0]

    def pointwise(self, x_proj, recurrent, h_prev):
        H = self.hidden_size
        gh = recurrent + self.bias_hh_l0
        r = torch.sigmoid(x_proj[:, :H] + gh[:, :H])
        z = torch.sigmoid(x_proj[:, H : 2 * H] + gh[:, H : 2 * H])
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

    @classmethod
    def reference_parameters(cls, tensors):
        return {"W": np.asarray(tensors["weight_ih_l0"]).T.copy(), "U": np.asarray(tensors["weight_hh_l0"]).T.copy(),
                "b": np.asarray(tensors["bias_ih_l0"]).copy(), "b_h": np.asarray(tensors["bias_hh_l0"]).copy()}

    @classmethod
    def torch_parameters(cls, params, gradient=False):
        return {"weight_ih_l0": params["W"].T.copy(), "weight_hh_l0": params["U"].T.copy(),
                "bias_ih_l0": params["b"].copy(), "bias_hh_l0": params["b_h"].copy()}

    @classmethod
    def keras_problem(cls, config):
        if not config.get("reset_after", True):
            return ("has reset_after=False, a GRU variant PyTorch does not implement; retrain with reset_after=True "
                    "(the Keras default)")
        return _keras_gated_problem(config)

    @classmethod
    def keras_bias_shape(cls, units):
        return (2, 3 * units)  # reset_after: the input's bias and the recurrent product's

    @classmethod
    def keras_tensors(cls, kernel, recurrent, bias):
        # Keras orders the gates z, r, h; PyTorch r, z, n.
        units = recurrent.shape[0]
        order = np.concatenate([np.arange(units, 2 * units), np.arange(units), np.arange(2 * units, 3 * units)])
        kernel, recurrent, bias = kernel[:, order], recurrent[:, order], bias[:, order]
        return {"weight_ih_l0": kernel.T, "weight_hh_l0": recurrent.T, "bias_ih_l0": bias[0], "bias_hh_l0": bias[1]}


@register_cell
class RNN(_BuiltIn, nn.RNN):
    kind = "rnn"
    title = "SimpleRNN"
    help = "Elman's simple recurrent network, h = tanh(W·x + U·h + b)"
    reference = reference.ElmanRNN
    signals = (Signal("hidden", "h", "tanh", "a plain recurrent unit, h = tanh(W·x + U·h<sub>prev</sub> + b); "
                      "it has no gates."),)
    keras_class = "SimpleRNN"
    keras_count_excludes = ("bias_hh_l0",)

    def __init__(self, input_size: int, hidden_size: int, recurrent_dropout: float = 0.0):
        super().__init__(input_size, hidden_size, batch_first=True)
        self.recurrent_dropout = recurrent_dropout

    def pointwise(self, x_proj, recurrent, h_prev):
        h = torch.tanh(x_proj + recurrent)
        return h, h, dict(hidden=h)

    def pointwise_backward(self, s, h_prev, dh, dc):
        dz = (dh + dc) * (1 - s["hidden"] ** 2)
        return dz, dz, torch.zeros_like(dh), []

    @classmethod
    def keras_tensors(cls, kernel, recurrent, bias):
        return {"weight_ih_l0": kernel.T, "weight_hh_l0": recurrent.T, "bias_ih_l0": bias,
                "bias_hh_l0": np.zeros_like(bias)}


def _normalize(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer normalisation without gain: (x - mean) / std over the last axis, and 1 / std."""
    mean = x.mean(dim=-1, keepdim=True)
    inv_std = torch.rsqrt(x.var(dim=-1, unbiased=False, keepdim=True) + eps)
    return (x - mean) * inv_std, inv_std


def _normalize_backward(d_normed: torch.Tensor, normed: torch.Tensor, inv_std: torch.Tensor) -> torch.Tensor:
    """Gradient through _normalize: (d - mean(d) - x̂ mean(d x̂)) / std."""
    return inv_std * (d_normed - d_normed.mean(-1, keepdim=True) - normed * (d_normed * normed).mean(-1, keepdim=True))


class SteppedLSTM(CellLayer, nn.Module):
    """An LSTM variant run by a Python loop over time steps.

    Each step is one recurrent product r_t = h_{t-1} U^T (done by the loop) and
    the variant's element-wise `pointwise(x_t, r_t, c_{t-1})`. The input product
    for all steps is one large matrix product before the loop.

    Training runs the loop inside `Recurrence`, whose backward pass is written
    by hand (`pointwise_backward`, checked against autograd through the plain
    loop in the tests). Left to autograd, the loop was 2-3x slower: every step
    builds a graph of a dozen small nodes and writes a whole (4H, H) weight
    gradient, where one product at the end does for all steps.

    Gate maths runs in the weights' dtype (float32) even under bf16 autocast:
    the cell state accumulates over hundreds of steps and must not be rounded
    to 8 bits of mantissa at every one. The products run in autocast's dtype.
    """

    signals = _LSTM_SIGNALS
    recurrent_weight_name = "weight_hh"

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

    def recurrent_weight(self) -> torch.Tensor:
        return self.weight_hh

    def pointwise_parameters(self) -> list[nn.Parameter]:
        """The parameters `pointwise` reads, in the order `pointwise_backward` returns their gradients."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: Optional[LayerState] = None) -> tuple[torch.Tensor, LayerState]:
        h0, c0 = initial_state(x, state, self.hidden_size, 2, self.weight_hh.dtype)
        x_proj = self.project_inputs(x)  # (B, T, 4H)
        mask = recurrent_mask(self, x, self.weight_hh.dtype)
        out, h, c = Recurrence.apply(self, x_proj, self.weight_hh, mask, h0, c0, *self.pointwise_parameters())
        return out, (h[None], c[None])

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



@register_cell
class PeepholeLSTM(SteppedLSTM):
    kind = "peephole"
    title = "PeepholeLSTM"
    help = "LSTM whose gates also read the cell state (Gers et al. 2002)"
    reference = reference.PeepholeLSTM
    signals = _replace_meaning(_LSTM_SIGNALS, "forget", _LSTM_SIGNALS[0].meaning + " (Peephole cell: the gates also look at c.)")

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

    @classmethod
    def reference_parameters(cls, tensors):
        return {**super().reference_parameters(tensors),
                **{f"p_{g}": np.asarray(tensors[f"peephole_{g}"]).copy() for g in "ifo"}}

    @classmethod
    def torch_parameters(cls, params, gradient=False):
        return {**super().torch_parameters(params, gradient), **{f"peephole_{g}": params[f"p_{g}"].copy() for g in "ifo"}}


@register_cell
class LayerNormLSTM(SteppedLSTM):
    kind = "layernorm-lstm"
    title = "LayerNormLSTM"
    help = "layer-normalised LSTM (Ba et al. 2016)"
    reference = reference.LayerNormLSTM
    signals = _replace_meaning(_LSTM_SIGNALS, "hidden", "what the unit outputs, h = o·tanh(LN(c)) (the cell is "
                               "layer-normalised first).")
    inputs_add_to_recurrent = False
    # Layer norm rescales the input product x * w_ih to unit spread, and for one number x that
    # leaves only its sign.
    normalises_input = True

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

    # The reference's gains g_x, g_h, g_c and shift s_c are the three norms' weights and bias.
    _NORMS = {"g_x": "norm_ih.weight", "g_h": "norm_hh.weight", "g_c": "norm_cell.weight", "s_c": "norm_cell.bias"}

    @classmethod
    def reference_parameters(cls, tensors):
        return {**super().reference_parameters(tensors),
                **{name: np.asarray(tensors[torch_name]).copy() for name, torch_name in cls._NORMS.items()}}

    @classmethod
    def torch_parameters(cls, params, gradient=False):
        return {**super().torch_parameters(params, gradient),
                **{torch_name: params[name].copy() for name, torch_name in cls._NORMS.items()}}

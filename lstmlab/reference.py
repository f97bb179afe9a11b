"""Reference recurrent cells in plain NumPy: forward pass and backpropagation through time.

This module is the yardstick for lstmlab's PyTorch layers, and a place to
read the gate equations next to the code that computes them. Nothing here is
fast; every line is meant to be matched against one equation.

Conventions
-----------
* Batch first: an input sequence ``x`` has shape (B, T, I) (batch, time steps,
  input size); a state ``h`` or ``C`` has shape (B, H).
* Row vectors, as in Keras: one step's input ``x_t`` is a (B, I) block of rows,
  and it is multiplied on the right, ``x_t W`` with ``W`` of shape (I, H);
  recurrent weights ``U`` are (H, H) and biases ``b`` are (H,).
  (PyTorch stores the transposes, stacked gate by gate; ``from_torch`` and
  ``torch_layout`` convert.)
* float64 throughout by default, so that comparisons can be tight.
* ``σ`` is the logistic sigmoid, ``⊙`` elementwise multiplication.
* Time steps are counted from 1 in the equations (h_0 is the initial state)
  and from 0 in Python (``trace.steps[0]`` is step t = 1).

Each cell class holds its parameters in a plain dict of arrays,
``cell.params``, under the names used in its equations ("W_f", "U_f", "b_f"...).

    cell = LSTM.random(input_size=3, hidden_size=5, rng=0)
    outputs, (h_T, C_T), trace = cell.forward(x)          # x: (B, T, 3)
    print(trace.format())                                 # every gate, every step
    grads = cell.backward(trace, d_outputs, (d_h_T, d_C_T))
    grads["W_f"], grads["x"], grads["h0"], grads["c0"]

The four cells: ElmanRNN, LSTM, GRU (PyTorch's form) and PeepholeLSTM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

import numpy as np

__all__ = ["CELLS", "GRU", "LSTM", "ElmanRNN", "PeepholeLSTM", "Trace", "from_torch", "sigmoid"]

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
def _d_sigmoid(s: Array) -> Array:
    return s * (1.0 - s)


def _d_tanh(t: Array) -> Array:
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


class _Cell:
    """What all reference cells share: parameter checks, the loop over time, and BPTT's loop.

    A subclass says which parameters it has (``param_shapes``) and writes the
    two halves of one time step: ``step`` (the equations) and ``step_backward``
    (the same equations differentiated, in reverse order).
    """

    name = ""
    has_cell_state = False  # True for the LSTM kinds: the state is (h, C)

    # -- parameters ------------------------------------------------------

    @classmethod
    def param_shapes(cls, input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def __init__(self, params: Mapping[str, Any], dtype: Any = np.float64):
        """Take the parameters from a dict {name: array}; each is copied as ``dtype``.

        The sizes are read from the arrays; every name in ``param_shapes``
        must be present with a consistent shape, and nothing else.
        """
        self.dtype = np.dtype(dtype)
        params = {name: np.array(value, dtype=self.dtype) for name, value in params.items()}
        probe = next(iter(self.param_shapes(1, 1)))  # a W-type parameter, shape (I, H)
        if probe not in params or params[probe].ndim != 2:
            raise ValueError(f"{type(self).__name__} needs a 2-D parameter {probe!r} of shape (input, hidden)")
        self.input_size, self.hidden_size = params[probe].shape
        expected = self.param_shapes(self.input_size, self.hidden_size)
        missing, extra = sorted(set(expected) - set(params)), sorted(set(params) - set(expected))
        if missing or extra:
            raise ValueError(f"{type(self).__name__}: missing parameters {missing}, unexpected {extra}")
        for name, shape in expected.items():
            if params[name].shape != shape:
                raise ValueError(f"{type(self).__name__}: {name} has shape {params[name].shape}, expected {shape}")
        self.params: dict[str, Array] = {name: params[name] for name in expected}

    @classmethod
    def random(cls, input_size: int, hidden_size: int, rng: Any = None, scale: Optional[float] = None):
        """A cell with every parameter drawn uniformly from [-scale, scale].

        ``scale`` defaults to 1/sqrt(hidden_size), PyTorch's initialisation;
        ``rng`` is a seed or a ``numpy.random.Generator``.
        """
        rng = np.random.default_rng(rng)
        scale = hidden_size ** -0.5 if scale is None else scale
        shapes = cls.param_shapes(input_size, hidden_size)
        return cls({name: rng.uniform(-scale, scale, size=shape) for name, shape in shapes.items()})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size})"

    # -- states ----------------------------------------------------------

    def zero_state(self, batch_size: int) -> State:
        h = np.zeros((batch_size, self.hidden_size), dtype=self.dtype)
        return (h, h.copy()) if self.has_cell_state else h

    def _check_state(self, state: Optional[State], batch_size: int, what: str) -> State:
        if state is None:
            return self.zero_state(batch_size)
        parts = state if self.has_cell_state else (state,)
        if self.has_cell_state and (not isinstance(state, (tuple, list)) or len(state) != 2):
            raise ValueError(f"{what} of an {self.name} is a pair (h, C) of (B, H) arrays")
        parts = tuple(np.array(p, dtype=self.dtype) for p in parts)
        for p in parts:
            if p.shape != (batch_size, self.hidden_size):
                raise ValueError(f"{what}: expected shape {(batch_size, self.hidden_size)}, got {p.shape}")
        return parts if self.has_cell_state else parts[0]

    # -- forward ---------------------------------------------------------

    def step(self, x_t: Array, state: State) -> tuple[State, dict[str, Array]]:
        """One time step: (x_t (B, I), state at t-1) -> (state at t, record of the step)."""
        raise NotImplementedError

    def forward(self, x: Array, state: Optional[State] = None) -> tuple[Array, State, Trace]:
        """Run the cell over a batch of sequences.

        x: (B, T, I). state: the initial state, h_0 (B, H) or, for the LSTM
        kinds, (h_0, C_0); zeros when None.
        Returns (outputs (B, T, H) = h_1 ... h_T, final state, trace).
        """
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"x must have shape (B, T, {self.input_size}), got {x.shape}")
        batch, steps, _ = x.shape
        state = self._check_state(state, batch, "the initial state")
        initial = state
        outputs = np.empty((batch, steps, self.hidden_size), dtype=self.dtype)
        records = []
        for t in range(steps):
            state, record = self.step(x[:, t], state)
            outputs[:, t] = record["h"]
            records.append(record)
        return outputs, state, Trace(self.name, x, initial, records)

    # -- backward --------------------------------------------------------

    def step_backward(self, record: dict[str, Array], d_state: State, grads: dict[str, Array]):
        """One step of BPTT.

        d_state is ∂L/∂(state at t), everything the loss gets from h_t (and
        C_t) through the outputs and through later steps. Adds this step's
        share to the parameter gradients in ``grads`` and returns
        (∂L/∂x_t, ∂L/∂(state at t-1)).
        """
        raise NotImplementedError

    def backward(self, trace: Trace, d_outputs: Optional[Array] = None,
                 d_final_state: Optional[State] = None) -> dict[str, Array]:
        """Backpropagation through time for a scalar loss L.

        trace: what ``forward`` returned. d_outputs: ∂L/∂outputs, (B, T, H),
        zeros when None. d_final_state: ∂L/∂(final state), h_T's gradient (B, H)
        or the pair (∂L/∂h_T, ∂L/∂C_T); zeros when None (either half of the
        pair may also be None).

        Returns a dict with ∂L/∂p for every parameter name p, plus "x"
        (B, T, I) and "h0" (B, H), and "c0" (B, H) for the LSTM kinds: the
        gradients with respect to the input and the initial state.

        h_t feeds two places, the output at step t and step t+1, so its
        gradient is the sum of both; the loop runs from t = T down to 1,
        carrying ∂L/∂h_t (and ∂L/∂C_t) backwards.
        """
        x = trace.x
        batch, steps, _ = x.shape
        if d_outputs is None:
            d_outputs = np.zeros((batch, steps, self.hidden_size), dtype=self.dtype)
        d_outputs = np.asarray(d_outputs, dtype=self.dtype)
        if d_outputs.shape != (batch, steps, self.hidden_size):
            raise ValueError(f"d_outputs must have shape {(batch, steps, self.hidden_size)}, got {d_outputs.shape}")
        if self.has_cell_state and d_final_state is not None:
            zeros = np.zeros((batch, self.hidden_size), dtype=self.dtype)
            d_final_state = tuple(zeros if d is None else d for d in d_final_state)
        d_state = self._check_state(d_final_state, batch, "d_final_state")

        grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        d_x = np.zeros_like(x)
        for t in reversed(range(steps)):
            # The output h_t adds its own gradient to what came back from step t+1.
            if self.has_cell_state:
                d_state = (d_state[0] + d_outputs[:, t], d_state[1])
            else:
                d_state = d_state + d_outputs[:, t]
            d_x[:, t], d_state = self.step_backward(trace.steps[t], d_state, grads)

        grads["x"] = d_x
        if self.has_cell_state:
            grads["h0"], grads["c0"] = d_state
        else:
            grads["h0"] = d_state
        return grads

    # -- PyTorch layouts -------------------------------------------------

    @classmethod
    def params_from_torch_layout(cls, tensors: Mapping[str, Any]) -> dict[str, Array]:
        """PyTorch parameters {torch name: array} -> this cell's parameter dict."""
        raise NotImplementedError

    def torch_layout(self, values: Optional[Mapping[str, Array]] = None, gradient: bool = False) -> dict[str, Array]:
        """This cell's parameters (or gradients, see below) in the PyTorch layer's layout.

        values: a dict with this cell's parameter names, default ``self.params``.

        PyTorch adds two biases where the equations have one (b = b_ih + b_hh).
        With gradient=False the whole bias goes to b_ih and b_hh is zero: any
        split gives the same layer. With gradient=True, ``values`` are
        gradients ∂L/∂p (as ``backward`` returns) and the result is the
        gradient with respect to PyTorch's parameters; by the chain rule
        through b = b_ih + b_hh, both get ∂L/∂b.
        """
        raise NotImplementedError

    @classmethod
    def _torch_layer_class(cls):
        from lstmlab.cells import make_layer

        return lambda input_size, hidden_size: make_layer(cls.name, input_size, hidden_size)

    @classmethod
    def _check_torch_layer(cls, layer) -> None:
        _check_torch_layer(layer, cls.name)

    @classmethod
    def from_torch(cls, layer, dtype: Any = np.float64):
        """A reference cell with a PyTorch layer's current weights."""
        cls._check_torch_layer(layer)
        tensors = {name: p.detach().cpu().double().numpy() for name, p in layer.named_parameters()}
        return cls(cls.params_from_torch_layout(tensors), dtype=dtype)

    def to_torch(self):
        """A new PyTorch layer (batch-first, float64 if this cell is) with this cell's weights."""
        import torch

        layer = self._torch_layer_class()(self.input_size, self.hidden_size)
        layer = layer.to(torch.from_numpy(np.zeros(0, dtype=self.dtype)).dtype)
        with torch.no_grad():
            named = dict(layer.named_parameters())
            for name, value in self.torch_layout().items():
                named[name].copy_(torch.from_numpy(value))
        return layer


# -- helpers for PyTorch's stacked layout ---------------------------------
#
# PyTorch keeps one matrix per layer with the gates stacked as row blocks,
# each block in column-vector form (H, I). The equations here use row
# vectors, so each block is transposed.

def _unstack(matrix: Array, gates: tuple[str, ...], prefix: str) -> dict[str, Array]:
    """(k·H, n) torch matrix -> {prefix_gate: (n, H)} for k gates."""
    hidden = matrix.shape[0] // len(gates)
    return {f"{prefix}_{g}": matrix[k * hidden:(k + 1) * hidden].T.copy() for k, g in enumerate(gates)}


def _stack(values: Mapping[str, Array], gates: tuple[str, ...], prefix: str) -> Array:
    """{prefix_gate: (n, H)} -> the (k·H, n) torch matrix (or the (k·H,) vector for biases)."""
    return np.concatenate([values[f"{prefix}_{g}"].T for g in gates], axis=0)


def _split(vector: Array, gates: tuple[str, ...], prefix: str) -> dict[str, Array]:
    hidden = vector.shape[0] // len(gates)
    return {f"{prefix}_{g}": vector[k * hidden:(k + 1) * hidden].copy() for k, g in enumerate(gates)}


def _check_torch_layer(layer, kind) -> None:
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


def _zeros_like_bias(tensors: Mapping[str, Any], name: str, like: str) -> Array:
    """A bias, or zeros for a layer built with bias=False."""
    if name in tensors:
        return np.asarray(tensors[name])
    return np.zeros(np.asarray(tensors[like]).shape[0])


# -- the cells --------------------------------------------------------------

class ElmanRNN(_Cell):
    """The simple (Elman) recurrent cell, PyTorch's nn.RNN and Keras' SimpleRNN.

        h_t = tanh(x_t W + h_{t-1} U + b)

    Parameters: W (I, H), U (H, H), b (H,).
    """

    name = "rnn"

    @classmethod
    def param_shapes(cls, input_size, hidden_size):
        I, H = input_size, hidden_size
        return {"W": (I, H), "U": (H, H), "b": (H,)}

    def step(self, x_t, h_prev):
        p = self.params
        h = np.tanh(x_t @ p["W"] + h_prev @ p["U"] + p["b"])
        return h, {"x": x_t, "h_prev": h_prev, "h": h}

    def step_backward(self, s, d_h, grads):
        """With a = x_t W + h_{t-1} U + b:

            ∂L/∂a = ∂L/∂h_t ⊙ (1 - h_t²)
            ∂L/∂W += x_tᵀ ∂L/∂a     ∂L/∂U += h_{t-1}ᵀ ∂L/∂a     ∂L/∂b += Σ_batch ∂L/∂a
            ∂L/∂x_t = ∂L/∂a Wᵀ      ∂L/∂h_{t-1} = ∂L/∂a Uᵀ
        """
        p = self.params
        d_a = d_h * _d_tanh(s["h"])
        grads["W"] += s["x"].T @ d_a
        grads["U"] += s["h_prev"].T @ d_a
        grads["b"] += d_a.sum(axis=0)
        return d_a @ p["W"].T, d_a @ p["U"].T

    # PyTorch: weight_ih_l0 (H, I), weight_hh_l0 (H, H), bias_ih_l0 + bias_hh_l0.
    @classmethod
    def params_from_torch_layout(cls, tensors):
        w_ih = np.asarray(tensors["weight_ih_l0"])
        return {
            "W": w_ih.T.copy(),
            "U": np.asarray(tensors["weight_hh_l0"]).T.copy(),
            "b": _zeros_like_bias(tensors, "bias_ih_l0", "weight_ih_l0")
            + _zeros_like_bias(tensors, "bias_hh_l0", "weight_ih_l0"),
        }

    def torch_layout(self, values=None, gradient=False):
        v = self.params if values is None else values
        return {
            "weight_ih_l0": v["W"].T.copy(),
            "weight_hh_l0": v["U"].T.copy(),
            "bias_ih_l0": v["b"].copy(),
            "bias_hh_l0": v["b"].copy() if gradient else np.zeros_like(v["b"]),
        }


class LSTM(_Cell):
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
        d_c = d_c + d_h * s["o"] * _d_tanh(s["tanh_c"])
        d_pre = {
            "f": d_c * s["c_prev"] * _d_sigmoid(s["f"]),
            "i": d_c * s["c_tilde"] * _d_sigmoid(s["i"]),
            "c": d_c * s["i"] * _d_tanh(s["c_tilde"]),
            "o": d_o * _d_sigmoid(s["o"]),
        }
        d_c_prev = d_c * s["f"]
        d_x, d_h_prev = self._gate_backward(s, d_pre, grads)
        return d_x, (d_h_prev, d_c_prev)

    # PyTorch: weight_ih_l0 (4H, I), weight_hh_l0 (4H, H), bias_ih_l0, bias_hh_l0 (4H,),
    # rows in gate order i, f, g, o.
    @classmethod
    def params_from_torch_layout(cls, tensors):
        params = _unstack(np.asarray(tensors["weight_ih_l0"]), cls.gates, "W")
        params.update(_unstack(np.asarray(tensors["weight_hh_l0"]), cls.gates, "U"))
        bias = (_zeros_like_bias(tensors, "bias_ih_l0", "weight_ih_l0")
                + _zeros_like_bias(tensors, "bias_hh_l0", "weight_ih_l0"))
        params.update(_split(bias, cls.gates, "b"))
        return params

    def torch_layout(self, values=None, gradient=False):
        v = self.params if values is None else values
        bias = _stack(v, self.gates, "b")
        return {
            "weight_ih_l0": _stack(v, self.gates, "W"),
            "weight_hh_l0": _stack(v, self.gates, "U"),
            "bias_ih_l0": bias,
            "bias_hh_l0": bias.copy() if gradient else np.zeros_like(bias),
        }


class PeepholeLSTM(LSTM):
    """LSTM whose gates also look at the cell state (Gers, Schraudolph & Schmidhuber 2002).

        i_t = σ(x_t W_i + h_{t-1} U_i + p_i ⊙ C_{t-1} + b_i)
        f_t = σ(x_t W_f + h_{t-1} U_f + p_f ⊙ C_{t-1} + b_f)
        C̃_t = tanh(x_t W_c + h_{t-1} U_c + b_c)
        C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t
        o_t = σ(x_t W_o + h_{t-1} U_o + p_o ⊙ C_t + b_o)
        h_t = o_t ⊙ tanh(C_t)

    The peephole weights p_i, p_f, p_o are vectors (H,): each unit sees only
    its own cell (a diagonal matrix). The input and forget gates look at the
    old cell state; the output gate at the new one, which is why o_t is
    computed after C_t. Other parameters as in ``LSTM``.
    Compared with ``lstmlab.cells.PeepholeLSTM``.
    """

    name = "peephole"

    @classmethod
    def param_shapes(cls, input_size, hidden_size):
        shapes = super().param_shapes(input_size, hidden_size)
        shapes.update({f"p_{g}": (hidden_size,) for g in ("i", "f", "o")})
        return shapes

    def step(self, x_t, state):
        h_prev, c_prev = state
        p = self.params
        i = sigmoid(self._pre("i", x_t, h_prev) + p["p_i"] * c_prev)
        f = sigmoid(self._pre("f", x_t, h_prev) + p["p_f"] * c_prev)
        c_tilde = np.tanh(self._pre("c", x_t, h_prev))
        c = f * c_prev + i * c_tilde
        o = sigmoid(self._pre("o", x_t, h_prev) + p["p_o"] * c)
        tanh_c = np.tanh(c)
        h = o * tanh_c
        record = dict(x=x_t, h_prev=h_prev, c_prev=c_prev, f=f, i=i, c_tilde=c_tilde, c=c, o=o, tanh_c=tanh_c, h=h)
        return (h, c), record

    def step_backward(self, s, d_state, grads):
        """As ``LSTM.step_backward``, with the peepholes' three extra paths:

            a_o contains p_o ⊙ C_t      ∂L/∂C_t += ∂L/∂a_o ⊙ p_o      ∂L/∂p_o += Σ_batch ∂L/∂a_o ⊙ C_t
            a_i, a_f contain p ⊙ C_{t-1}
                                        ∂L/∂C_{t-1} += ∂L/∂a_i ⊙ p_i + ∂L/∂a_f ⊙ p_f
                                        ∂L/∂p_i += Σ_batch ∂L/∂a_i ⊙ C_{t-1}   (and p_f alike)

        Order matters: ∂L/∂a_o must be known before ∂L/∂C_t is complete,
        mirroring the forward pass where o_t needs C_t.
        """
        p = self.params
        d_h, d_c = d_state
        d_a_o = d_h * s["tanh_c"] * _d_sigmoid(s["o"])
        d_c = d_c + d_h * s["o"] * _d_tanh(s["tanh_c"]) + d_a_o * p["p_o"]
        d_pre = {
            "f": d_c * s["c_prev"] * _d_sigmoid(s["f"]),
            "i": d_c * s["c_tilde"] * _d_sigmoid(s["i"]),
            "c": d_c * s["i"] * _d_tanh(s["c_tilde"]),
            "o": d_a_o,
        }
        grads["p_o"] += (d_a_o * s["c"]).sum(axis=0)
        grads["p_i"] += (d_pre["i"] * s["c_prev"]).sum(axis=0)
        grads["p_f"] += (d_pre["f"] * s["c_prev"]).sum(axis=0)
        d_c_prev = d_c * s["f"] + d_pre["i"] * p["p_i"] + d_pre["f"] * p["p_f"]
        d_x, d_h_prev = self._gate_backward(s, d_pre, grads)
        return d_x, (d_h_prev, d_c_prev)

    # lstmlab.cells.PeepholeLSTM: weight_ih (4H, I), weight_hh (4H, H), one bias (4H,),
    # rows in gate order i, f, g, o; peephole_i, peephole_f, peephole_o (H,).
    @classmethod
    def params_from_torch_layout(cls, tensors):
        params = _unstack(np.asarray(tensors["weight_ih"]), cls.gates, "W")
        params.update(_unstack(np.asarray(tensors["weight_hh"]), cls.gates, "U"))
        params.update(_split(np.asarray(tensors["bias"]), cls.gates, "b"))
        for g in ("i", "f", "o"):
            params[f"p_{g}"] = np.asarray(tensors[f"peephole_{g}"]).copy()
        return params

    def torch_layout(self, values=None, gradient=False):
        # One bias only, so nothing to split: parameters and gradients map alike.
        v = self.params if values is None else values
        layout = {
            "weight_ih": _stack(v, self.gates, "W"),
            "weight_hh": _stack(v, self.gates, "U"),
            "bias": _stack(v, self.gates, "b"),
        }
        layout.update({f"peephole_{g}": v[f"p_{g}"].copy() for g in ("i", "f", "o")})
        return layout


class GRU(_Cell):
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

        d_a_n = d_n * _d_tanh(s["n"])
        d_r = d_a_n * s["hn"]
        d_hn = d_a_n * s["r"]
        grads["W_n"] += x.T @ d_a_n
        grads["b_n"] += d_a_n.sum(axis=0)
        grads["U_n"] += h_prev.T @ d_hn
        grads["b_hn"] += d_hn.sum(axis=0)
        d_x = d_a_n @ p["W_n"].T
        d_h_prev = d_h_prev + d_hn @ p["U_n"].T

        for g, d_a in (("r", d_r * _d_sigmoid(s["r"])), ("z", d_z * _d_sigmoid(s["z"]))):
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
        params = _unstack(np.asarray(tensors["weight_ih_l0"]), cls.gates, "W")
        params.update(_unstack(np.asarray(tensors["weight_hh_l0"]), cls.gates, "U"))
        b_ih = _split(_zeros_like_bias(tensors, "bias_ih_l0", "weight_ih_l0"), cls.gates, "b")
        b_hh = _split(_zeros_like_bias(tensors, "bias_hh_l0", "weight_ih_l0"), cls.gates, "b")
        params.update(b_r=b_ih["b_r"] + b_hh["b_r"], b_z=b_ih["b_z"] + b_hh["b_z"], b_n=b_ih["b_n"], b_hn=b_hh["b_n"])
        return params

    def torch_layout(self, values=None, gradient=False):
        v = self.params if values is None else values
        zeros = np.zeros_like(v["b_r"])
        r_hh, z_hh = (v["b_r"], v["b_z"]) if gradient else (zeros, zeros)
        return {
            "weight_ih_l0": _stack(v, self.gates, "W"),
            "weight_hh_l0": _stack(v, self.gates, "U"),
            "bias_ih_l0": np.concatenate([v["b_r"], v["b_z"], v["b_n"]]),
            "bias_hh_l0": np.concatenate([r_hh, z_hh, v["b_hn"]]),
        }


CELLS: dict[str, type[_Cell]] = {"rnn": ElmanRNN, "lstm": LSTM, "gru": GRU, "peephole": PeepholeLSTM}


def from_torch(layer, dtype: Any = np.float64) -> _Cell:
    """The reference cell for a PyTorch layer, with its weights.

    Accepts a single-layer, one-direction torch.nn.RNN (tanh), nn.LSTM or
    nn.GRU (subclasses such as lstmlab.cells.LSTM included), or an
    lstmlab.cells.PeepholeLSTM. The reference cells are batch-first whatever
    the layer's batch_first says (it does not change the weights).
    """
    import torch

    from lstmlab.cells import PeepholeLSTM as TorchPeephole

    for torch_class, cell_class in ((torch.nn.LSTM, LSTM), (torch.nn.GRU, GRU), (torch.nn.RNN, ElmanRNN),
                                    (TorchPeephole, PeepholeLSTM)):
        if isinstance(layer, torch_class):
            return cell_class.from_torch(layer, dtype=dtype)
    raise TypeError(f"no reference cell for {type(layer).__name__}")

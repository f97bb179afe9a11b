"""The base class of the reference cells: the fused parameter layout, the loop over time, and BPTT's loop.

Every cell is written over the same layout: one input matrix W (I, G·H) and one recurrent
matrix U (H, G·H) whose G column blocks are the gates (in ``gates`` order), one bias b (G·H,),
and whatever vectors the cell adds. A step is

    xw = x_t W                                  the input product, every gate at once
    hu = h_{t-1} U                              the recurrent product
    x_part = input_part(xw)                     usually xw + b (the layer-norm LSTM normalises first)
    h_t, state_t = pointwise(x_part, hu, state_{t-1})    the cell's own equations

so a cell file writes only ``input_part`` and ``pointwise`` (and their backward steps); the two
products, their gradients and the loops live here. The equations are static functions of the
parameter dict ``p``: the float64 oracle below calls them with a ``record`` dict that keeps every
intermediate for the backward pass, and lstmlab's NumPy generation stepper calls the very same
functions in float32 with ``record=None`` (and a per-symbol table of ``input_part`` for the first
layer, where x_t is an embedding row).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from .common import Array, State, Trace

__all__ = ["Cell"]


class Cell:
    """What all reference cells share: parameter checks, the loop over time, and BPTT's loop.

    A subclass names its gate blocks (``gates``), its extra vectors (``extra_shapes``) and writes
    the step's equations (``pointwise``, and ``input_part`` if it is not xw + b) with their
    backward steps.
    """

    name = ""
    # The column blocks of W, U and b, in order. The LSTM kinds use PyTorch's i, f, c, o.
    gates: tuple[str, ...] = ()
    has_cell_state = False  # True for the LSTM kinds: the state is (h, C)
    # True when pointwise reads x_part and hu only through their sum and input_part is xw + b:
    # then x_t W + h_{t-1} U is one product of [x_t, h_{t-1}] with [W; U], which a generation
    # step at batch 1 takes in one call instead of two (it passes that product and b to pointwise).
    products_add = True

    # -- parameters ------------------------------------------------------

    @classmethod
    def extra_shapes(cls, hidden_size: int) -> dict[str, tuple[int, ...]]:
        """The cell's parameters beyond W, U and b (peepholes, norm gains...)."""
        return {}

    @classmethod
    def param_shapes(cls, input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
        width = len(cls.gates) * hidden_size
        return {"W": (input_size, width), "U": (hidden_size, width), "b": (width,), **cls.extra_shapes(hidden_size)}

    def __init__(self, params: Mapping[str, Any], dtype: Any = np.float64):
        """Take the parameters from a dict {name: array}; each is copied as ``dtype``.

        The sizes are read from W (input, gates × hidden); every name in ``param_shapes`` must be
        present with a consistent shape, and nothing else.
        """
        self.dtype = np.dtype(dtype)
        params = {name: np.array(value, dtype=self.dtype) for name, value in params.items()}
        if "W" not in params or params["W"].ndim != 2 or params["W"].shape[1] % len(self.gates):
            raise ValueError(f"{type(self).__name__} needs a 2-D parameter 'W' of shape (input, {len(self.gates)} × hidden)")
        self.input_size, self.hidden_size = params["W"].shape[0], params["W"].shape[1] // len(self.gates)
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

    @classmethod
    def from_gates(cls, per_gate: Mapping[str, Any], dtype: Any = np.float64):
        """A cell from one array per gate, as the equations are written: "W_f" (I, H), "U_f" (H, H),
        "b_f" (H,) for each gate f of ``gates``, plus the extra vectors under their own names."""
        fused = {kind: np.concatenate([np.asarray(per_gate[f"{kind}_{g}"], dtype=dtype) for g in cls.gates], axis=-1)
                 for kind in ("W", "U", "b")}
        per_gate_names = {f"{kind}_{g}" for kind in ("W", "U", "b") for g in cls.gates}
        rest = {name: value for name, value in per_gate.items() if name not in per_gate_names}
        return cls({**fused, **rest}, dtype=dtype)

    def gate(self, name: str, gate: str) -> Array:
        """One gate's block of W, U or b: ``cell.gate("W", "f")`` is W_f (I, H), a view."""
        k, H = self.gates.index(gate), self.hidden_size
        return self.params[name][..., k * H:(k + 1) * H]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size})"

    # -- the equations of one step (static: the generation stepper calls them too) --------------

    @staticmethod
    def input_part(p: Mapping[str, Array], xw: Array, record: Optional[dict] = None) -> Array:
        """The input's share of the pre-activations, from the product xw = x_t W: xw + b."""
        return xw + p["b"]

    @staticmethod
    def input_part_backward(p: Mapping[str, Array], record: dict, d_x_part: Array, grads: dict) -> Array:
        """∂L/∂x_part -> ∂L/∂xw, adding to the gradients of input_part's own parameters."""
        grads["b"] += d_x_part.sum(axis=0)
        return d_x_part

    @staticmethod
    def pointwise(p: Mapping[str, Array], x_part: Array, hu: Array, state: State,
                  record: Optional[dict] = None) -> tuple[Array, State]:
        """One step's element-wise equations: (h_t, state at t) from the input's share, the
        recurrent product hu = h_{t-1} U and the state at t-1. With a ``record`` dict, every value
        the backward step reads is stored in it under the equations' names."""
        raise NotImplementedError

    @staticmethod
    def pointwise_backward(p: Mapping[str, Array], record: dict, d_state: State, grads: dict):
        """∂L/∂(state at t) -> (∂L/∂x_part, ∂L/∂hu, ∂L/∂(state at t-1) along the paths that do
        not go through U), adding to the gradients of pointwise's own parameters."""
        raise NotImplementedError

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

    def hidden_of(self, state: State) -> Array:
        return state[0] if self.has_cell_state else state

    # -- forward ---------------------------------------------------------

    def step(self, x_t: Array, state: State) -> tuple[State, dict[str, Array]]:
        """One time step: (x_t (B, I), state at t-1) -> (state at t, record of the step)."""
        p = self.params
        h_prev = self.hidden_of(state)
        record: dict[str, Array] = {"x": x_t, "h_prev": h_prev}
        if self.has_cell_state:
            record["c_prev"] = state[1]
        x_part = self.input_part(p, x_t @ p["W"], record)
        h, state = self.pointwise(p, x_part, h_prev @ p["U"], state, record)
        record["h"] = h
        return state, record

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
        """One step of BPTT: ∂L/∂(state at t) -> (∂L/∂x_t, ∂L/∂(state at t-1)), adding this
        step's share to ``grads``. The products xw = x_t W and hu = h_{t-1} U give

            ∂L/∂W += x_tᵀ ∂L/∂xw      ∂L/∂x_t = ∂L/∂xw Wᵀ
            ∂L/∂U += h_{t-1}ᵀ ∂L/∂hu   ∂L/∂h_{t-1} += ∂L/∂hu Uᵀ
        """
        p = self.params
        d_x_part, d_hu, d_prev = self.pointwise_backward(p, record, d_state, grads)
        d_xw = self.input_part_backward(p, record, d_x_part, grads)
        grads["W"] += record["x"].T @ d_xw
        grads["U"] += record["h_prev"].T @ d_hu
        d_h_prev = self.hidden_of(d_prev) + d_hu @ p["U"].T
        return d_xw @ p["W"].T, ((d_h_prev, d_prev[1]) if self.has_cell_state else d_h_prev)

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

"""The base class of the reference cells: parameter checks, the loop over time, and BPTT's loop.

Each cell file (rnn.py, lstm.py, gru.py, peephole.py) subclasses ``Cell`` and
writes one time step forward (``step``) and backward (``step_backward``).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from .common import Array, State, Trace, check_torch_layer

__all__ = ["Cell"]


class Cell:
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
        check_torch_layer(layer, cls.name)

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

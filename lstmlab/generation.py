"""Fast character-by-character generation: one recurrent step per new symbol.

After the prompt has been read (in one pass, by the model itself), each new
character needs one step of every layer on a batch of N streams. At N = 1 that
step is a handful of matrix-vector products, and two things dominate its cost:
framework overhead per call, and how fast the weights stream from cache.
PyTorch's CPU matrix-vector path was several times slower here than NumPy's
BLAS when we profiled it (benchmarks/generation_speed.py times the result), so the step runs in NumPy on
float32 copies of the model's own weights, laid out once:

    LSTM / RNN layer:  z = [W_ih | W_hh] @ [x; h] + (b_ih + b_hh)      one product
                       (first layer: W_ih @ embedding[id] + b is a table row)
    GRU layer:         W_ih @ x + b_ih and W_hh @ h + b_hh stay apart, because
                       the reset gate multiplies only the second.

The equations are PyTorch's (gate order i, f, g, o for LSTM; r, z, n for GRU);
tests check greedy generation against the model's own forward pass.
Shapes: N streams, H hidden size, V vocabulary size.
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _Layer:
    def __init__(self, cell: str, w_ih, w_hh, b_ih, b_hh, first: bool, embedding: Optional[np.ndarray]):
        self.cell, self.hidden = cell, w_hh.shape[1]
        self.w_hh = w_hh
        if cell == "gru":
            self.b_hh = b_hh
            self.table = embedding @ w_ih.T + b_ih if first else None  # (V, 3H)
            self.w_ih, self.b_ih = w_ih, b_ih
        else:
            bias = b_ih + b_hh
            self.table = embedding @ w_ih.T + bias if first else None  # (V, gates)
            self.w_cat = np.ascontiguousarray(np.concatenate([w_ih, w_hh], axis=1))  # (gates, I + H)
            self.bias = bias

    def step(self, x: Optional[np.ndarray], ids: np.ndarray, state):
        """x (N, I) from the layer below, or symbol ids (N,) for the first layer."""
        H = self.hidden
        if self.cell == "gru":
            h = state
            gi = self.table[ids] if self.table is not None else x @ self.w_ih.T + self.b_ih  # (N, 3H)
            gh = h @ self.w_hh.T + self.b_hh
            rz = _sigmoid(gi[:, : 2 * H] + gh[:, : 2 * H])
            r, z = rz[:, :H], rz[:, H:]
            n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
            h = (1.0 - z) * n + z * h
            return h, h
        h = state[0] if self.cell == "lstm" else state
        if self.table is not None:
            z = self.table[ids] + h @ self.w_hh.T
        else:
            z = np.concatenate([x, h], axis=1) @ self.w_cat.T + self.bias
        if self.cell == "rnn":
            h = np.tanh(z)
            return h, h
        c = state[1]
        gates = _sigmoid(z)  # i, f, _, o; the g slice is recomputed with tanh below
        i, f, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 3 * H :]
        g = np.tanh(z[:, 2 * H : 3 * H])
        c = f * c + i * g
        h = o * np.tanh(c)
        return h, (h, c)


class Generator:
    """Holds the model's weights as NumPy arrays and steps N streams at once."""

    def __init__(self, model, state, batch: int):
        cfg = model.config
        to_np = lambda t: t.detach().float().cpu().numpy()  # noqa: E731
        embedding = to_np(model.embedding.weight)
        self.layers = [
            _Layer(cfg.cell, to_np(l.weight_ih_l0), to_np(l.weight_hh_l0), to_np(l.bias_ih_l0), to_np(l.bias_hh_l0),
                   first=(i == 0), embedding=embedding)
            for i, l in enumerate(model.rnn.layers)
        ]
        self.head_w, self.head_b = to_np(model.head.weight), to_np(model.head.bias)
        # Per layer: (h, c) for LSTM, h otherwise, each (N, H).
        self.state = []
        for i, size in enumerate(cfg.hidden_sizes):
            if state is None:
                zeros = np.zeros((batch, size), dtype=np.float32)
                self.state.append((zeros, zeros.copy()) if cfg.cell == "lstm" else zeros)
            else:
                parts = tuple(to_np(t[0]) for t in state[i])
                self.state.append(parts if cfg.cell == "lstm" else parts[0])

    def step(self, ids: np.ndarray) -> np.ndarray:
        """ids (N,) -> top-layer output (N, H)."""
        x = None
        for i, layer in enumerate(self.layers):
            x, self.state[i] = layer.step(x, ids, self.state[i])
        return x

    def sample(self, hidden: np.ndarray, length: int, temperature: float, top_k: Optional[int],
               top_p: Optional[float], rng: np.random.Generator, suppress: Sequence[int]) -> Iterator[np.ndarray]:
        # Fold the temperature and the suppressed ids into the head once, so
        # each step's logits come out of one product ready to sample.
        weight, bias = self.head_w, self.head_b.copy()
        bias[list(suppress)] = -np.inf
        if temperature not in (0, 1):
            weight, bias = weight / temperature, bias / temperature
        weight_t = np.ascontiguousarray(weight.T)  # (H, V)
        for i in range(length):
            next_ids = sample_next(hidden @ weight_t + bias, 0.0 if temperature == 0 else 1.0, top_k, top_p, rng)
            yield next_ids
            if i + 1 < length:
                hidden = self.step(next_ids)


def sample_next(logits: np.ndarray, temperature: float = 1.0, top_k: Optional[int] = None,
                top_p: Optional[float] = None, rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """logits (N, V) -> ids (N,). Temperature 0 is greedy (argmax)."""
    if temperature == 0:
        return logits.argmax(axis=-1)
    if temperature != 1:
        logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = np.partition(logits, -top_k, axis=-1)[:, -top_k, None]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        # Drop a symbol when the ones before it already cover top_p; the most
        # likely symbol always stays.
        drop_sorted = (np.cumsum(sorted_probs, axis=-1) - sorted_probs) >= top_p
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=-1)
        probs = np.where(drop, 0.0, probs)
        probs /= probs.sum(axis=-1, keepdims=True)
    rng = rng or np.random.default_rng()
    # Inverse-CDF sampling: one uniform number per stream.
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random((probs.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=-1), probs.shape[-1] - 1)

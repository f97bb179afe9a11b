"""Fast character-by-character generation: one recurrent step per new symbol.

After the prompt has been read (in one pass, by the model itself), each new
character needs one step of every layer on a batch of N streams. Two steppers
take that step:

NumpyStepper, on a CPU at small batches. At N = 1 the step is a handful of
matrix-vector products, and two things dominate its cost: framework overhead
per call, and how fast the weights stream from cache. PyTorch's CPU
matrix-vector path was several times slower here than NumPy's BLAS when we
profiled it (benchmarks/generation_speed.py times the result), so the step
runs in NumPy on float32 copies of the model's own weights, laid out once in the
fused layout of lstmlab.reference, whose step functions it calls (the same ones the
tests' float64 oracle runs; nothing here knows one cell from another):

    first layer:    the input part of every symbol, input_part(embedding @ W), is a table row
    upper layers:   x W + h U is one product of [x, h] with [W; U] where the cell says its
                    two products just add (reference Cell.products_add); otherwise two

TorchStepper, on a GPU (or MPS), and on a CPU at larger batches: one call of
the model's own `features` per step on the model's device, the head there too;
only the logits (N, V) come back to the CPU.

Both sample in NumPy from the same seeded Generator, with the temperature and
the suppressed ids folded into the same head weights (FoldedHead), so a seed
gives the same text whichever stepper runs. Tests check greedy generation against
the model's own forward pass for every cell, and the two steppers against each other.
Shapes: N streams, H hidden size, V vocabulary size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np
import torch


# On a CPU, NumPy's step is faster up to about this many streams, PyTorch's above.
# A 2x512 LSTM on the 2-core development machine, chars/s NumPy / PyTorch, two
# threads (one each):
#     1 stream  6,118 / 360  (5,467 / 297)      64 streams  23,619 / 19,880  (13,429 / 10,116)
#     8 streams 12,963 / 2,918 (7,854 / 2,155)  96 streams  24,200 / 17,760  (13,545 / 13,604)
#                                               256 streams 23,305 / 29,600  (14,807 / 19,200)
# nn.LSTM's oneDNN kernel re-lays its weights out at every call, which only a large
# batch pays back. benchmarks/generation_speed.py --compare-steppers measures both.
NUMPY_MAX_BATCH_ON_CPU = 64


class NumpyLayer:
    """One layer's step in NumPy: the layer's reference cell (lstmlab.reference) run on float32
    copies of its weights in the reference's fused layout. Given the embedding, the layer is the
    first one and reads symbol ids: its input part is a per-symbol table computed once."""

    def __init__(self, layer, embedding: Optional[np.ndarray]):
        tensors = {name: p.detach().float().cpu().numpy() for name, p in layer.named_parameters()}
        self.cell = layer.reference
        self.p = {name: np.ascontiguousarray(value, dtype=np.float32)
                  for name, value in layer.reference_parameters(tensors).items()}
        W, U = self.p.pop("W"), self.p.pop("U")  # the step's own equations read neither
        self.table = self.cell.input_part(self.p, embedding @ W) if embedding is not None else None  # (V, G·H)
        # Upper layers whose two products simply add: one product of [x, h] with [W; U].
        matrices = {"U": U} if self.table is not None else (
            {"cat": np.concatenate([W, U], axis=0)} if self.cell.products_add else {"W": W, "U": U})
        # A product with one row (one stream) runs faster on a matrix stored gate by gate,
        # (G·H, I) as PyTorch keeps it, read transposed; with many rows, on (I, G·H). The first
        # is kept; the second is made the first time a step has more than one row.
        self.by_rows = {name: np.ascontiguousarray(m.T).T for name, m in matrices.items()}
        self.by_cols: Optional[dict[str, np.ndarray]] = None
        # Bound once: at one stream every attribute lookup of the step shows.
        self.pointwise, self.input_part = self.cell.pointwise, self.cell.input_part
        self.has_cell_state, self.bias = self.cell.has_cell_state, self.p["b"]

    def step(self, x: Optional[np.ndarray], ids: np.ndarray, state):
        """x (N, I) from the layer below, or symbol ids (N,) for the first layer -> (h, new state)."""
        h = state[0] if self.has_cell_state else state
        if h.shape[0] == 1:
            matrices = self.by_rows
        else:
            if self.by_cols is None:
                self.by_cols = {name: np.ascontiguousarray(m) for name, m in self.by_rows.items()}
            matrices = self.by_cols
        if "cat" in matrices:
            # pointwise reads x_part and hu only through their sum, and x_part is xw + b here
            # (products_add), so the one product [x, h] [W; U] and the bias stand in for them.
            return self.pointwise(self.p, np.concatenate([x, h], axis=1) @ matrices["cat"], self.bias, state)
        x_part = self.table[ids] if self.table is not None else self.input_part(self.p, x @ matrices["W"])
        return self.pointwise(self.p, x_part, h @ matrices["U"], state)


def numpy_steps_faster(device: torch.device, batch: int) -> bool:
    """Which stepper generates fastest for `batch` streams on `device`: NumPy's on a CPU at small batches."""
    return device.type == "cpu" and batch <= NUMPY_MAX_BATCH_ON_CPU


@dataclass(frozen=True)
class FoldedHead:
    """The output layer with the temperature and the suppressed ids folded in once,
    so each step's logits come out of one product ready to sample."""

    weight_t: np.ndarray  # (H, V), float32
    bias: np.ndarray  # (V,), float32; -inf at the suppressed ids

    @classmethod
    def of(cls, head: torch.nn.Linear, temperature: float, suppress: Sequence[int]) -> "FoldedHead":
        weight = head.weight.detach().float().cpu().numpy()
        bias = head.bias.detach().float().cpu().numpy().copy()
        bias[list(suppress)] = -np.inf
        if temperature not in (0, 1):
            weight, bias = weight / temperature, bias / temperature
        return cls(np.ascontiguousarray(weight.T), bias)

    @property
    def hidden_size(self) -> int:
        return self.weight_t.shape[0]

    def logits(self, hidden: np.ndarray) -> np.ndarray:
        """(N, H) -> (N, V) float32, temperature applied."""
        return hidden @ self.weight_t + self.bias

    def torch_logits(self, hidden: torch.Tensor) -> np.ndarray:
        """The same from a tensor on any device, computed there; only the logits come back."""
        device = hidden.device
        if getattr(self, "_on", None) is None or self._on[0] != device:
            object.__setattr__(self, "_on", (device, torch.from_numpy(self.weight_t).to(device),
                                             torch.from_numpy(self.bias).to(device)))
        _, weight_t, bias = self._on
        with torch.inference_mode():
            return torch.addmm(bias, hidden.float(), weight_t).cpu().numpy()


@dataclass(frozen=True)
class FoldedAdaptiveHead:
    """An adaptive softmax (torch.nn.AdaptiveLogSoftmaxWithLoss) as NumPy arrays: its log_prob,
    exact over every cluster, with the temperature and the suppressed ids applied after it.
    Shapes: head (H, C0 + K) for the C0 frequent ids and K clusters; per cluster a projection
    (H, D_k) and an output (D_k, V_k)."""

    head_t: np.ndarray
    head_bias: np.ndarray
    clusters: tuple[tuple[np.ndarray, np.ndarray], ...]
    shortlist: int
    temperature: float
    suppress: np.ndarray

    @classmethod
    def of(cls, head: torch.nn.AdaptiveLogSoftmaxWithLoss, temperature: float,
           suppress: Sequence[int]) -> "FoldedAdaptiveHead":
        to_np = lambda t: np.ascontiguousarray(t.detach().float().cpu().numpy().T)  # noqa: E731
        bias = head.head.bias
        head_bias = (bias.detach().float().cpu().numpy() if bias is not None
                     else np.zeros(head.head.out_features, dtype=np.float32))
        clusters = tuple((to_np(tail[0].weight), to_np(tail[1].weight)) for tail in head.tail)
        return cls(to_np(head.head.weight), head_bias, clusters, head.shortlist_size, temperature,
                   np.asarray(list(suppress), dtype=np.int64))

    @property
    def hidden_size(self) -> int:
        return self.head_t.shape[0]

    def logits(self, hidden: np.ndarray) -> np.ndarray:
        head = log_softmax(hidden @ self.head_t + self.head_bias)  # (N, C0 + K)
        parts = [head[:, : self.shortlist]]
        for k, (projection, output) in enumerate(self.clusters):
            parts.append(log_softmax((hidden @ projection) @ output) + head[:, self.shortlist + k, None])
        scores = np.concatenate(parts, axis=1)
        scores[:, self.suppress] = -np.inf
        if self.temperature not in (0, 1):
            scores /= self.temperature
        return scores

    def torch_logits(self, hidden: torch.Tensor) -> np.ndarray:
        # Only (N, H) crosses from the device; the clusters are small enough for the CPU.
        return self.logits(hidden.float().cpu().numpy())


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def folded_head(head: torch.nn.Module, temperature: float, suppress: Sequence[int]):
    """The model's output layer, full or adaptive, ready for the steppers (FoldedHead,
    FoldedAdaptiveHead): both give `logits(hidden)` as (N, V) float32 scores to sample from."""
    if isinstance(head, torch.nn.AdaptiveLogSoftmaxWithLoss):
        return FoldedAdaptiveHead.of(head, temperature, suppress)
    return FoldedHead.of(head, temperature, suppress)


class Stepper:
    """Steps N streams one symbol at a time and samples each next symbol."""

    def start(self, hidden: torch.Tensor):
        """The prompt's last top-layer output (N, H), in the form `logits` reads."""
        raise NotImplementedError

    def logits(self, hidden) -> np.ndarray:
        """Top-layer output -> (N, V) float32 logits on the CPU, temperature applied."""
        raise NotImplementedError

    def step(self, ids: np.ndarray):
        """ids (N,) -> the next top-layer output."""
        raise NotImplementedError

    # Continuous batching (lstmlab serve): streams join and leave the batch between steps.
    def add_rows(self, state, rows: int) -> None:
        """Append `rows` streams that all start from `state`: a model state for one stream
        (one tuple of (1, 1, H) tensors per layer), or None for the all-zero state."""
        raise NotImplementedError

    def keep_rows(self, index: np.ndarray) -> None:
        """Keep only the streams at `index` (in that order)."""
        raise NotImplementedError

    def sample(self, hidden, length: int, temperature: float, top_k: Optional[int], top_p: Optional[float],
               rng: np.random.Generator) -> Iterator[np.ndarray]:
        for i in range(length):
            # The head already holds the temperature: sample at 1 (or greedily at 0).
            next_ids = sample_next(self.logits(hidden), 0.0 if temperature == 0 else 1.0, top_k, top_p, rng)
            yield next_ids
            if i + 1 < length:
                hidden = self.step(next_ids)


class NumpyStepper(Stepper):
    """Holds the model's weights as NumPy arrays and steps N streams at once."""

    def __init__(self, model, state, batch: int, head: FoldedHead):
        cfg = model.config
        to_np = lambda t: t.detach().float().cpu().numpy()  # noqa: E731
        embedding = to_np(model.embedding.weight)
        self.layers = [NumpyLayer(layer, embedding if i == 0 else None) for i, layer in enumerate(model.rnn.layers)]
        self.head = head
        two_part = self.layers[0].cell.has_cell_state
        # Per layer: (h, c) for the LSTM kinds, h otherwise, each (N, H).
        self.state = []
        for i, size in enumerate(cfg.hidden_sizes):
            if state is None:
                zeros = np.zeros((batch, size), dtype=np.float32)
                self.state.append((zeros, zeros.copy()) if two_part else zeros)
            else:
                parts = tuple(to_np(t[0]) for t in state[i])
                self.state.append(parts if two_part else parts[0])

    def start(self, hidden: torch.Tensor) -> np.ndarray:
        return hidden.float().cpu().numpy()

    def logits(self, hidden: np.ndarray) -> np.ndarray:
        return self.head.logits(hidden)

    def step(self, ids: np.ndarray) -> np.ndarray:
        """ids (N,) -> top-layer output (N, H)."""
        x = None
        for i, layer in enumerate(self.layers):
            x, self.state[i] = layer.step(x, ids, self.state[i])
        return x

    def add_rows(self, state, rows: int) -> None:
        for i, layer in enumerate(self.state):
            parts = layer if isinstance(layer, tuple) else (layer,)
            if state is None:
                new = [np.zeros((rows, p.shape[1]), dtype=np.float32) for p in parts]
            else:
                new = [np.repeat(t[0].float().cpu().numpy(), rows, axis=0) for t in state[i]]
            joined = tuple(np.concatenate([p, n]) for p, n in zip(parts, new))
            self.state[i] = joined if isinstance(layer, tuple) else joined[0]

    def keep_rows(self, index: np.ndarray) -> None:
        self.state = [tuple(p[index] for p in layer) if isinstance(layer, tuple) else layer[index]
                      for layer in self.state]


class TorchStepper(Stepper):
    """Steps with the model itself on its own device: one `features` call per symbol."""

    def __init__(self, model, state, batch: int, head: FoldedHead):
        self.model, self.state, self.device, self.head = model, state, model.device, head

    def start(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden

    def logits(self, hidden: torch.Tensor) -> np.ndarray:
        return self.head.torch_logits(hidden)

    def step(self, ids: np.ndarray) -> torch.Tensor:
        # Each step in its own inference_mode: the caller's code between steps runs in its own mode.
        with torch.inference_mode():
            ids = torch.from_numpy(np.asarray(ids, dtype=np.int64)).to(self.device)
            hidden, self.state = self.model.features(ids[:, None], self.state)  # (N, 1, H)
            return hidden[:, 0]

    def add_rows(self, state, rows: int) -> None:
        sizes, two_part = self.model.config.hidden_sizes, self.model.rnn.layers[0].has_cell_state()
        with torch.inference_mode():
            if state is None:
                state = [tuple(torch.zeros(1, 1, size, device=self.device) for _ in range(1 + two_part))
                         for size in sizes]
            new = [tuple(t.to(self.device).expand(-1, rows, -1) for t in layer) for layer in state]
            self.state = new if self.state is None else [
                tuple(torch.cat([old, part], dim=1) for old, part in zip(layer, added))
                for layer, added in zip(self.state, new)]

    def keep_rows(self, index: np.ndarray) -> None:
        if self.state is not None:
            at = torch.from_numpy(np.asarray(index, dtype=np.int64)).to(self.device)
            self.state = [tuple(t.index_select(1, at) for t in layer) for layer in self.state]


def sample_next(logits: np.ndarray, temperature: float = 1.0, top_k: Optional[int] = None,
                top_p: Optional[float] = None, rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """logits (N, V) -> ids (N,). Temperature 0 is greedy (argmax)."""
    if temperature == 0:
        return logits.argmax(axis=-1)
    rows = logits.shape[0]
    uniform = (rng or np.random.default_rng()).random((rows, 1))
    return sample_rows(logits, np.full(rows, float(temperature)), np.full(rows, top_k or 0),
                       np.full(rows, 1.0 if top_p is None else float(top_p)), uniform)


def sample_rows(logits: np.ndarray, temperature: np.ndarray, top_k: np.ndarray, top_p: np.ndarray,
                uniform: np.ndarray) -> np.ndarray:
    """logits (N, V) -> ids (N,), each row with its own settings: temperature (N,) above 0,
    top_k (N,) (0 keeps every symbol), top_p (N,) (1 keeps every symbol) and one uniform
    number in [0, 1) per row, (N, 1). A server batch samples every request at once with it."""
    logits = logits / temperature[:, None]  # a new array, changed in place below
    V = logits.shape[-1]
    limited = (top_k > 0) & (top_k < V)
    for k in (np.unique(top_k[limited]) if limited.any() else ()):
        rows = top_k == k
        part = logits[rows]
        kth = np.partition(part, -k, axis=-1)[:, -k, None]
        logits[rows] = np.where(part < kth, -np.inf, part)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    nucleus = top_p < 1.0
    if nucleus.any():
        part = probs[nucleus]
        order = np.argsort(-part, axis=-1, kind="stable")
        sorted_probs = np.take_along_axis(part, order, axis=-1)
        # Drop a symbol when the ones before it already cover top_p; the most
        # likely symbol always stays.
        drop_sorted = (np.cumsum(sorted_probs, axis=-1) - sorted_probs) >= top_p[nucleus, None]
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=-1)
        part = np.where(drop, 0.0, part)
        probs[nucleus] = part / part.sum(axis=-1, keepdims=True)
    # Inverse-CDF sampling: one uniform number per stream.
    cdf = np.cumsum(probs, axis=-1)
    u = uniform * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=-1), V - 1)

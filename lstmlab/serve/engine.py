"""Continuous batching: every generation request on one language model advances in one
batched recurrent step per symbol, and requests join and leave that batch between steps.

A recurrent model's state is a fixed (rows, H) array per layer, so a request that
arrives reads its prompt (one pass of the model) and its rows are appended to the
running batch; a finished or cancelled request's rows are dropped. Nothing else
about the batch changes, unlike a transformer's growing key-value cache.

    step k:   [ req A row 0 | req A row 1 | req B row 0 ]  --one step-->  ids for all rows
    step k+1: [ req A row 0 | req A row 1 | req B row 0 | req C row 0 ]   (C joined)
    step k+2: [ req A row 0 | req A row 1 | req C row 0 ]                 (B finished)

Each request keeps its own sampling settings and random generator: one vectorised
sample_rows call samples every row with its own request's settings, and each request
draws its uniform numbers from its own generator, as LanguageModel.stream does. So a
seeded request writes the same text alone or beside others.

The steps run in one worker thread per model, off the event loop: NumPy and PyTorch
release the GIL in their kernels, so the server keeps answering while it generates.
Results go back to each request's Outbox, which wakes the event loop at most once
per batch of pieces, however many steps the worker took meanwhile. The pieces are typed
events (events.py); the routes turn them into JSON.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from ..lm.generation import folded_head, sample_rows
from ..lm.model import STEPPERS
from ..lm.trained import LanguageModel
from .events import DoneEvent, EngineEvent, ErrorEvent, TextEvent

LN2 = math.log(2.0)
# The longest the worker lets a piece wait before waking its request: 100 updates a second
# read as smooth streaming, and keep the event loop's work per stream small. A request's
# first piece, and its end, wake it at once.
WAKE_EVERY_S = 0.01


@dataclass(frozen=True)
class Sampling:
    """One request's generation settings, checked by the API before they get here."""

    length: int
    temperature: float = 0.7
    top_k: Optional[int] = None
    top_p: Optional[float] = None
    num_samples: int = 1
    seed: Optional[int] = None
    stop: tuple[str, ...] = ()
    # Wall-clock limit for the whole request, prompt included (seconds; None: no limit).
    time_limit: Optional[float] = None


class Outbox:
    """Events from the worker thread to one request's coroutine on the event loop.

    Waking the event loop from another thread costs a system call, so the worker does not
    wake an outbox for every piece: `put` only says whether it needs waking, and the
    worker wakes all that do together, at most every WAKE_EVERY_S (wake_all)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.lock = threading.Lock()
        self.items: list[EngineEvent] = []
        self.ready = asyncio.Event()
        self.wake_pending = False

    def put(self, item: EngineEvent) -> bool:
        """From the worker: queue `item`; True when the coroutine is asleep and must be woken."""
        with self.lock:
            self.items.append(item)
            if self.wake_pending:
                return False
            self.wake_pending = True
            return True

    async def take(self) -> list[EngineEvent]:
        """Everything queued since the last take (waits for at least one item)."""
        await self.ready.wait()
        with self.lock:
            items, self.items = self.items, []
            self.wake_pending = False
            self.ready.clear()
        return items


def wake_all(outboxes: list[Outbox]) -> None:
    """From the worker: wake these outboxes' coroutines, one call per event loop."""
    by_loop: dict[int, tuple[asyncio.AbstractEventLoop, list[asyncio.Event]]] = {}
    for box in outboxes:
        by_loop.setdefault(id(box.loop), (box.loop, []))[1].append(box.ready)
    for loop, events in by_loop.values():
        try:
            loop.call_soon_threadsafe(set_events, events)
        except RuntimeError:  # the event loop has closed: the server is shutting down
            pass


def set_events(events: list[asyncio.Event]) -> None:
    for event in events:
        event.set()


class StopWatcher:
    """One sample's text as it is written, ended at its first stop string. A tail that could
    still grow into a stop string is held back, so a streamed piece never shows text that a
    stop string later removes. Each character carries the surprise of the symbol that wrote it.

    Text handed out can never hold the start of a later stop string (it was handed out
    because no stop string could begin there), so only the held-back tail is searched."""

    def __init__(self, stops: tuple[str, ...]):
        self.stops = tuple(s for s in stops if s)
        self.held = ""
        self.held_bits: list[float] = []
        self.stopped = False
        self.symbols = 0  # symbols generated before the stop string, if one came

    def add(self, piece: str, surprise: float) -> tuple[str, list[float]]:
        """Take the next generated piece; return the text now safe to send, and its surprise."""
        self.symbols += 1
        if not self.stops:
            return piece, [surprise] * len(piece)
        self.held += piece
        self.held_bits.extend([surprise] * len(piece))
        hits = [i for i in (self.held.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.stopped = True
            self.held, self.held_bits = self.held[:min(hits)], self.held_bits[:min(hits)]
            return self.flush()
        hold = max((n for s in self.stops for n in range(1, len(s)) if self.held.endswith(s[:n])), default=0)
        return self._hand_out(len(self.held) - hold)

    def flush(self) -> tuple[str, list[float]]:
        """At the end of generation: the held-back tail, which no stop string completed."""
        return self._hand_out(len(self.held))

    def _hand_out(self, end: int) -> tuple[str, list[float]]:
        text, bits = self.held[:end], self.held_bits[:end]
        self.held, self.held_bits = self.held[end:], self.held_bits[end:]
        return text, bits


@dataclass(eq=False)
class Request:
    """One generation request: `num_samples` rows of the batch, sampled with one generator."""

    prompt_ids: np.ndarray
    sampling: Sampling
    writers: list[Callable[[int], str]]  # one per row: generated id -> text
    outbox: Outbox
    rng: np.random.Generator
    deadline: Optional[float] = None
    cancelled: bool = False
    woken: bool = False  # has its coroutine been woken yet
    released: bool = False  # its rows are no longer counted against max_rows
    steps: int = 0
    watchers: list[StopWatcher] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.sampling.num_samples

    def cancel(self) -> None:
        """From the event loop (a client went away): the worker drops the rows at its next step."""
        self.cancelled = True


@dataclass(frozen=True)
class RowSettings:
    """The batch's sampling settings row by row, for the rows that sample (temperature above 0)."""

    requests: list  # the sampling requests, in batch order
    sampled: np.ndarray  # (N,) bool: rows that sample rather than take the likeliest symbol
    temperature: np.ndarray
    top_k: np.ndarray
    top_p: np.ndarray

    @classmethod
    def of(cls, active: list) -> "RowSettings":
        sampling = [r for r in active if r.sampling.temperature > 0]
        counts = [r.rows for r in sampling]
        column = lambda values: np.repeat(np.asarray(values), counts)  # noqa: E731
        return cls(sampling, np.repeat([r.sampling.temperature > 0 for r in active], [r.rows for r in active]),
                   column([float(r.sampling.temperature) for r in sampling]),
                   column([r.sampling.top_k or 0 for r in sampling]),
                   column([1.0 if r.sampling.top_p is None else float(r.sampling.top_p) for r in sampling]))

    @property
    def all_sampled(self) -> bool:
        return bool(self.sampled.all())

    def uniform(self) -> np.ndarray:
        """One uniform number per sampling row, each request drawing from its own generator as it would alone."""
        if len(self.requests) == 1:
            request = self.requests[0]
            return request.rng.random((request.rows, 1))
        return np.concatenate([r.rng.random((r.rows, 1)) for r in self.requests])


def surprise_bits(logits: np.ndarray, ids: np.ndarray) -> list[float]:
    """-log2 p(symbol) of each row's id under the model itself (temperature 1, nothing suppressed)."""
    top = logits.max(axis=1)
    log_total = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    return [round(bits, 3) for bits in ((log_total - logits[np.arange(len(ids)), ids]) / LN2).tolist()]


class Engine:
    """The worker that advances every generation request of one language model."""

    def __init__(self, lm: LanguageModel, max_rows: int = 64):
        self.lm, self.model, self.max_rows = lm, lm.model, max_rows
        device = self.model.device
        # NumPy steps fastest on a CPU at the batch sizes a server sees (generation.py).
        self.stepper_name = "numpy" if device.type == "cpu" else "torch"
        self.head = folded_head(self.model.head, 1.0, ())  # the output layer as NumPy arrays
        self.suppressed = list(lm.suppressed)
        self.stepper = STEPPERS[self.stepper_name](self.model, None, 0, self.head)
        self.hidden = np.zeros((0, self.head.hidden_size), dtype=np.float32)  # (rows, H) to sample from
        self.active: list[Request] = []  # in batch-row order
        self.row_settings: Optional[RowSettings] = None  # rebuilt when a request joins or leaves
        self.to_wake: list[Outbox] = []  # outboxes with news for a sleeping request
        self.last_wake = 0.0
        self.wake_now = False  # a request began or ended in this round: wake at once
        self.pending: list[Request] = []
        self.condition = threading.Condition()
        self.closed = False
        self.rows_in_use = 0  # active and pending rows, for admission
        self.thread = threading.Thread(target=self._run, name=f"lstmlab-engine-{lm.run_dir.name}", daemon=True)
        self.thread.start()

    # -- from the event loop ------------------------------------------------
    def submit(self, prompt: str, sampling: Sampling, outbox: Outbox) -> Optional[Request]:
        """Queue a request; None when it would take the batch past max_rows."""
        with self.condition:
            if self.rows_in_use + sampling.num_samples > self.max_rows:
                return None
            request = Request(
                prompt_ids=self.lm.prompt_ids(prompt, warn=None), sampling=sampling,
                writers=[self.lm.piece_writer(prompt) for _ in range(sampling.num_samples)], outbox=outbox,
                rng=np.random.default_rng(sampling.seed),
                deadline=None if sampling.time_limit is None else time.monotonic() + sampling.time_limit,
                watchers=[StopWatcher(sampling.stop) for _ in range(sampling.num_samples)])
            self.rows_in_use += sampling.num_samples
            self.pending.append(request)
            self.condition.notify()
        return request

    @property
    def streams(self) -> int:
        """Rows generating or about to."""
        return self.rows_in_use

    def close(self) -> None:
        with self.condition:
            self.closed = True
            self.condition.notify()
        self.thread.join(timeout=5)

    # -- the worker ---------------------------------------------------------
    def _run(self) -> None:
        torch.set_grad_enabled(False)
        while True:
            with self.condition:
                while not self.pending and not self.active and not self.closed:
                    self.condition.wait()
                if self.closed:
                    for request in self.active + self.pending:
                        self._post(request, ErrorEvent("the server is shutting down"))
                    self._wake(force=True)
                    return
                joining, self.pending = self.pending, []
            try:
                if joining:
                    self._admit(joining)
                self._step()
            except Exception as exc:  # noqa: BLE001 - a broken step must end its requests, not the worker
                failed = list(self.active)
                failed += [r for r in joining if not r.released and not any(r is f for f in failed)]
                for request in failed:
                    self._post(request, ErrorEvent(f"generation failed: {exc}"))
                self._drop(list(self.active))
                for request in joining:  # those that failed before they joined the batch
                    self._release(request)
                self.wake_now = True
            # Wake the requests with new text: now if one began or ended or the batch is
            # empty, else once WAKE_EVERY_S has passed since the last wake.
            self._wake(force=self.wake_now or not self.active)
            self.wake_now = False

    def _post(self, request: Request, item: EngineEvent) -> None:
        if request.outbox.put(item):
            self.to_wake.append(request.outbox)
            if not request.woken:  # the first piece: time to the first character counts
                request.woken, self.wake_now = True, True

    def _wake(self, force: bool) -> None:
        if self.to_wake and (force or time.monotonic() - self.last_wake >= WAKE_EVERY_S):
            wake_all(self.to_wake)
            self.to_wake, self.last_wake = [], time.monotonic()

    def _admit(self, joining: list[Request]) -> None:
        """Read the new requests' prompts and append their rows to the batch. Prompts of the
        same length are read together, in one pass of the model: requests that arrive at
        once (a class opening the playground) wait for one pass, not one each."""
        by_length: dict[int, list[Request]] = {}
        for request in joining:
            if request.cancelled:
                self._release(request)
            else:
                by_length.setdefault(len(request.prompt_ids), []).append(request)
        for length, group in by_length.items():
            with torch.inference_mode():
                if length > 0:
                    ids = torch.from_numpy(np.stack([r.prompt_ids for r in group])).long()  # (k, P)
                    hidden, state = self.model.features(ids.to(self.model.device))
                    tops = hidden[:, -1].float().cpu().numpy()  # (k, H)
                else:
                    tops, state = np.zeros((len(group), self.model.config.hidden_sizes[-1]), dtype=np.float32), None
            for i, request in enumerate(group):
                # This request's slice of the state: one (1, 1, H) tensor per part of each layer.
                own = None if state is None else [tuple(t[:, i:i + 1] for t in layer) for layer in state]
                self.stepper.add_rows(own, request.rows)
                self.hidden = np.concatenate([self.hidden, np.repeat(tops[i:i + 1], request.rows, axis=0)])
                self.active.append(request)
        self.row_settings = None
        for request in joining:
            if request.sampling.length == 0 and not request.cancelled:
                self._finish(request, "length")

    def _step(self) -> None:
        """Sample one symbol for every row at once, hand out the text, then advance the rows still going."""
        now = time.monotonic()
        for request in list(self.active):
            if request.cancelled:
                self._drop([request])
            elif request.deadline is not None and now > request.deadline:
                self._finish(request, "time_limit")
        if not self.active:
            return
        logits = self.head.logits(self.hidden)  # (N, V), temperature 1
        next_ids = self._sample(logits)
        surprise = surprise_bits(logits, next_ids)
        start, going = 0, []
        for request in list(self.active):
            rows = slice(start, start + request.rows)
            start += request.rows
            request.steps += 1
            for row, (write, watcher) in enumerate(zip(request.writers, request.watchers)):
                if watcher.stopped:
                    continue
                text, bits = watcher.add(write(int(next_ids[rows.start + row])), surprise[rows.start + row])
                if text:
                    self._post(request, TextEvent(row, text, tuple(bits)))
            if all(w.stopped for w in request.watchers):
                self._finish(request, "stop")
            elif request.steps >= request.sampling.length:
                self._finish(request, "length")
            else:
                going.append(next_ids[rows])
        if going:
            hidden = self.stepper.step(np.concatenate(going))
            self.hidden = hidden.float().cpu().numpy() if isinstance(hidden, torch.Tensor) else hidden

    def _sample(self, logits: np.ndarray) -> np.ndarray:
        """Every row's next id, with its request's settings and generator, as LanguageModel.stream samples."""
        logits = logits.copy()
        logits[:, self.suppressed] = -np.inf
        if self.row_settings is None:
            self.row_settings = RowSettings.of(self.active)
        rows = self.row_settings
        if rows.all_sampled:
            return sample_rows(logits, rows.temperature, rows.top_k, rows.top_p, rows.uniform())
        ids = logits.argmax(axis=-1)  # what greedy rows (temperature 0) keep
        if rows.requests:
            ids[rows.sampled] = sample_rows(logits[rows.sampled], rows.temperature, rows.top_k, rows.top_p,
                                            rows.uniform())
        return ids

    def _finish(self, request: Request, reason: str) -> None:
        reasons = []
        for row, watcher in enumerate(request.watchers):
            if watcher.stopped:
                reasons.append("stop")
                continue
            tail, bits = watcher.flush()
            if tail:
                self._post(request, TextEvent(row, tail, tuple(bits)))
            reasons.append(reason)
        self.wake_now = True
        self._post(request, DoneEvent(tuple(reasons), tuple(watcher.symbols for watcher in request.watchers)))
        self._drop([request])

    def _drop(self, requests: list[Request]) -> None:
        """Take the requests' rows out of the batch."""
        if not requests:
            return
        keep, start, survivors = [], 0, []
        for request in self.active:
            if any(request is r for r in requests):
                self._release(request)
            else:
                keep.extend(range(start, start + request.rows))
                survivors.append(request)
            start += request.rows
        self.active = survivors
        self.row_settings = None
        keep = np.asarray(keep, dtype=np.int64)
        self.stepper.keep_rows(keep)
        self.hidden = self.hidden[keep]

    def _release(self, request: Request) -> None:
        """Give the request's rows back to admission, once."""
        with self.condition:
            if not request.released:
                request.released = True
                self.rows_in_use -= request.rows

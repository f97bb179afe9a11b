"""The networks as exportable graphs, one per kind of run, each with the probe it is checked on.

Every graph is the evaluation model: dropout, weight drop and the rest act only in training,
and each graph wraps a copy of the trained network in eval mode whose recurrent layers are
ScannedLayers (scanned.py). The rest of the network (embedding, pooling, heads) runs as the
model's own code, so the graph is the model and not a rewrite of it.

    language model  ids (B, T) int64, the state: one (B, H) float32 tensor per layer and part
                    -> log_probs (B, T, V), the state after the last step, each layer's
                    signals (B, T, S, H); and the step graph: the same with ids (B,), no T
                    axis and no loop, for generation
    classifier      ids (B, T) int64 right-padded with 0, lengths (B,) int64 -> probs (B, C)
    forecaster      window (B, L, F) float32 in scaled units -> mean (B, horizon), and for a
                    gaussian model std (B, horizon), in the same units
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..classify.model import SequenceClassifier
from ..forecast.model import Forecaster
from ..lm.model import RecurrentLM
from ..tokenizers import PAD_ID
from .scanned import ScannedLayer

# The probe: how many rows and steps the graph is checked on (the state is carried over two calls).
PROBE_ROWS = 3
PROBE_STEPS = 40


@dataclass
class Graph:
    """An exportable module, its inputs and outputs by name with their dynamic axes, example
    arguments to trace it with (a tuple argument holds several inputs), and probes: (the inputs
    one by one, the PyTorch model's own outputs)."""

    module: nn.Module
    input_names: list[str]
    output_names: list[str]
    dynamic: dict[str, dict[int, str]]  # input name -> {axis: "batch" | "time"}
    example: tuple[torch.Tensor, ...]
    probes: list[tuple[tuple[torch.Tensor, ...], list[np.ndarray]]]


def in_eval(model: nn.Module) -> nn.Module:
    """A copy of `model` in evaluation mode, on the CPU, in float32, its weights constants: what
    is exported. (With weights that ask for gradients, torch.onnx 2.13 traces scan's backward
    too, and fails on the sizes it saves for it: "'SymInt' object has no attribute 'unsqueeze'".)"""
    return copy.deepcopy(model).cpu().float().eval().requires_grad_(False)


def scan_layers(layers: nn.ModuleList) -> None:
    for index, layer in enumerate(layers):
        layers[index] = ScannedLayer(layer)


class LanguageModelGraph(nn.Module):
    def __init__(self, model: RecurrentLM):
        super().__init__()
        self.model = in_eval(model)
        self.layers = nn.ModuleList(ScannedLayer(layer) for layer in self.model.rnn.layers)

    def forward(self, ids: torch.Tensor, state: tuple[torch.Tensor, ...]):
        x = self.model.embedding(ids)
        next_state, signals, given = [], [], list(state)
        for layer in self.layers:
            parts, given = given[: layer.parts], given[layer.parts:]
            x, final, gates = layer.run(x, tuple(part[None] for part in parts))
            next_state.extend(part[0] for part in final)
            signals.append(gates)
        return (self.log_probs(x), *next_state, *signals)

    def log_probs(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., V) log-probabilities (the adaptive softmax already gives them: RecurrentLM.output)."""
        scores = self.model.output(hidden)
        return scores if self.model.adaptive else F.log_softmax(scores, dim=-1)


def state_names(model: RecurrentLM) -> list[tuple[str, int]]:
    """(input name, size) of every state part, layer by layer: h_0, c_0, h_1, ..."""
    parts = "hc" if model.rnn.layers[0].has_cell_state() else "h"
    return [(f"{part}_{index}", size) for index, size in enumerate(model.config.hidden_sizes) for part in parts]


def language_model_names(model: RecurrentLM) -> tuple[list[str], list[str]]:
    """The inputs and outputs of both language-model graphs, by name."""
    states = [name for name, _ in state_names(model)]
    gates = [f"gates_{index}" for index in range(len(model.config.hidden_sizes))]
    return ["ids", *states], ["log_probs", *(f"{name}_next" for name in states), *gates]


def language_model_probes(reference: RecurrentLM, chunks: list[torch.Tensor], one_step: bool) -> list:
    """Probes over consecutive chunks of a stream (B, T each), the state carried from one to the
    next: the ids and state in, and PyTorch's own outputs (the fused kernels for the scores and
    the state, trace() for the gates). With one_step the time axis is dropped (the step graph)."""
    probes, torch_state = [], None
    given = tuple(torch.zeros(chunks[0].shape[0], size) for _, size in state_names(reference))
    names = [layer.signal_names() for layer in reference.rnn.layers]
    with torch.inference_mode():
        for chunk in chunks:
            logits, new_state = reference(chunk, torch_state)
            _, _, gates = reference.trace(chunk, torch_state)
            log_probs = logits if reference.adaptive else F.log_softmax(logits, dim=-1)
            signals = [torch.stack([g[name] for name in layer_names], dim=2) for g, layer_names in zip(gates, names)]
            if one_step:
                chunk, log_probs, signals = chunk[:, 0], log_probs[:, 0], [values[:, 0] for values in signals]
            expected = [log_probs, *(part[0] for layer in new_state for part in layer), *signals]
            probes.append(((chunk, *given), [t.numpy() for t in expected]))
            torch_state = new_state
            given = tuple(part[0].clone() for layer in new_state for part in layer)
    return probes


def language_model_graph(model: RecurrentLM, probe_ids: np.ndarray) -> Graph:
    """The sequence graph of a language model. `probe_ids` (N,) is a stream the check reads in
    two calls, the state carried from the first to the second."""
    graph = LanguageModelGraph(model)
    inputs, outputs = language_model_names(model)
    states = state_names(model)
    dynamic = {"ids": {0: "batch", 1: "time"}, **{name: {0: "batch"} for name, _ in states}}
    example = (torch.zeros(2, 3, dtype=torch.long), tuple(torch.zeros(2, size) for _, size in states))
    stream = torch.as_tensor(probe_ids, dtype=torch.long).reshape(PROBE_ROWS, -1)
    half = stream.shape[1] // 2
    probes = language_model_probes(graph.model, [stream[:, :half], stream[:, half:]], one_step=False)
    return Graph(graph, inputs, outputs, dynamic, example, probes)


class LanguageModelStep(LanguageModelGraph):
    """One step of a language model with no loop in it, for runtimes and programs that step one
    symbol at a time and have no use for Scan (onnxruntime-web ran it no faster than the
    sequence graph at one step: BENCHMARKS.md §22). The same cell code: each layer's
    `project_inputs` and ScannedLayer.step."""

    def forward(self, ids: torch.Tensor, state: tuple[torch.Tensor, ...]):
        x = self.model.embedding(ids)  # (B,) -> (B, E)
        next_state, signals, given = [], [], list(state)
        for layer in self.layers:
            parts, given = given[: layer.parts], given[layer.parts:]
            new, gates = layer.step(layer.layer.project_inputs(x[:, None])[:, 0], tuple(parts))
            # An output may not also be an input or another output: copies.
            next_state.extend(part.clone() for part in new)
            signals.append(gates)
            x = new[0]
        return (self.log_probs(x), *next_state, *signals)


def language_model_step_graph(model: RecurrentLM, probe_ids: np.ndarray, steps: int = 5) -> Graph:
    """The step graph: ids (B,) and the state -> log_probs (B, V), the next state, each layer's
    signals (B, S, H); checked over the first `steps` ids of each probe row, the state carried."""
    graph = LanguageModelStep(model)
    inputs, outputs = language_model_names(model)
    states = state_names(model)
    dynamic = {"ids": {0: "batch"}, **{name: {0: "batch"} for name, _ in states}}
    example = (torch.zeros(2, dtype=torch.long), tuple(torch.zeros(2, size) for _, size in states))
    stream = torch.as_tensor(probe_ids, dtype=torch.long).reshape(PROBE_ROWS, -1)
    probes = language_model_probes(graph.model, [stream[:, t: t + 1] for t in range(steps)], one_step=True)
    return Graph(graph, inputs, outputs, dynamic, example, probes)


class ClassifierGraph(nn.Module):
    def __init__(self, model: SequenceClassifier):
        super().__init__()
        self.model = in_eval(model)
        # In evaluation, reading in chunks (state carried) or packed gives the same outputs as
        # one unpacked pass (classify/model.py), which is the pass that exports.
        self.model.config = dataclasses.replace(self.model.config, chunk_length=0, packed=False)
        for directions in self.model.layers:
            scan_layers(directions)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(ids, lengths).float(), dim=-1)


def classifier_graph(model: SequenceClassifier, probe_texts: list[np.ndarray]) -> Graph:
    """The graph of a classifier, checked on `probe_texts` (ids of texts of mixed lengths)."""
    graph = ClassifierGraph(model)
    lengths = torch.tensor([max(len(t), 1) for t in probe_texts])
    ids = torch.full((len(probe_texts), int(lengths.max())), PAD_ID, dtype=torch.long)
    for row, text in enumerate(probe_texts):
        ids[row, : len(text)] = torch.as_tensor(text, dtype=torch.long)
    expected = model.predict_proba(ids, lengths).numpy()
    example = (torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 2]))
    return Graph(graph, ["ids", "lengths"], ["probs"], {"ids": {0: "batch", 1: "time"}, "lengths": {0: "batch"}},
                 example, [((ids, lengths), [expected])])


class ForecasterGraph(nn.Module):
    def __init__(self, model: Forecaster):
        super().__init__()
        self.model = in_eval(model)
        scan_layers(self.model.rnn.layers)

    def forward(self, window: torch.Tensor):
        return self.model(window)


def forecaster_graph(model: Forecaster, probe_windows: np.ndarray) -> Graph:
    """The graph of a forecaster, checked on scaled windows (N, L, F) of the run's own series."""
    graph = ForecasterGraph(model)
    windows = torch.as_tensor(probe_windows, dtype=torch.float32)
    predicted = model.predict(windows)
    outputs = ["mean", "std"] if model.config.gaussian else ["mean"]
    expected = [predicted[name].numpy() for name in outputs]
    example = (torch.zeros(2, 3, windows.shape[2]),)
    return Graph(graph, ["window"], outputs, {"window": {0: "batch", 1: "time"}}, example,
                 [((windows,), expected)])


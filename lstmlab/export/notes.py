"""FILE.json: what a runtime needs besides the graph, written beside FILE.onnx.

    lstmlab        the version that wrote it; format: "onnx", opset: its operator set
    graph          FILE.onnx's name; language models also have step_graph: FILE.step.onnx's name,
                   inputs and outputs (ids (batch,), log_probs (batch, V), gates_N (batch, S, H))
    kind           char-lm, word-lm, classifier or forecaster
    inputs,        each input and output of the graph: name, element type, and shape, with
    outputs        "batch" and "time" for the dynamic axes
    config         the run's config.json, as saved
    check          the largest difference from PyTorch onnxruntime showed, and the tolerance

and by kind:
    language models  vocabulary (characters, or the word tokenizer: kind, lowercase, symbols),
                     special ids, never_generate (ids generation leaves out), state (each
                     input's layer, part and size; its output is NAME_next), signals (each
                     layer's gates_N rows: name, short name, colour scale)
    classifiers      tokenizer, special ids, classes (the order of probs' columns), max_length
    forecasters      scaler (per-feature mean and std: window = (values - mean) / std, and the
                     outputs back to units with the target's), transform, lookback, horizon,
                     target, features
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from ..classify.trained import Classifier
from ..forecast.trained import ForecastRun
from ..lm.trained import LanguageModel
from ..tokenizers import EOS, PAD_ID, UNK_ID
from ..version import __version__
from .graphs import Graph, state_names

NOTES_FORMAT = 1


def runtime_notes(kind: str, loaded, graph: Graph, path: Path, opset: int, difference: float,
                  tolerance: float, step: Optional[tuple[Graph, Path]] = None) -> dict[str, Any]:
    notes: dict[str, Any] = {
        "lstmlab": __version__, "notes_format": NOTES_FORMAT, "format": "onnx", "opset": opset, "kind": kind,
        "graph": path.name, "inputs": describe(graph, graph.input_names, inputs=True),
        "outputs": describe(graph, graph.output_names, inputs=False),
    }
    if step is not None:
        step_graph, step_path = step
        notes["step_graph"] = {"graph": step_path.name, "inputs": describe(step_graph, step_graph.input_names, True),
                               "outputs": describe(step_graph, step_graph.output_names, False)}
    if isinstance(loaded, Classifier):
        notes.update(tokenizer=json.loads(loaded.tokenizer.to_json()), special_ids={"padding": PAD_ID, "unknown": UNK_ID},
                     classes=loaded.classes, max_length=loaded.config.data.max_length)
    elif isinstance(loaded, ForecastRun):
        data = loaded.config.data
        notes.update(scaler=loaded.prepared.scaler.to_dict(), transform=data.transform, lookback=data.lookback,
                     horizon=loaded.config.model.horizon, target=loaded.loaded.target,
                     features=list(loaded.frame.columns[1:]))
    else:
        notes.update(language_model_notes(kind, loaded))
    notes["config"] = json.loads((loaded.run_dir / "config.json").read_text(encoding="utf-8"))
    notes["check"] = {"largest_difference": difference, "tolerance": tolerance,
                      "probe": "seeded random inputs: a stream read in two calls with the state carried, a "
                               "batch of mixed lengths, or windows of the run's own series"}
    return notes


def language_model_notes(kind: str, lm: LanguageModel) -> dict[str, Any]:
    model = lm.model
    layers = list(model.rnn.layers)
    if kind == "word-lm":
        vocabulary = {"level": "word", **json.loads(lm.tokenizer.to_json())}
        special = {"padding": PAD_ID, "unknown": UNK_ID}
        if EOS in lm.tokenizer:
            special["end_of_line"] = int(lm.tokenizer.lookup([EOS])[0])
    else:
        vocabulary = {"level": "char", "symbols": list(lm.vocab.symbols)}
        special = {"unknown": 0}
    state = [{"name": name, "layer": int(name.split("_")[1]), "part": name[0], "size": size}
             for name, size in state_names(model)]
    signals = [[{"name": s.name, "short": s.short, "scale": s.scale} for s in layer.signals] for layer in layers]
    return {"vocabulary": vocabulary, "special_ids": special, "never_generate": list(lm.suppressed), "state": state,
            "signals": signals, "adaptive_softmax": model.adaptive}


def describe(graph: Graph, names: list[str], inputs: bool) -> list[dict[str, Any]]:
    """Each input or output: name, element type and shape (dynamic axes by name)."""
    arguments, outputs = graph.probes[0]
    values = arguments if inputs else outputs
    described = []
    for name, value in zip(names, values):
        shape: list[Any] = list(value.shape)
        if inputs:
            for axis, axis_name in graph.dynamic.get(name, {}).items():
                shape[axis] = axis_name
        else:
            shape = output_shape(graph, name, shape)
        described.append({"name": name, "type": str(value.dtype).replace("torch.", ""), "shape": shape})
    return described


def output_shape(graph: Graph, name: str, shape: list[Any]) -> list[Any]:
    """An output's shape with its batch and time axes named: every output's first axis is the
    batch; in a sequence graph log_probs and gates_N also have the time axis second."""
    shape[0] = "batch"
    if (name == "log_probs" or name.startswith("gates_")) and "time" in graph.dynamic.get("ids", {}).values():
        shape[1] = "time"
    return shape

"""Write a Graph (graphs.py) as an ONNX file and check it in onnxruntime before keeping it.

torch.onnx's exporter (torch.export underneath) traces the graph once; the named axes stay
symbolic, and the recurrent layers are ONNX Scan operators (scanned.py), so one file reads any
batch and any number of steps. The file is written beside its final name and moved there only
after onnxruntime has run every probe within the tolerance: a failed export never replaces a
file that was there.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import LstmlabError
from .graphs import Graph

# The largest difference from PyTorch's outputs an export may show (the tests hold every cell
# kind to it).
TOLERANCE = 1e-4


def require_onnx() -> None:
    """The export extra's libraries, or a one-line error naming the install."""
    missing = [name for name in ("onnx", "onnxruntime", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise LstmlabError(f"export needs {', '.join(missing)}; install the export extra: pip install 'lstmlab[export]'")


def write_checked(files: list[tuple[Graph, Path]], tolerance: float = TOLERANCE) -> float:
    """Export each graph to its path, replacing what is there only when every file has passed;
    return the largest difference between onnxruntime's outputs and PyTorch's over the probes."""
    partials = [path.with_name(f".{path.name}.partial") for _, path in files]
    try:
        largest = 0.0
        for (graph, path), partial in zip(files, partials):
            try:
                _export(graph, partial)
            except Exception as exc:  # the exporter's own failure, which is lstmlab's to report, not the user's
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise LstmlabError(f"torch.onnx could not export this run ({type(exc).__name__}: {first_line[:200]}); "
                                   "please report it with the run's config.json") from exc
            difference = largest_difference(graph, partial)
            if not difference <= tolerance:
                raise LstmlabError(f"the exported graph differs from PyTorch by {difference:.3g} (tolerance "
                                   f"{tolerance:g}), so {path} was not written; please report this with the run's "
                                   "config.json")
            largest = max(largest, difference)
        for (_, path), partial in zip(files, partials):
            os.replace(partial, path)
        return largest
    finally:
        for partial in partials:
            partial.unlink(missing_ok=True)


def _export(graph: Graph, path: Path) -> None:
    dims = {name: torch.export.Dim(name, min=1) for name in ("batch", "time")}
    flat = iter([{axis: dims[name] for axis, name in graph.dynamic.get(input_name, {}).items()} or None
                 for input_name in graph.input_names])
    # torch.export wants the dynamic axes nested as the arguments are.
    dynamic_shapes = tuple(tuple(next(flat) for _ in argument) if isinstance(argument, tuple) else next(flat)
                           for argument in graph.example)
    # The exporter reports its progress and its own deprecations on stdout and in warnings;
    # a user sees lstmlab's one line instead, and any error as an exception.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet_loggers():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(graph.module, graph.example, dynamo=True, input_names=graph.input_names,
                                    output_names=graph.output_names, dynamic_shapes=dynamic_shapes,
                                    optimize=True, verbose=False, report=False)
        program.save(str(path), external_data=False)


@contextlib.contextmanager
def _quiet_loggers():
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def session(path: Path):
    """An onnxruntime session on the CPU for the file at `path`."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its warnings about unused initialisers are not the user's
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def largest_difference(graph: Graph, path: Path) -> float:
    """Run every probe through onnxruntime and compare with the PyTorch model's outputs."""
    runner = session(path)
    largest = 0.0
    for arguments, expected in graph.probes:
        feeds = {name: value.numpy() for name, value in zip(graph.input_names, arguments)}
        got = runner.run(graph.output_names, feeds)
        for name, mine, theirs in zip(graph.output_names, got, expected):
            if mine.shape != theirs.shape:
                raise LstmlabError(f"the exported graph's {name} has shape {mine.shape}, PyTorch's {theirs.shape}; "
                                   "please report this with the run's config.json")
            largest = max(largest, float(np.max(np.abs(mine.astype(np.float64) - theirs), initial=0.0)))
    return largest


def opset_of(path: Path) -> int:
    """The ONNX operator set the file at `path` is written in."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))

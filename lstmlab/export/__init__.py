"""Export a trained run so that it runs without lstmlab: `lstmlab export RUN --out FILE.onnx`.

    from lstmlab.export import export
    result = export("runs/demo", "demo.onnx")   # writes demo.onnx and demo.json, checked in onnxruntime
    print(result)

FILE.onnx is the evaluation network (graphs.py) with a dynamic batch and a dynamic number of
steps; a language model also gets FILE.step.onnx, one step with no loop, for generation; FILE.json beside it holds what a runtime needs besides the graph (notes.py): the
vocabulary or tokenizer, the special ids, the state's names and sizes, the signals each layer
reports, a series' scaling, the run's config.json and the lstmlab version. Nothing is written
until onnxruntime has run the graph on a probe and matched PyTorch (onnx_file.py).

Needs the export extra: pip install 'lstmlab[export]'.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..checkpoint import PathLike, save_text_atomic
from ..classify.trained import Classifier
from ..errors import LstmlabError
from ..forecast.trained import ForecastRun
from ..lm.trained import LanguageModel
from ..run_folders import load_run
from .graphs import (PROBE_ROWS, PROBE_STEPS, Graph, classifier_graph, forecaster_graph, language_model_graph,
                     language_model_step_graph)
from .notes import runtime_notes
from .onnx_file import TOLERANCE, opset_of, require_onnx, write_checked

FORMATS = ("onnx",)
# The classifier's probe: texts of these lengths in one batch (mixed, one of a single token).
PROBE_LENGTHS = (37, 12, 1, 25)

__all__ = ["FORMATS", "Exported", "TOLERANCE", "export"]


@dataclass(frozen=True)
class Exported:
    """What `export` wrote and how well the file matched PyTorch."""

    kind: str
    path: Path
    notes: Path
    difference: float
    tolerance: float
    seconds: float
    step: Optional[Path] = None  # language models: the one-step graph beside the sequence graph

    def __str__(self) -> str:
        size = self.path.stat().st_size / 1e6
        files = f"{self.path} ({size:,.1f} MB), {self.step}" if self.step else f"{self.path} ({size:,.1f} MB)"
        return (f"wrote {files} and {self.notes}: {self.kind}; onnxruntime matches PyTorch within "
                f"{self.difference:.2g} (tolerance {self.tolerance:g}); {self.seconds:.1f}s")


def check_target(out: Path, format: str) -> None:
    """The output name and format, before any work."""
    if format not in FORMATS:
        raise LstmlabError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if out.suffix != ".onnx":
        raise LstmlabError(f"the output {out} must end in .onnx (e.g. model.onnx); its runtime notes go beside it "
                           "as model.json")
    if not out.parent.is_dir():
        raise LstmlabError(f"no folder {out.parent} to write {out.name} in; create it first (mkdir -p {out.parent})")
    if out.is_dir():
        raise LstmlabError(f"{out} is a folder; give a file name ending in .onnx")


def export(run: PathLike, out: PathLike, format: str = "onnx", tolerance: float = TOLERANCE) -> Exported:
    """Write the run folder `run` as `out` (an ONNX file) and its runtime notes as `out` with
    .json, after checking the file in onnxruntime against PyTorch (largest difference at most
    `tolerance`). A language model also gets its one-step graph, `out` with .step.onnx."""
    started = time.perf_counter()
    out = Path(out)
    check_target(out, format)
    require_onnx()
    kind, loaded = load_run(Path(run), device="cpu")
    graph = graph_of(loaded)
    step = None
    if isinstance(loaded, LanguageModel):
        step = (language_model_step_graph(loaded.model, probe_ids(loaded)), out.with_suffix(".step.onnx"))
    difference = write_checked([(graph, out), *([step] if step else [])], tolerance)
    notes = out.with_suffix(".json")
    written = runtime_notes(kind, loaded, graph, out, opset_of(out), difference, tolerance, step)
    save_text_atomic(notes, json.dumps(written, ensure_ascii=False, indent=1) + "\n")
    return Exported(kind, out, notes, difference, tolerance, time.perf_counter() - started,
                    step[1] if step else None)


def graph_of(loaded) -> Graph:
    """The exportable graph of a loaded run, with probes drawn from a fixed seed."""
    rng = np.random.default_rng(0)
    if isinstance(loaded, Classifier):
        vocab = loaded.config.model.vocab_size
        return classifier_graph(loaded.model, [rng.integers(1, vocab, n) for n in PROBE_LENGTHS])
    if isinstance(loaded, ForecastRun):
        values = loaded.prepared.values  # (T', F) the run's own series, scaled
        lookback = loaded.config.data.lookback
        ends = sorted({len(values), max(lookback, len(values) // 2), lookback})
        return forecaster_graph(loaded.model, np.stack([values[end - lookback:end] for end in ends]))
    return language_model_graph(loaded.model, probe_ids(loaded))


def probe_ids(lm: LanguageModel) -> np.ndarray:
    """A language model's probe: seeded random ids, PROBE_ROWS streams of PROBE_STEPS."""
    return np.random.default_rng(0).integers(1, lm.config.model.vocab_size, PROBE_ROWS * PROBE_STEPS)

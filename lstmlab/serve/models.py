"""The run folders a server serves, each under a name: `RUN` (named by its folder) or `NAME=RUN`.

Every kind of run is loaded by its own package's `load`, so a missing or damaged folder
gets the same one-line error as `lstmlab generate` or `lstmlab classify predict`, before
the server starts. Requests name models only by these names, never by a path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from ..classify.trained import Classifier
from ..classify.trained import load as load_classifier
from ..errors import LstmlabError
from ..forecast.trained import ForecastRun
from ..forecast.trained import load as load_forecaster
from ..lm.trained import LanguageModel, WordLanguageModel
from ..lm.trained import load as load_language_model

KINDS = ("char-lm", "word-lm", "classifier", "forecaster")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

Loaded = Union[LanguageModel, Classifier, ForecastRun]


@dataclass
class ServedModel:
    name: str
    kind: str  # one of KINDS
    loaded: Loaded
    summary: str

    @property
    def language_model(self) -> bool:
        return self.kind in ("char-lm", "word-lm")

    def describe(self) -> dict[str, Any]:
        """The model's entry in GET /v1/models (OpenAI's model object, plus what lstmlab knows)."""
        entry: dict[str, Any] = {"id": self.name, "object": "model", "owned_by": "lstmlab", "kind": self.kind,
                                 "summary": self.summary}
        if isinstance(self.loaded, Classifier):
            entry["classes"] = self.loaded.classes
        if isinstance(self.loaded, ForecastRun):
            entry["horizon"] = self.loaded.config.model.horizon
            entry["interval"] = self.loaded.config.model.gaussian
        return entry


def parse_spec(spec: str) -> tuple[str, Path]:
    """"NAME=RUN" or "RUN" -> (name, folder)."""
    name, sep, path = spec.partition("=")
    if not sep:
        path = spec
        name = Path(spec.rstrip("/")).name
    if not NAME_PATTERN.match(name):
        raise LstmlabError(f"cannot serve {spec!r} under the name {name!r}: a name is 1-64 letters, digits, '.', '_' "
                           "or '-'; give one as NAME=RUN")
    return name, Path(path)


def run_kind(run_dir: Path) -> str:
    """Which package made the run: config.json says "kind" for classifiers and forecasters;
    language models carry their level."""
    try:
        raw = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "char-lm"  # the language model's loader then names the problem
    if not isinstance(raw, dict):
        return "char-lm"
    if raw.get("kind") in ("classifier", "forecaster"):
        return raw["kind"]
    level = raw.get("data", {}).get("level", "char") if isinstance(raw.get("data"), dict) else "char"
    return "word-lm" if level == "word" else "char-lm"


def load_served(specs: list[str], device: Optional[str] = "auto") -> dict[str, ServedModel]:
    """Load every run named on the command line; the first problem is a one-line LstmlabError."""
    if not specs:
        raise LstmlabError("give at least one run folder to serve, e.g. lstmlab serve runs/demo")
    served: dict[str, ServedModel] = {}
    for spec in specs:
        name, run_dir = parse_spec(spec)
        if name in served:
            raise LstmlabError(f"two runs would be served as {name!r}; name them apart with NAME=RUN")
        if not run_dir.is_dir():
            raise LstmlabError(f"no such run folder: {run_dir}; give a folder made by lstmlab train, "
                               "lstmlab classify train or lstmlab forecast train")
        kind = run_kind(run_dir)
        if kind == "classifier":
            loaded: Loaded = load_classifier(run_dir, device)
            model = loaded.config.model
            summary = f"{model.cell} classifier {','.join(map(str, model.hidden_sizes))}, classes {', '.join(loaded.classes)}"
        elif kind == "forecaster":
            loaded = load_forecaster(run_dir, device)
            cfg = loaded.config
            summary = (f"{cfg.model.cell} forecaster of {loaded.loaded.target}, {cfg.data.lookback} steps back, "
                       f"{cfg.model.horizon} ahead, {cfg.model.distribution} output")
        else:
            loaded = load_language_model(run_dir, device)
            kind = "word-lm" if isinstance(loaded, WordLanguageModel) else "char-lm"
            model = loaded.config.model
            params = sum(p.numel() for p in loaded.model.parameters())
            unit = "word" if kind == "word-lm" else "character"
            summary = (f"{unit}-level {model.cell} {','.join(map(str, model.hidden_sizes))}, {params:,} parameters, "
                       f"{model.vocab_size:,} symbols")
        served[name] = ServedModel(name, kind, loaded, summary)
    return served

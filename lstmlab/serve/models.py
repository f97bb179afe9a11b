"""The run folders a server serves, each under a name: `RUN` (named by its folder) or `NAME=RUN`.

Every kind of run is loaded by its own package's `load`, so a missing or damaged folder
gets the same one-line error as `lstmlab generate` or `lstmlab classify predict`, before
the server starts. Requests name models only by these names, never by a path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..classify.trained import Classifier
from ..errors import LstmlabError
from ..forecast.trained import ForecastRun
from ..run_folders import Loaded, load_run

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class ServedModel:
    name: str
    kind: str  # one of run_folders.KINDS
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


def load_served(specs: list[str], device: Optional[str] = "auto") -> dict[str, ServedModel]:
    """Load every run named on the command line; the first problem is a one-line LstmlabError."""
    if not specs:
        raise LstmlabError("give at least one run folder to serve, e.g. lstmlab serve runs/demo")
    served: dict[str, ServedModel] = {}
    for spec in specs:
        name, run_dir = parse_spec(spec)
        if name in served:
            raise LstmlabError(f"two runs would be served as {name!r}; name them apart with NAME=RUN")
        kind, loaded = load_run(run_dir, device)
        if isinstance(loaded, Classifier):
            model = loaded.config.model
            summary = f"{model.cell} classifier {','.join(map(str, model.hidden_sizes))}, classes {', '.join(loaded.classes)}"
        elif isinstance(loaded, ForecastRun):
            cfg = loaded.config
            summary = (f"{cfg.model.cell} forecaster of {loaded.loaded.target}, {cfg.data.lookback} steps back, "
                       f"{cfg.model.horizon} ahead, {cfg.model.distribution} output")
        else:
            model = loaded.config.model
            params = sum(p.numel() for p in loaded.model.parameters())
            unit = "word" if kind == "word-lm" else "character"
            summary = (f"{unit}-level {model.cell} {','.join(map(str, model.hidden_sizes))}, {params:,} parameters, "
                       f"{model.vocab_size:,} symbols")
        served[name] = ServedModel(name, kind, loaded, summary)
    return served

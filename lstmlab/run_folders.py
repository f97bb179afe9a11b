"""Any run folder, whichever command made it: which kind it is, and its loaded object.

Each kind is loaded by its own package's `load`, so a missing or damaged folder gets the same
one-line error as `lstmlab generate` or `lstmlab classify predict`. `lstmlab serve` and
`lstmlab export` open runs here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

from .classify.trained import Classifier
from .classify.trained import load as load_classifier
from .errors import LstmlabError
from .forecast.trained import ForecastRun
from .forecast.trained import load as load_forecaster
from .lm.trained import LanguageModel, WordLanguageModel
from .lm.trained import load as load_language_model

KINDS = ("char-lm", "word-lm", "classifier", "forecaster")
MAKERS = "lstmlab train, lstmlab classify train or lstmlab forecast train"

Loaded = Union[LanguageModel, Classifier, ForecastRun]


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


def load_run(run_dir: Path, device: Optional[str] = "auto") -> tuple[str, Loaded]:
    """(kind, the loaded run) of any run folder; the first problem is a one-line LstmlabError."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LstmlabError(f"no such run folder: {run_dir}; give a folder made by {MAKERS}")
    if not (run_dir / "config.json").is_file():
        raise LstmlabError(f"{run_dir} is not a run folder (it has no config.json); give a folder made by {MAKERS}")
    kind = run_kind(run_dir)
    if kind == "classifier":
        return kind, load_classifier(run_dir, device)
    if kind == "forecaster":
        return kind, load_forecaster(run_dir, device)
    loaded = load_language_model(run_dir, device)
    return ("word-lm" if isinstance(loaded, WordLanguageModel) else "char-lm"), loaded

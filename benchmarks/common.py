"""Helpers shared by the benchmark scripts: the seeds' data recipe and JSON output.

Nothing here imports Keras, so a script that only drives subprocesses (or only
times lstmlab) does not pay Keras' import time.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TEXT = str(REPO.parent / "shared" / "data" / "text" / "crime_and_punishment.txt")

# The seeds' recipe (seed 000, R/Keras).
MAXLEN = 50
STEP = 3
BATCH_SIZE = 128
VALIDATION_SPLIT = 0.1


def clean_corpus(path: str) -> str:
    """Crime and Punishment as the seed reads it, made by lstmlab's own cleaner
    so that both sides of a comparison see exactly the same characters."""
    from lstmlab.lm.corpus import clean_text, load_text

    return clean_text(load_text(path), strip_gutenberg_boilerplate=True, lowercase=True, collapse_whitespace=True)


def seed_windows(text: str, maxlen: int = MAXLEN, step: int = STEP):
    """chars, X (N, maxlen) int32, y (N,) int32 and each window's start offset.

    R's `seq(1, length(ids) - maxlen, by = step)` with 1-based starts is
    0-based `range(0, len - maxlen, step)`: the last window's target is the
    text's last character at most.
    """
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.fromiter((index[c] for c in text), dtype=np.int32, count=len(text))
    starts = np.arange(0, len(ids) - maxlen, step)
    X = ids[starts[:, None] + np.arange(maxlen)]
    y = ids[starts + maxlen]
    return chars, X, y, starts


def validation_split_at(n_windows: int, validation_split: float = VALIDATION_SPLIT) -> int:
    """Where Keras' fit(validation_split=...) cuts: the last share of the rows,
    unshuffled (keras/src/trainers/data_adapters/array_slicing.py)."""
    return int(math.floor(n_windows * (1.0 - validation_split)))


def lstmlab_val_fraction(num_chars: int, val_start_char: int) -> tuple[float, int]:
    """A --val-fraction for which lstmlab's train/validation cut falls on
    `val_start_char`, and the miss in characters (0 when exact).

    lstmlab (lm/prepare.py) keeps train_chars = n - max(1, round(n * f)).
    """
    def train_chars(f: float) -> int:
        return num_chars - max(1, int(round(num_chars * f)))

    f = (num_chars - val_start_char) / num_chars
    # Floating point may land one character off; nudge by one ulp-sized step.
    for candidate in (f, math.nextafter(f, 1.0), math.nextafter(f, 0.0)):
        if train_chars(candidate) == val_start_char:
            return candidate, 0
    return f, train_chars(f) - val_start_char


def set_threads(threads: int | None) -> None:
    """Pin torch's intra-op threads (None: torch's default, one per core).

    On a CPU shared with another busy process, torch's default of one thread
    per core can be 10x+ slower for the many tiny ops of a recurrent loop:
    every op waits at a barrier for a thread that is descheduled. Use
    --threads 1 when the machine is not yours alone; leave it unset for real numbers.
    """
    if threads:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(threads)  # for any subprocess too
        torch.set_num_threads(threads)


def machine_info() -> dict:
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def write_json(path: str | os.PathLike, result: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {"written_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": [sys.executable, *sys.argv], **result}
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)

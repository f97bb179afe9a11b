"""Helpers the tests import: where the shared data lives, and tiny training flags."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_file(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data file {path} is absent (it lives beside the repo in ../shared, never inside it)")
    return path


# Small enough that a run takes a second or two on 2 cores.
TINY = ["--hidden", "48", "--embed-dim", "16", "--batch-size", "16", "--seq-len", "32", "--eval-every", "20",
        "--no-progress"]


def validation_rows(run: Path) -> list[dict]:
    """The rows of RUN/metrics.jsonl written at validations (the others record the training loss)."""
    import json

    rows = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row for row in rows if "val_loss" in row]


def write_wikitext_slice(folder: Path, train: int, valid: int, test: int) -> Path:
    """The first lines of WikiText-2's train.txt, valid.txt and test.txt, as a split folder."""
    for name, lines in (("train.txt", train), ("valid.txt", valid), ("test.txt", test)):
        with open(shared_file(f"text/wikitext-2/{name}"), encoding="utf-8") as fh:
            (folder / name).write_text("".join(line for _, line in zip(range(lines), fh)), encoding="utf-8")
    return folder

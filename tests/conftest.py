"""Fixtures shared by the tests: the real data in ../shared and an in-process CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmlab.cli import main

from tests.helpers import shared_file


def pytest_collection_modifyitems(config, items):
    """Tests marked gpu skip, saying why, on a machine without CUDA."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shakespeare_slice(tmp_path_factory) -> Path:
    """The first 60,000 characters of tiny_shakespeare.txt: real text, quick to train on."""
    text = shared_file("text/tiny_shakespeare.txt").read_text(encoding="utf-8")[:60_000]
    path = tmp_path_factory.mktemp("corpus") / "shakespeare_slice.txt"
    path.write_text(text, encoding="utf-8")
    return path


class Cli:
    """Runs `lstmlab ...` in this process and captures what it prints."""

    def __init__(self, capsys):
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(capsys) -> Cli:
    return Cli(capsys)

"""Runs of every kind, and real `lstmlab serve` processes on loopback ports, for the server's tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

import pytest

import lstmlab
import lstmlab.classify as classify
import lstmlab.forecast as forecast

from tests.helpers import shared_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def char_run(shakespeare_slice, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("serve-runs") / "chars"
    lstmlab.train(str(shakespeare_slice), run, hidden_sizes=(64,), max_steps=60, eval_every=30,
                  show_progress=False, log=lambda line: None)
    return run


@pytest.fixture(scope="session")
def word_run(tmp_path_factory) -> Path:
    text = shared_file("text/crime_and_punishment.txt").read_text(encoding="utf-8-sig")[:150_000]
    folder = tmp_path_factory.mktemp("serve-words")
    (folder / "crime.txt").write_text(text, encoding="utf-8")
    lstmlab.train(str(folder / "crime.txt"), folder / "words", level="word", max_vocab=1000, max_steps=30,
                  hidden_sizes=(32,), embed_dim=16, batch_size=16, seq_len=32, eval_every=30,
                  show_progress=False, log=lambda line: None)
    return folder / "words"


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("serve-runs") / "imdb"
    classify.train(str(shared_file("sentiment/sentiment_labelled_sentences/imdb_labelled.txt")), run, epochs=3,
                   hidden_sizes=(16,), embed_dim=16, show_progress=False, log=lambda line: None)
    return run


@pytest.fixture(scope="session")
def forecaster_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("serve-runs") / "airline"
    forecast.train(str(shared_file("timeseries/airline-passengers.csv")), run, hidden_sizes=(8,), epochs=3,
                   lookback=24, horizon=12, transform="log", distribution="gaussian", val_fraction=0.17,
                   test_fraction=0.17, show_progress=False, log=lambda line: None)
    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m lstmlab serve ...` in its own process, on a free loopback port."""

    def __init__(self, args: list[str], env: Optional[dict[str, str]] = None, timeout: float = 90):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "lstmlab", "serve", *args, "--port", str(self.port)],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lstmlab serve exited with {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("lstmlab serve did not answer /healthz in time")

    def request(self, method: str, path: str, body=None, headers: Optional[dict] = None,
                raw: Optional[bytes] = None, timeout: float = 60) -> tuple[int, dict]:
        """(status, JSON answer) of one request; errors are answers too."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def post(self, path: str, body, **kwargs) -> tuple[int, dict]:
        return self.request("POST", path, body, **kwargs)

    def get(self, path: str, **kwargs) -> tuple[int, dict]:
        return self.request("GET", path, **kwargs)

    def stop(self) -> tuple[str, str]:
        self.proc.terminate()
        try:
            out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return out, err


@pytest.fixture(scope="session")
def server(char_run, word_run, classifier_run, forecaster_run):
    """One server with a run of every kind. Samples may be 100,000 characters long, so that a test
    can watch one while it is still being written."""
    running = Server([f"chars={char_run}", f"words={word_run}", f"imdb={classifier_run}",
                      f"airline={forecaster_run}", "--max-length", "100000"])
    yield running
    running.stop()

"""Data-parallel training with real torchrun processes (gloo on this CPU).

Each test starts real processes: `python -m torch.distributed.run ... -m lstmlab`,
`lstmlab ... --nproc 2`, or two torchrun agents acting as two machines on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import lstmlab
from lstmlab.checkpoint import BEST, LAST
from tests.helpers import shared_file

pytestmark = [pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch has no torch.distributed"),
              pytest.mark.slow]  # torchrun processes: about 130 s

# Same global batch, no dropout, fp32: one process and two must give the same weights.
EXACT = ["--precision", "fp32", "--no-progress"]
LM_FLAGS = ["--hidden", "32", "--embed-dim", "16", "--batch-size", "8", "--seq-len", "32", "--steps", "8",
            "--eval-every", "4", "--dropout", "0", "--eval-chars", "4000", *EXACT]
CLASSIFY_FLAGS = ["--hidden", "16", "--embed-dim", "16", "--batch-size", "33", "--steps", "8", "--eval-every", "4",
                  "--dropout", "0", "--word-dropout", "0", "--no-baseline", *EXACT]
FORECAST_FLAGS = ["--hidden", "16", "--batch-size", "15", "--steps", "8", "--eval-every", "4", *EXACT]
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def lstmlab_command(*args) -> list[str]:
    return [sys.executable, "-m", "lstmlab", *map(str, args)]


def torchrun_command(nproc: int, *args, extra: tuple[str, ...] = ("--standalone",)) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *extra, "--nproc-per-node", str(nproc),
            "-m", "lstmlab", *map(str, args)]


def run(command: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=CHILD_ENV)


def last_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(run_dir / LAST)).items() if k.startswith("model.")}


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = last_weights(a), last_weights(b)
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], atol=2e-5, rtol=1e-4, msg=name)


def validations(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [row for row in rows if "val_loss" in row]


@pytest.fixture(scope="module")
def text_slice(tmp_path_factory) -> Path:
    text = shared_file("text/tiny_shakespeare.txt").read_text(encoding="utf-8")[:40_000]
    path = tmp_path_factory.mktemp("corpus") / "slice.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("objective", ["tbptt", "window"])
def test_language_model_in_two_processes_matches_one(objective, text_slice, tmp_path):
    flags = [*LM_FLAGS, "--objective", objective, *(["--window", "20", "--step", "7"] if objective == "window" else [])]
    one = run(lstmlab_command("train", text_slice, "--out", tmp_path / "one", *flags))
    assert one.returncode == 0, one.stderr
    two = run(torchrun_command(2, "train", text_slice, "--out", tmp_path / "two", *flags))
    assert two.returncode == 0, two.stderr
    assert "2 processes" in two.stdout
    assert_same_weights(tmp_path / "one", tmp_path / "two")
    # Validation is split across the ranks and summed: the same scores as one process.
    for a, b in zip(validations(tmp_path / "one"), validations(tmp_path / "two")):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    # Only rank 0 writes and speaks: one log, one metrics row per record.
    assert two.stdout.count("stopped after") == 1
    assert len(validations(tmp_path / "two")) == len(validations(tmp_path / "one")) == 3


def test_classifier_in_two_processes_matches_one(tmp_path):
    data = shared_file("sentiment/sentiment_labelled_sentences/imdb_labelled.txt")
    # 33 texts a batch: the two ranks get 17 and 16, and their losses are weighted to match.
    one = run(lstmlab_command("classify", "train", data, "--out", tmp_path / "one", *CLASSIFY_FLAGS))
    assert one.returncode == 0, one.stderr
    two = run(lstmlab_command("classify", "train", data, "--out", tmp_path / "two", "--nproc", "2", *CLASSIFY_FLAGS))
    assert two.returncode == 0, two.stderr
    assert_same_weights(tmp_path / "one", tmp_path / "two")
    assert validations(tmp_path / "one")[-1]["val_accuracy"] == validations(tmp_path / "two")[-1]["val_accuracy"]


def test_forecaster_in_two_processes_matches_one(tmp_path):
    data = shared_file("timeseries/airline-passengers.csv")
    one = run(lstmlab_command("forecast", "train", data, "--out", tmp_path / "one", *FORECAST_FLAGS))
    assert one.returncode == 0, one.stderr
    two = run(torchrun_command(2, "forecast", "train", data, "--out", tmp_path / "two", *FORECAST_FLAGS))
    assert two.returncode == 0, two.stderr
    assert_same_weights(tmp_path / "one", tmp_path / "two")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_torchrun_agents_on_loopback_train_one_run_as_two_machines(text_slice, tmp_path):
    out = tmp_path / "two_nodes"
    port = free_port()
    rendezvous = ("--nnodes", "2", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
                  "--rdzv-id", "lstmlab-test")
    agents = [subprocess.Popen(torchrun_command(1, "train", text_slice, "--out", out, *LM_FLAGS, extra=rendezvous),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV)
              for _ in range(2)]
    results = [agent.communicate(timeout=240) for agent in agents]
    assert [agent.returncode for agent in agents] == [0, 0], [err for _, err in results]
    assert sum(stdout.count("stopped after") for stdout, _ in results) == 1  # one rank 0, one log
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["config.json", "vocab.json", "data", BEST, LAST, "metrics.jsonl", "loss.png"])
    one = run(lstmlab_command("train", text_slice, "--out", tmp_path / "one", *LM_FLAGS))
    assert one.returncode == 0, one.stderr
    assert_same_weights(tmp_path / "one", out)


@pytest.fixture(scope="module")
def two_process_run(text_slice, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "two"
    result = run(lstmlab_command("train", text_slice, "--out", out, "--nproc", "2", *LM_FLAGS))
    assert result.returncode == 0, result.stderr
    return out


def test_a_two_process_checkpoint_resumes_in_one_process(two_process_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(two_process_run, copy)
    result = run(lstmlab_command("train", "--resume", copy, "--steps", "4", "--no-progress"))
    assert result.returncode == 0, result.stderr
    assert "saved by 2 processes and continues in 1" in result.stdout
    assert validations(copy)[-1]["step"] == 12


def test_a_two_process_run_generates_as_the_model_loaded_from_it(two_process_run):
    result = run(lstmlab_command("generate", two_process_run, "--prompt", "ROMEO:", "--length", "60", "--seed", "3"))
    assert result.returncode == 0, result.stderr
    expected = lstmlab.load(two_process_run).generate("ROMEO:", length=60, seed=3)
    assert result.stdout.strip() == expected.strip()


def test_two_processes_with_dropout_resume_exactly_where_they_stopped(text_slice, tmp_path):
    """Each rank has its own dropout masks (seeded by rank) and its own saved random state,
    so 4 + 4 resumed steps end where 8 straight steps do."""
    flags = list(LM_FLAGS)
    del flags[flags.index("--steps"):flags.index("--steps") + 2]
    flags[flags.index("--dropout") + 1] = "0.3"
    flags += ["--schedule", "constant", "--warmup-steps", "0"]
    straight = run(lstmlab_command("train", text_slice, "--out", tmp_path / "straight", "--nproc", "2", "--steps", "8", *flags))
    assert straight.returncode == 0, straight.stderr
    first = run(lstmlab_command("train", text_slice, "--out", tmp_path / "resumed", "--nproc", "2", "--steps", "4", *flags))
    assert first.returncode == 0, first.stderr
    second = run(lstmlab_command("train", "--resume", tmp_path / "resumed", "--nproc", "2", "--steps", "4", "--no-progress"))
    assert second.returncode == 0, second.stderr
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")
    ranks = load_file(str(tmp_path / "resumed" / LAST))
    assert not torch.equal(ranks["rng.torch"], ranks["rng.torch.1"])  # the ranks' dropout differs


def test_every_tensor_on_disk_is_a_cpu_tensor_and_no_file_names_a_device(two_process_run):
    for name in (BEST, LAST):
        tensors = load_file(str(two_process_run / name), device="cpu")
        assert tensors and all(t.device.type == "cpu" for t in tensors.values())
    config = (two_process_run / "config.json").read_text()
    assert "cuda" not in config and "device" not in config


def wait_for_validation(run_dir: Path, step: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (run_dir / "metrics.jsonl").exists() and any(row["step"] >= step for row in validations(run_dir)):
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError(f"no validation at step {step} within {timeout}s")


def long_run(text_slice: Path, out: Path) -> subprocess.Popen:
    flags = list(LM_FLAGS)
    flags[flags.index("--steps") + 1] = "100000"
    return subprocess.Popen(lstmlab_command("train", text_slice, "--out", out, "--nproc", "2", *flags),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV)


def test_sigterm_to_the_launcher_stops_every_rank_and_leaves_a_resumable_checkpoint(text_slice, tmp_path):
    out = tmp_path / "run"
    launcher = long_run(text_slice, out)
    wait_for_validation(out, 4, launcher)
    launcher.send_signal(signal.SIGTERM)
    stdout, stderr = launcher.communicate(timeout=60)
    assert launcher.returncode != 0
    assert "continue with: lstmlab train --resume" in stderr
    assert "Traceback" not in stderr
    resumed = run(lstmlab_command("train", "--resume", out, "--steps", "2", "--no-progress"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout


def test_a_killed_rank_ends_the_job_within_a_minute_with_one_line(text_slice, tmp_path):
    out = tmp_path / "run"
    launcher = long_run(text_slice, out)
    wait_for_validation(out, 4, launcher)
    worker = next(pid for pid in child_pids(launcher.pid) if environment_of(pid).get("RANK") == "1")
    os.kill(worker, signal.SIGKILL)
    started = time.time()
    _, stderr = launcher.communicate(timeout=60)
    assert time.time() - started < 60
    assert launcher.returncode != 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "training process 1 of 2 was killed by SIGKILL" in lines[0], stderr


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def environment_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)

"""End-to-end runs through the CLI on a slice of real text."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import lstmlab
from lstmlab.checkpoint import BEST, LAST
from lstmlab.config import CELLS

from tests.helpers import TINY, validation_rows


def val_losses(run: Path) -> list[float]:
    return [row["val_loss"] for row in validation_rows(run)]


@pytest.mark.parametrize("cell", CELLS)
def test_each_cell_learns_through_the_cli(cli, shakespeare_slice, tmp_path, cell):
    run = tmp_path / cell
    code, out, err = cli("train", shakespeare_slice, "--out", run, "--cell", cell, "--steps", "60", *TINY)
    assert code == 0, err
    losses = val_losses(run)
    assert losses[0] > 3.5  # about log(vocabulary) before training
    assert losses[-1] < losses[0] - 0.8, losses
    for name in ("config.json", "vocab.json", BEST, LAST, "metrics.jsonl", "loss.png"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["cell"] == cell and config["train"]["max_steps"] == 60
    assert config["data"]["source"] == str(shakespeare_slice)
    assert "best checkpoint at step" in out and "bits/char" in out


def test_window_objective_reproduces_the_seeds_recipe(cli, shakespeare_slice, tmp_path):
    run = tmp_path / "window"
    code, _, err = cli("train", shakespeare_slice, "--out", run, "--objective", "window", "--window", "20",
                       "--step", "3", "--steps", "60", "--optimizer", "rmsprop", *TINY)
    assert code == 0, err
    losses = val_losses(run)
    assert losses[-1] < losses[0] - 0.5, losses


def test_resume_gives_the_same_weights_as_one_straight_run(cli, shakespeare_slice, tmp_path):
    common = ["--schedule", "constant", "--dropout", "0.2", "--eval-every", "15", *TINY[:-3], "--no-progress"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert cli("train", shakespeare_slice, "--out", straight, "--steps", "40", *common)[0] == 0
    assert cli("train", shakespeare_slice, "--out", split, "--steps", "20", *common)[0] == 0
    code, _, err = cli("train", "--resume", split, "--steps", "20", "--no-progress")
    assert code == 0, err
    a, b = load_file(straight / LAST), load_file(split / LAST)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert val_losses(straight)[-1] == val_losses(split)[-1]


def test_save_load_generate_is_identical_under_a_seed(cli, shakespeare_slice, tmp_path):
    run = tmp_path / "run"
    trained = lstmlab.train(str(shakespeare_slice), run, max_steps=30, hidden_sizes=(48,), embed_dim=16,
                            batch_size=16, seq_len=32, log=lambda s: None, show_progress=False)
    in_memory = trained.generate("ROMEO:", length=120, temperature=0.8, seed=7)
    loaded = lstmlab.load(run).generate("ROMEO:", length=120, temperature=0.8, seed=7)
    assert in_memory == loaded and loaded.startswith("ROMEO:") and len(loaded) == len("ROMEO:") + 120
    code, out, _ = cli("generate", run, "--prompt", "ROMEO:", "--length", "120", "--temperature", "0.8", "--seed", "7")
    assert code == 0 and out == loaded + "\n"
    assert lstmlab.load(run).generate("ROMEO:", length=120, temperature=0.8, seed=8) != loaded
    samples = lstmlab.load(run).generate("", length=30, num_samples=3, seed=1, top_k=5, top_p=0.9)
    assert len(samples) == 3 and all(len(s) == 30 for s in samples)


def test_lowercase_model_lowercases_the_prompt_and_warns_once(cli, shakespeare_slice, tmp_path):
    run = tmp_path / "lower"
    assert cli("train", shakespeare_slice, "--out", run, "--lowercase", "--steps", "5", *TINY)[0] == 0
    code, out, err = cli("generate", run, "--prompt", "ROMEO é ß", "--length", "20", "--seed", "1")
    assert code == 0 and out.startswith("romeo é ß")
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "'é'" in warnings[0] and "'ß'" in warnings[0]
    assert "\ufffd" not in out  # the unknown symbol is never written


def test_evaluate_prints_bits_and_nats(cli, shakespeare_slice, tmp_path):
    run = tmp_path / "eval"
    assert cli("train", shakespeare_slice, "--out", run, "--steps", "5", *TINY)[0] == 0
    code, out, _ = cli("evaluate", run, shakespeare_slice)
    assert code == 0
    match = re.fullmatch(r"(\d+\.\d{3}) bits/char \((\d+\.\d{3}) nats/char\) over ([\d,]+) characters\n", out)
    assert match, out
    bits, nats = float(match[1]), float(match[2])
    assert abs(bits - nats / 0.693147) < 0.01


@pytest.mark.slow  # trains in a CLI subprocess, then resumes in another: about 11 s
def test_ctrl_c_leaves_a_loadable_resumable_checkpoint(shakespeare_slice, tmp_path):
    run = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "lstmlab.cli", "train", str(shakespeare_slice), "--out", str(run), "--minutes", "5",
           "--hidden", "256", "--batch-size", "32", "--seq-len", "64", "--eval-every", "1000", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run / "metrics.jsonl").exists() and time.time() < deadline:  # the step-0 evaluation is done
        time.sleep(0.2)
    time.sleep(2.0)  # let it take some steps
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"--resume {run}" in err
    lstmlab.load(run)  # the best weights load
    state = json.loads(safe_open(str(run / LAST), "pt").metadata()["trainer"])
    assert state["step"] > 0
    code = subprocess.run([sys.executable, "-m", "lstmlab.cli", "train", "--resume", str(run), "--steps", "3",
                           "--no-progress"], capture_output=True, text=True)
    assert code.returncode == 0, code.stderr
    assert f"resuming {run} at step {state['step']}" in code.stdout


def test_threads_flag_sets_torch_threads_and_is_not_passed_on_as_a_setting(cli):
    import torch

    before = torch.get_num_threads()
    try:
        code, out, err = cli("--threads", "1", "summary", "--vocab-size", "65", "--hidden", "32")
        assert code == 0, err  # `threads` did not reach summary's settings
        assert torch.get_num_threads() == 1
        code, _, err = cli("--threads", "0", "corpora")
        assert code == 2 and "--threads must be at least 1" in err
    finally:
        torch.set_num_threads(before)

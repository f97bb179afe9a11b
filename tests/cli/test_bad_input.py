"""Every user mistake gets one line naming the problem and the fix, exit code 2,
no traceback, and never costs work already saved."""

import json
import shutil
from pathlib import Path

import pytest

import lstmlab
from lstmlab import checkpoint
from lstmlab.checkpoint import BEST, LAST

from tests.helpers import TINY


def assert_one_line_error(result, *needles):
    code, out, err = result
    assert code == 2, (code, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, shakespeare_slice):
    run = tmp_path_factory.mktemp("runs") / "good"
    lstmlab.train(str(shakespeare_slice), run, max_steps=10, hidden_sizes=(32,), embed_dim=8, batch_size=8,
                  seq_len=32, log=lambda s: None, show_progress=False)
    return run


def copy_run(source: Path, target: Path) -> None:
    """A private copy of a trained run (its prepared corpus too), to damage without harming the shared one."""
    shutil.copytree(source, target)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, needles", [
    (lambda d: d / "nope.txt", ["no such file", "builtin:shakespeare"]),
    (lambda d: write(d / "empty.txt", b""), ["empty"]),
    (lambda d: write(d / "data.bin", bytes(range(256)) * 40), ["binary"]),
    (lambda d: write(d / "latin.txt", "caf\u00e9 au lait ".encode("latin-1") * 50), ["not valid utf-8", "byte 0xe9", "--encoding latin-1"]),
])
def test_bad_corpus_files(cli, tmp_path, make, needles):
    source = make(tmp_path)
    assert_one_line_error(cli("train", source, "--out", tmp_path / "run", "--steps", "1", *TINY), *needles)
    assert not (tmp_path / "run" / "config.json").exists()


def test_encoding_flag_fixes_a_latin1_file(cli, tmp_path):
    source = write(tmp_path / "latin.txt", "caf\u00e9 au lait, s'il vous pla\u00eet. ".encode("latin-1") * 400)
    code, _, err = cli("train", source, "--out", tmp_path / "run", "--encoding", "latin-1", "--steps", "2", *TINY)
    assert code == 0, err


def test_corpus_shorter_than_the_sequence_length(cli, tmp_path):
    source = write(tmp_path / "short.txt", b"To be, or not to be.\n")
    assert_one_line_error(cli("train", source, "--out", tmp_path / "run", "--seq-len", "100"), "too short", "--seq-len")


@pytest.mark.parametrize("flags, needles", [
    (["--hidden", "0"], ["--hidden"]),
    (["--hidden", "12,x"], ["--hidden", "256,128"]),
    (["--dropout", "1.5"], ["--dropout"]),
    (["--lr", "-1"], ["--lr"]),
    (["--val-fraction", "1.5"], ["--val-fraction"]),
    (["--batch-size", "0"], ["--batch-size"]),
    (["--minutes", "0"], ["--minutes"]),
    (["--cell", "transformer"], ["--cell", "lstm"]),
    (["--tie-embeddings", "--hidden", "64", "--embed-dim", "16"], ["--embed-dim 64"]),
])
def test_impossible_settings(cli, shakespeare_slice, tmp_path, flags, needles):
    assert_one_line_error(cli("train", shakespeare_slice, "--out", tmp_path / "run", *flags), *needles)
    assert not (tmp_path / "run").exists()  # checked before anything is prepared


def test_training_into_an_existing_run_is_refused_and_keeps_it(cli, trained_run, shakespeare_slice):
    before = {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()}
    assert_one_line_error(cli("train", shakespeare_slice, "--out", trained_run, "--steps", "1"), "--resume")
    assert {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()} == before


def test_resume_cannot_change_the_model(cli, trained_run):
    assert_one_line_error(cli("train", "--resume", trained_run, "--hidden", "64"), "--resume", "--out")


@pytest.mark.parametrize("damage", ["garbage", "truncate"])
def test_corrupt_or_truncated_checkpoint(cli, trained_run, tmp_path, damage):
    run = tmp_path / "copy"
    copy_run(trained_run, run)
    for name in (BEST, LAST):
        data = (run / name).read_bytes()
        (run / name).write_bytes(b"\x00garbage" * 10 if damage == "garbage" else data[: len(data) // 2])
    assert_one_line_error(cli("generate", run, "--prompt", "A"), "corrupt or truncated", BEST)
    assert_one_line_error(cli("train", "--resume", run, "--steps", "1"), "corrupt or truncated", LAST)


def test_bad_generation_options(cli, trained_run):
    assert_one_line_error(cli("generate", trained_run, "--temperature", "-1"), "--temperature")
    assert_one_line_error(cli("generate", trained_run, "--top-p", "0"), "--top-p")
    assert_one_line_error(cli("generate", trained_run / "missing"), "no such run folder")
    assert_one_line_error(cli("evaluate", trained_run, trained_run / "nothing.txt"), "no such file")


def test_edited_config_is_reported(cli, trained_run, tmp_path):
    run = tmp_path / "edited"
    copy_run(trained_run, run)
    config = json.loads((run / "config.json").read_text())
    config["model"]["hidden_sizes"] = [64]
    (run / "config.json").write_text(json.dumps(config))
    assert_one_line_error(cli("generate", run), "does not match", "config.json")
    config["model"]["colour"] = "blue"
    (run / "config.json").write_text(json.dumps(config))
    assert_one_line_error(cli("generate", run), "unknown setting", "colour")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(cli, shakespeare_slice, tmp_path):
    run = tmp_path / "nan"
    # An absurd learning rate with clipping off overflows the weights within a few steps.
    result = cli("train", shakespeare_slice, "--out", run, "--steps", "50", "--optimizer", "sgd", "--lr", "1e38",
                 "--clip", "0", "--warmup-steps", "0", *TINY)
    assert_one_line_error(result, "lower --lr", "--clip 1.0", "last good checkpoint (step 0)")
    lm = lstmlab.load(run)  # the step-0 weights are intact
    assert lm.evaluate("To be, or not to be").nats_per_char < 10


def test_a_kill_during_a_save_leaves_the_previous_checkpoint_whole(trained_run, tmp_path, monkeypatch):
    run = tmp_path / "killed"
    copy_run(trained_run, run)
    before = {name: (run / name).read_bytes() for name in (BEST, LAST)}
    lm = lstmlab.load(run)

    def killed_midway(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")  # the temporary file is being written...
        raise KeyboardInterrupt  # ...when the process is killed

    monkeypatch.setattr(checkpoint, "save_file", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_best(lm.model, run, step=99, val_loss=0.1)
    assert {name: (run / name).read_bytes() for name in (BEST, LAST)} == before
    assert lstmlab.load(run).generate("A", length=20, seed=3) == lm.generate("A", length=20, seed=3)

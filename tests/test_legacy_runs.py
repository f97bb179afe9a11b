"""Run folders made by an earlier lstmlab (commit aafe1ba, before the package layout changed)
still load, generate the same text, score the same, and resume.

tests/fixtures/legacy_runs/ holds a char LM, a word LM, a classifier and a forecaster made
by that commit, and expected.json what that code gave on them; record_expected.py made it,
and its output functions (the same public API calls) are reused here with today's code.
Texts and printed lines must match exactly; floats to a relative 1e-5, because the last
bits of a float can move with the number of threads (see expected.json's "conventions").
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import pytest

from tests.helpers import validation_rows

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURES = HERE / "fixtures" / "legacy_runs"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))["runs"]
RUNS = ("char_lm", "word_lm", "classifier", "forecaster")


def recorder():
    """record_expected.py as a module: its *_outputs functions make the recorded calls."""
    spec = importlib.util.spec_from_file_location("record_expected", FIXTURES / "record_expected.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECORDER = recorder()


def outputs(name: str, run: Path) -> list[dict]:
    run = str(run)
    if name == "char_lm":
        return RECORDER.lm_outputs(run, "ROMEO:", RECORDER.CHAR_SENTENCES, word=False)
    if name == "word_lm":
        return RECORDER.lm_outputs(run, "O Romeo", RECORDER.WORD_SENTENCES, word=True)
    if name == "classifier":
        return RECORDER.classifier_outputs(run)
    return RECORDER.forecaster_outputs(run)


def assert_same(got, expected, where: str = "") -> None:
    """Equal structure, equal strings and ints, floats within a relative 1e-5."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and list(got) == list(expected), where
        for key in expected:
            assert_same(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, (list, tuple)) and len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-9), (where, got, expected)
    else:
        assert got == expected, (where, got, expected)


def clean(entries: list[dict]) -> list[dict]:
    return [{**e, "result": RECORDER.clean(e["result"])} for e in entries]


@pytest.fixture(autouse=True)
def in_repo_root(monkeypatch):
    # The classifier fixture names its data relative to the repository root, as the recorder ran it.
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("name", RUNS)
def test_a_legacy_run_loads_and_gives_the_same_outputs(name):
    got = clean(outputs(name, FIXTURES / name))
    expected = EXPECTED[name]["api"]
    assert [e["call"] for e in got] == [e["call"] for e in expected]
    for g, e in zip(got, expected):
        assert_same(g["result"], e["result"], f"{name} {e['call']}")


@pytest.mark.parametrize("name", RUNS)
def test_a_legacy_run_prints_the_same_through_the_cli(name, cli, tmp_path):
    for entry in EXPECTED[name]["cli"]:
        argv = [a.replace("{run}", str(FIXTURES / name)).replace("{tmp}", str(tmp_path)) for a in entry["argv"]]
        code, out, err = cli(*argv)
        assert code == entry["exit_code"], err
        assert out.replace(str(tmp_path), "{tmp}") == entry["stdout"], argv
        if "csv" in entry:  # the forecast file: the same numbers
            rows = [line.split(",") for line in (tmp_path / "forecast.csv").read_text().splitlines()]
            recorded = [line.split(",") for line in entry["csv"].splitlines()]
            assert rows[0] == recorded[0] and [r[0] for r in rows] == [r[0] for r in recorded]
            assert_same([[float(v) for v in r[1:]] for r in rows[1:]], [[float(v) for v in r[1:]] for r in recorded[1:]])


@pytest.mark.parametrize("name", RUNS)
def test_a_moved_legacy_run_resumes_as_before(name, cli, tmp_path):
    """A copy of the run, elsewhere, resumes with the recorded extra budget and ends where
    the earlier code ended: the same last validation and the same outputs after it."""
    record = EXPECTED[name]["resume"]
    run = tmp_path / name
    shutil.copytree(FIXTURES / name, run)
    config = json.loads((run / "config.json").read_text())
    if "data_dir" in config:  # as on the machine that made it: an absolute path that is not here
        assert Path(config["data_dir"]).is_absolute()
        (run / "config.json").write_text(json.dumps({**config, "data_dir": str(tmp_path / "gone" / "data")}))
    code, out, err = cli(*[a.replace("{run}", str(run)) for a in record["argv"]])
    assert code == record["exit_code"] == 0, err
    # Rows of the training loss every few steps are new since; the validations must match.
    metrics = validation_rows(run)
    assert len(metrics) == record["metrics_rows"]
    last = {k: v for k, v in metrics[-1].items() if k in record["last_metrics_row"]}
    assert_same(last, record["last_metrics_row"], f"{name} last metrics row")
    got = clean(outputs(name, run))
    recorded = {e["call"]: e for e in record["outputs"]}
    compared = 0
    for entry in got:
        e = recorded.get(entry["call"])
        if e is not None and entry["args"] == e["args"] and entry["kwargs"] == e["kwargs"]:
            assert_same(entry["result"], e["result"], f"{name} after resume: {e['call']}")
            compared += 1
    assert compared == len(record["outputs"])

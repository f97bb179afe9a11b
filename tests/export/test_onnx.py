"""lstmlab export: the ONNX file, run by onnxruntime, against the PyTorch model it came from.

Every check runs the real exporter on real runs (tiny ones, trained a few steps on real text),
and onnxruntime on the written file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

import lstmlab
import lstmlab.classify as classify
import lstmlab.forecast as forecast
from lstmlab.cells import CELLS
from lstmlab.classify.model import collate
from lstmlab.export import TOLERANCE, export
from tests.helpers import shared_file

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
QUIET = dict(show_progress=False, log=lambda line: None)


def session(path: Path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_graph(runner: onnxruntime.InferenceSession, feeds: dict) -> dict[str, np.ndarray]:
    names = [o.name for o in runner.get_outputs()]
    return dict(zip(names, runner.run(names, feeds)))


@pytest.fixture(scope="module")
def char_runs(shakespeare_slice, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("export-char")
    runs = {}
    for cell in CELLS:
        runs[cell] = folder / cell
        lstmlab.train(str(shakespeare_slice), runs[cell], cell=cell, hidden_sizes=(24, 16), embed_dim=8, max_steps=6,
                      eval_every=6, batch_size=8, seq_len=32, **QUIET)
    return runs


@pytest.mark.parametrize("cell", list(CELLS))
def test_every_cell_matches_pytorch_over_a_200_step_stream_with_the_state_carried(cell, char_runs, tmp_path):
    result = export(char_runs[cell], tmp_path / "model.onnx")
    assert result.difference <= TOLERANCE
    notes = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    lm = lstmlab.load(char_runs[cell], device="cpu")
    text = Path(shared_file("text/tiny_shakespeare.txt")).read_text(encoding="utf-8")[100_000:100_400]
    ids = torch.as_tensor(lm.encode(text)[:400]).reshape(2, 200)  # two rows of a 200-step stream
    with torch.inference_mode():
        logits, state = lm.model(ids)
        expected = torch.log_softmax(logits, -1).numpy()
    runner = session(tmp_path / "model.onnx")
    carried = {part["name"]: np.zeros((2, part["size"]), np.float32) for part in notes["state"]}
    pieces = []
    for start, stop in ((0, 1), (1, 64), (64, 65), (65, 200)):  # one step, a chunk, one step, the rest
        out = run_graph(runner, {"ids": ids[:, start:stop].numpy(), **carried})
        carried = {name: out[f"{name}_next"] for name in carried}
        pieces.append(out["log_probs"])
        assert [out[f"gates_{i}"].shape[2] for i in range(2)] == [len(layer) for layer in notes["signals"]]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), expected, atol=1e-4, rtol=0)
    final = [part[0].numpy() for layer in state for part in layer]
    for got, want in zip(carried.values(), final):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    # The step graph: one id per row per call, no loop, the same numbers.
    assert result.step == tmp_path / "model.step.onnx" and notes["step_graph"]["graph"] == "model.step.onnx"
    stepper = session(result.step)
    carried = {part["name"]: np.zeros((2, part["size"]), np.float32) for part in notes["state"]}
    for t in range(20):
        out = run_graph(stepper, {"ids": ids[:, t].numpy(), **carried})
        carried = {name: out[f"{name}_next"] for name in carried}
        np.testing.assert_allclose(out["log_probs"], expected[:, t], atol=1e-4, rtol=0)


def test_the_gates_equal_inspect(char_runs, tmp_path):
    export(char_runs["lstm"], tmp_path / "model.onnx")
    lm = lstmlab.load(char_runs["lstm"], device="cpu")
    ids = torch.as_tensor(lm.encode("O Romeo, Romeo! wherefore art thou Romeo?"))[None]
    _, _, gates = lm.model.trace(ids)
    notes = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    zeros = {part["name"]: np.zeros((1, part["size"]), np.float32) for part in notes["state"]}
    out = run_graph(session(tmp_path / "model.onnx"), {"ids": ids.numpy(), **zeros})
    for layer, layer_gates in enumerate(gates):
        for row, signal in enumerate(notes["signals"][layer]):
            np.testing.assert_allclose(out[f"gates_{layer}"][:, :, row], layer_gates[signal["name"]].numpy(), atol=1e-4,
                                       rtol=0)


def test_the_sequence_graph_loops_instead_of_unrolling(char_runs, tmp_path):
    export(char_runs["gru"], tmp_path / "model.onnx")
    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    assert sum(node.op_type == "Scan" for node in graph.node) == 2  # one per layer, whatever the length
    ids_shape = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert ids_shape == ["batch", "time"]


README_EXAMPLE = re.compile(r"<!-- onnx-example -->\n```python\n(.*?)```", re.S)


def test_readme_example_writes_what_generate_writes_at_temperature_zero(shakespeare_slice, tmp_path, cli):
    run = tmp_path / "demo"
    lstmlab.train(str(shakespeare_slice), run, hidden_sizes=(48,), max_steps=60, eval_every=60, **QUIET)
    code, out, err = cli("export", run, "--out", tmp_path / "demo.onnx")
    assert code == 0, err
    assert "onnxruntime matches PyTorch within" in out
    example = README_EXAMPLE.search((ROOT / "README.md").read_text(encoding="utf-8")).group(1)
    assert len(example.strip().splitlines()) <= 12
    assert "lstmlab" not in example.replace("demo", "")
    # The example must run where lstmlab is not installed: importing it here fails.
    blocked = "import sys; sys.modules['lstmlab'] = None\n" + example
    result = subprocess.run([sys.executable, "-c", blocked], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    code, generated, err = cli("generate", run, "--prompt", "ROMEO:", "--length", "200", "--temperature", "0")
    assert code == 0, err
    assert result.stdout.strip() == generated.strip()


def test_a_word_model_with_an_adaptive_softmax(tmp_path):
    text = shared_file("text/crime_and_punishment.txt").read_text(encoding="utf-8-sig")[:60_000]
    (tmp_path / "crime.txt").write_text(text, encoding="utf-8")
    run = tmp_path / "words"
    lstmlab.train(str(tmp_path / "crime.txt"), run, level="word", max_vocab=3000, max_steps=4, hidden_sizes=(16,),
                  embed_dim=8, batch_size=8, seq_len=16, eval_every=4, adaptive_softmax=(100, 500), **QUIET)
    result = export(run, tmp_path / "words.onnx")
    assert result.difference <= TOLERANCE
    notes = json.loads((tmp_path / "words.json").read_text(encoding="utf-8"))
    assert notes["adaptive_softmax"] is True and notes["vocabulary"]["symbols"][:2] == ["<pad>", "<unk>"]
    lm = lstmlab.load(run, device="cpu")
    out = run_graph(session(tmp_path / "words.onnx"), {"ids": np.array([[5, 9, 2]]), "h_0": np.zeros((1, 16), np.float32),
                                                          "c_0": np.zeros((1, 16), np.float32)})
    np.testing.assert_allclose(np.exp(out["log_probs"]).sum(-1), 1.0, atol=1e-4)  # exact over every cluster
    with torch.inference_mode():
        expected = lm.model(torch.tensor([[5, 9, 2]]))[0].numpy()
    np.testing.assert_allclose(out["log_probs"], expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("cell,bidirectional", [("lstm", True), ("gru", False), ("layernorm-lstm", False)])
def test_a_classifier_over_a_batch_of_mixed_lengths(cell, bidirectional, tmp_path):
    run = tmp_path / "clf"
    classify.train(str(shared_file("sentiment/sentiment_labelled_sentences/imdb_labelled.txt")), run, epochs=1,
                   cell=cell, hidden_sizes=(8,), embed_dim=8, bidirectional=bidirectional, pooling="concat", **QUIET)
    export(run, tmp_path / "clf.onnx")
    notes = json.loads((tmp_path / "clf.json").read_text(encoding="utf-8"))
    clf = classify.load(run, device="cpu")
    texts = ["A wonderful film, I loved every minute of it.", "Awful.", "The plot was thin but the actors saved it "
             "and the music was quite good, though far too loud in places.", "meh"]
    ids, lengths = collate(clf.encode(texts))
    out = run_graph(session(tmp_path / "clf.onnx"), {"ids": ids.numpy(), "lengths": lengths.numpy()})
    np.testing.assert_allclose(out["probs"], clf.predict_proba(texts), atol=1e-4, rtol=0)
    assert notes["classes"] == clf.classes and notes["special_ids"] == {"padding": 0, "unknown": 1}


def test_a_gaussian_forecaster_gives_its_forecast_and_interval(tmp_path):
    run = tmp_path / "airline"
    forecast.train(str(shared_file("timeseries/airline-passengers.csv")), run, hidden_sizes=(8,), epochs=2, lookback=24,
                   horizon=6, transform="log", distribution="gaussian", val_fraction=0.17, test_fraction=0.17, **QUIET)
    export(run, tmp_path / "airline.onnx")
    notes = json.loads((tmp_path / "airline.json").read_text(encoding="utf-8"))
    fc = forecast.load(run, device="cpu")
    values = fc.prepared.values
    windows = np.stack([values[-24:], values[-40:-16]]).astype(np.float32)
    out = run_graph(session(tmp_path / "airline.onnx"), {"window": windows})
    expected = fc.model.predict(torch.from_numpy(windows))
    np.testing.assert_allclose(out["mean"], expected["mean"].numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(out["std"], expected["std"].numpy(), atol=1e-4, rtol=0)
    # The notes scale a window of raw values as the run does.
    levels = np.log(fc.loaded.levels[-24:])
    scaled = (levels - np.array(notes["scaler"]["mean"])) / np.array(notes["scaler"]["std"])
    np.testing.assert_allclose(scaled, values[-24:], atol=1e-6)
    assert (notes["transform"], notes["lookback"], notes["horizon"]) == ("log", 24, 6)


def test_bad_input_gets_one_line_and_keeps_what_was_there(char_runs, tmp_path, cli):
    code, _, err = cli("export", char_runs["rnn"], "--out", tmp_path / "missing" / "model.onnx")
    assert code == 2 and err.count("\n") == 1 and "mkdir -p" in err
    code, _, err = cli("export", char_runs["rnn"], "--out", tmp_path / "model.onnx", "--format", "tflite")
    assert code == 2 and "invalid choice" in err
    code, _, err = cli("export", tmp_path, "--out", tmp_path / "model.onnx")
    assert code == 2 and err.count("\n") == 1 and "not a run folder" in err
    code, _, err = cli("export", char_runs["rnn"], "--out", tmp_path / "model.txt")
    assert code == 2 and err.count("\n") == 1 and "must end in .onnx" in err
    kept = tmp_path / "kept.onnx"
    kept.write_bytes(b"earlier work")
    with pytest.raises(lstmlab.LstmlabError, match="differs from PyTorch"):
        export(char_runs["rnn"], kept, tolerance=-1.0)  # no file can pass: the check must refuse it
    assert kept.read_bytes() == b"earlier work" and not (tmp_path / "kept.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.onnx"]

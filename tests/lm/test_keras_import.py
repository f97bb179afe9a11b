"""`lstmlab import-keras`: Keras character models become lstmlab runs that predict exactly what Keras does.

Small Keras 3 models (torch backend) with random weights are saved as .keras and
as legacy .h5, imported, and compared with Keras' own outputs: next-character
probabilities and greedy text. Keras is test-only; lstmlab reads the files
with json and h5py alone.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import lstmlab
from lstmlab import checkpoint
from lstmlab.errors import LstmlabError
from lstmlab.lm.keras_import import import_keras

from tests.helpers import shared_file
from tests.lm.keras_files import write_keras2_h5

# Seed-shaped architectures, each a list of layers after the input. "n" is the
# number of characters, "n+1" one more (seed 000's R code sizes its layers so).
ARCHS = {
    # seed 000 (Python order): Embedding -> LSTM(256, return_sequences) -> LSTM(128) -> Dense softmax
    # (with its dropout settings, which must not matter when generating)
    "embed-lstm-lstm": ("ids", lambda L, n: [L.Embedding(n, 16),
                                             L.LSTM(24, return_sequences=True, dropout=0.2, recurrent_dropout=0.2),
                                             L.LSTM(20, dropout=0.2), L.Dense(n, activation="softmax")]),
    # seed 000 as written in R: input_dim and units are length(chars) + 1
    "embed-lstm-r-sizes": ("ids", lambda L, n: [L.Embedding(n + 1, 16), L.LSTM(24), L.Dense(n + 1, activation="softmax")]),
    "embed-gru": ("ids", lambda L, n: [L.Embedding(n, 12), L.GRU(24), L.Dense(n, activation="softmax")]),
    "embed-rnn-dropout": ("ids", lambda L, n: [L.Embedding(n, 12), L.SimpleRNN(24), L.Dropout(0.3), L.Dense(n)]),
    # seed 004 with one-hot inputs: LSTM(300, return_sequences) -> Dropout -> LSTM(300) -> Dropout -> Dense softmax
    "onehot-lstm-lstm": ("one-hot", lambda L, n: [L.LSTM(24, return_sequences=True), L.Dropout(0.2), L.LSTM(20),
                                                  L.Dropout(0.2), L.Dense(n, activation="softmax")]),
    # seed 004 as written: one feature per step, the character's index / number of characters
    "scaled-id-lstm": ("scaled", lambda L, n: [L.LSTM(24), L.Dense(n, activation="softmax")]),
}
FORMATS = ("keras", "h5")
PROMPT_AT = 1000  # greedy prompts start here in the text

# Keras on numpy 2 warns about __array__ on every weight read; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras():
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "torch"
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras runs on the {keras.backend.backend()} backend here; these tests need KERAS_BACKEND=torch")
    return keras


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """3,000 characters of Crime and Punishment (the text seed 000 trains on), and of Shakespeare."""
    folder = tmp_path_factory.mktemp("keras_corpus")
    crime = shared_file("text/crime_and_punishment.txt").read_text(encoding="utf-8").lstrip("\ufeff")[:3000]
    shakespeare = shared_file("text/tiny_shakespeare.txt").read_text(encoding="utf-8")[:3000]
    (folder / "crime.txt").write_text(crime, encoding="utf-8")
    (folder / "shakespeare.txt").write_text(shakespeare, encoding="utf-8")
    return {"text": crime, "path": folder / "crime.txt", "chars": sorted(set(crime)),
            "lower_chars": sorted(set(crime.lower())), "other": folder / "shakespeare.txt"}


def _randomize(model, seed: int) -> None:
    """Random weights, biases included, big enough that the outputs are far from uniform (a fresh
    Keras model is nearly flat) but scaled by fan-in: much bigger recurrent weights make a chaotic
    net, where float32 rounding alone (Keras' as much as ours) grows to 1e-2 within 50 steps."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 1.2 / np.sqrt(w.shape[0]) if w.ndim == 2 else 0.5, w.shape).astype(np.float32)
                       for w in model.get_weights()])


def _inputs(keras, kind: str, n: int):
    """ids: (B, T) character indices; one-hot: (B, T, n); scaled: (B, T, 1) holding index / n (seed 004)."""
    shape = {"ids": (None,), "one-hot": (None, n), "scaled": (None, 1)}[kind]
    return keras.Input(shape=shape, dtype="int32" if kind == "ids" else "float32")


def _sequential(keras, kind: str, layers: list, n: int, seed: int = 0):
    model = keras.Sequential([_inputs(keras, kind, n), *layers])
    _randomize(model, seed)
    return model


def _save_both(model, folder: Path, stem: str) -> dict[str, Path]:
    paths = {"keras": folder / f"{stem}.keras", "h5": folder / f"{stem}.h5"}
    model.save(paths["keras"])
    model.save(paths["h5"])  # the legacy single-file format
    return paths


class Zoo:
    """Every architecture built once, saved in both formats, imported lazily once per format."""

    def __init__(self, keras, corpus, folder: Path):
        self.keras, self.corpus, self.folder = keras, corpus, folder
        n = len(corpus["chars"])
        self.models, self.paths, self.kinds, self.runs, self.greedy_texts = {}, {}, {}, {}, {}
        for seed, (arch, (kind, layers)) in enumerate(ARCHS.items()):
            self.models[arch] = _sequential(keras, kind, layers(keras.layers, n), n, seed)
            self.paths[arch] = _save_both(self.models[arch], folder, arch)
            self.kinds[arch] = kind

    def run(self, arch: str, fmt: str) -> Path:
        if (arch, fmt) not in self.runs:
            out = self.folder / "runs" / f"{arch}-{fmt}"
            import_keras(self.paths[arch][fmt], str(self.corpus["path"]), out)
            self.runs[arch, fmt] = out
        return self.runs[arch, fmt]

    def greedy(self, arch: str, prompt: str, length: int) -> str:
        """Keras' greedy text, computed once for both formats."""
        key = (arch, prompt, length)
        if key not in self.greedy_texts:
            self.greedy_texts[key] = keras_greedy(self.models[arch], self.kinds[arch], self.corpus["chars"], prompt, length)
        return self.greedy_texts[key]


@pytest.fixture(scope="module")
def zoo(keras, corpus, tmp_path_factory) -> Zoo:
    return Zoo(keras, corpus, tmp_path_factory.mktemp("keras_models"))


def keras_probs(model, kind: str, chars: list[str], text: str) -> np.ndarray:
    """Keras' next-symbol probabilities after reading `text` from a fresh state, (K,)."""
    n = len(chars)
    ids = np.array([chars.index(c) for c in text])
    x = {"ids": lambda: ids[None].astype(np.int32),
         "one-hot": lambda: np.eye(n, dtype=np.float32)[ids][None],
         "scaled": lambda: (ids.astype(np.float32) / n)[None, :, None]}[kind]()
    out = model(x, training=False)
    out = out.detach().cpu().numpy() if torch.is_tensor(out) else np.asarray(out)
    probs = out[0, -1] if out.ndim == 3 else out[0]
    if probs.min() < 0 or abs(probs.sum() - 1) > 1e-4:  # a linear output layer gives logits
        probs = torch.softmax(torch.from_numpy(probs).double(), 0).numpy()
    return probs


def lstmlab_probs(lm, text: str) -> np.ndarray:
    ids = torch.from_numpy(lm.vocab.encode(text)).long()[None]
    with torch.inference_mode():
        logits, _ = lm.model(ids)
    return torch.softmax(logits[0, -1].double(), 0).numpy()


def keras_greedy(model, kind: str, chars: list[str], prompt: str, length: int) -> str:
    """The seeds' way: re-read the whole growing text for every character, take the most likely one."""
    text = prompt
    for _ in range(length):
        text += chars[int(np.argmax(keras_probs(model, kind, chars, text)[: len(chars)]))]
    return text


# ---------------------------------------------------------------------------
# Same predictions as Keras
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("arch", list(ARCHS))
def test_next_character_probabilities_match_keras(zoo, corpus, arch, fmt):
    lm = lstmlab.load(zoo.run(arch, fmt))
    chars, n = corpus["chars"], len(corpus["chars"])
    assert list(lm.vocab.symbols[1:]) == chars  # Keras symbol k is lstmlab id k + 1
    for start, stop in ((0, 1), (40, 97), (500, 700)):
        prefix = corpus["text"][start:stop]
        theirs = keras_probs(zoo.models[arch], zoo.kinds[arch], chars, prefix)
        ours = lstmlab_probs(lm, prefix)
        np.testing.assert_allclose(ours[1:], theirs[:n], atol=1e-5, err_msg=f"{arch} {fmt} after {prefix!r}")
        if len(theirs) == n + 1:  # the extra, never-trained Keras symbol is lstmlab's unknown symbol
            np.testing.assert_allclose(ours[0], theirs[n], atol=1e-5)
        else:
            assert ours[0] < 1e-6  # the unknown symbol is (nearly) never predicted
        assert theirs.max() > 2 / n  # random weights, yet far from a flat, meaningless output


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("arch", list(ARCHS))
def test_greedy_generation_matches_keras(zoo, corpus, arch, fmt):
    prompt = corpus["text"][PROMPT_AT : PROMPT_AT + 30]
    expected = zoo.greedy(arch, prompt, 25)
    assert lstmlab.load(zoo.run(arch, fmt)).generate(prompt, length=25, temperature=0) == expected


def test_a_tf_keras_2_h5_file_as_seed_004_saved_it(zoo, corpus, tmp_path):
    """Seed 004's model: characters fed as index / count, LSTM -> Dropout -> Dense softmax, from Keras 2."""
    kernel, recurrent, bias, dense_kernel, dense_bias = zoo.models["scaled-id-lstm"].get_weights()
    n = len(corpus["chars"])
    path = tmp_path / "macbeth_model.h5"
    write_keras2_h5(path, [
        ("LSTM", {"name": "lstm", "units": 24, "batch_input_shape": [None, 50, 1], "return_sequences": False,
                  "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True, "implementation": 2,
                  "time_major": False, "unit_forget_bias": True}, [kernel, recurrent, bias]),
        ("Dropout", {"name": "dropout", "rate": 0.2}, []),
        ("Dense", {"name": "dense", "units": n, "activation": "softmax", "use_bias": True}, [dense_kernel, dense_bias]),
    ])
    lm = import_keras(path, str(corpus["path"]), tmp_path / "run")
    assert lm.config.model.input == "scaled-id"  # the seeds' index / n, as a native --input scaled-id run reads it
    prompt = corpus["text"][PROMPT_AT : PROMPT_AT + 30]
    assert lm.generate(prompt, length=25, temperature=0) == zoo.greedy("scaled-id-lstm", prompt, 25)


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------


def test_cli_imports_a_run_that_generate_and_evaluate_use(zoo, corpus, cli, tmp_path):
    run = tmp_path / "crime"
    code, out, err = cli("import-keras", zoo.paths["embed-lstm-lstm"]["keras"], "--vocab-from", corpus["path"], "--out", run)
    assert code == 0, err
    assert "imported" in out and "lstm 24x20" in out and f"vocabulary {len(corpus['chars']) + 1}" in out

    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["model"]["cell"] == "lstm" and config["model"]["hidden_sizes"] == [24, 20]
    assert config["model"]["embed_dim"] == 16 and config["data"]["strip_gutenberg"] is False
    _, metadata = checkpoint.read_file(run / checkpoint.BEST)
    assert metadata["imported_from"] == "embed-lstm-lstm.keras" and metadata["keras_format"] == "keras"

    prompt = corpus["text"][PROMPT_AT : PROMPT_AT + 30]
    code, out, err = cli("generate", run, "--prompt", prompt, "--length", "25", "--temperature", "0")
    assert code == 0, err
    assert out == zoo.greedy("embed-lstm-lstm", prompt, 25) + "\n"
    code, out, err = cli("evaluate", run, corpus["path"])
    assert code == 0 and "bits/char" in out, err


def test_lowercase_must_match_how_the_model_was_trained(keras, corpus, cli, tmp_path):
    lower = corpus["lower_chars"]
    n = len(lower)
    model = _sequential(keras, "ids", [keras.layers.Embedding(n, 8), keras.layers.LSTM(16),
                                       keras.layers.Dense(n, activation="softmax")], n, seed=7)
    path = tmp_path / "lower.keras"
    model.save(path)

    code, out, err = cli("import-keras", path, "--vocab-from", corpus["path"], "--out", tmp_path / "cased")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"has {n} symbols" in err and f"{len(corpus['chars'])} distinct characters" in err and "--lowercase" in err
    assert not (tmp_path / "cased").exists()  # a failed import leaves nothing behind

    run = tmp_path / "lower"
    code, out, err = cli("import-keras", path, "--vocab-from", corpus["path"], "--out", run, "--lowercase")
    assert code == 0, err
    lm = lstmlab.load(run)
    assert lm.config.data.lowercase
    prompt = corpus["text"][:30]  # "The Project Gutenberg EBook of"
    assert prompt != prompt.lower()
    # Prompts are lowercased the way the training text was.
    assert lm.generate(prompt, length=20, temperature=0) == keras_greedy(model, "ids", lower, prompt.lower(), 20)


# ---------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------


def _one_line_error(cli, *args) -> str:
    code, out, err = cli("import-keras", *args)
    assert code == 2, (out, err)
    assert err.startswith("lstmlab import-keras: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_vocabulary_size_mismatch_names_both_counts(zoo, corpus, cli, tmp_path):
    err = _one_line_error(cli, zoo.paths["embed-gru"]["h5"], "--vocab-from", corpus["other"], "--out", tmp_path / "run")
    n_other = len(set(corpus["other"].read_text(encoding="utf-8")))
    assert f"has {len(corpus['chars'])} symbols (Embedding input_dim)" in err
    assert f"{n_other} distinct characters" in err and "exact text file" in err
    assert not (tmp_path / "run").exists()


def _functional(keras, n):
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.LSTM(8)(keras.layers.Embedding(n, 4)(inputs))
    return keras.Model(inputs, keras.layers.Dense(n, activation="softmax")(x))


REJECTED = {
    "conv1d": (lambda k, L, n: [L.Embedding(n, 4), L.Conv1D(8, 3, padding="causal"), L.LSTM(8), L.Dense(n)],
               "Conv1D) is not supported"),
    "bidirectional": (lambda k, L, n: [L.Embedding(n, 4), L.Bidirectional(L.LSTM(8)), L.Dense(n)],
                      "Bidirectional) is not supported"),
    # A Lambda layer carries Python bytecode; it must be refused, never run.
    "lambda": (lambda k, L, n: [L.Embedding(n, 4), L.Lambda(lambda x: x * 2.0), L.LSTM(8), L.Dense(n)],
               "Lambda) is not supported (it holds Python code"),
    "functional": (None, "holds a Functional model; lstmlab imports only Sequential"),
    "gru-reset-before": (lambda k, L, n: [L.Embedding(n, 4), L.GRU(8, reset_after=False), L.Dense(n)],
                         "reset_after=False"),
    "hard-sigmoid": (lambda k, L, n: [L.Embedding(n, 4), L.LSTM(8, recurrent_activation="hard_sigmoid"), L.Dense(n)],
                     "recurrent_activation 'hard_sigmoid'"),
    "relu-rnn": (lambda k, L, n: [L.Embedding(n, 4), L.SimpleRNN(8, activation="relu"), L.Dense(n)], "activation 'relu'"),
    "mixed-cells": (lambda k, L, n: [L.Embedding(n, 4), L.LSTM(8, return_sequences=True), L.GRU(8), L.Dense(n)],
                    "mixes cell types (LSTM then GRU)"),
    "two-dense": (lambda k, L, n: [L.Embedding(n, 4), L.LSTM(8), L.Dense(8), L.Dense(n)], "comes after the Dense"),
    "mask-zero": (lambda k, L, n: [L.Embedding(n, 4, mask_zero=True), L.LSTM(8), L.Dense(n)], "mask_zero=True"),
    "backwards": (lambda k, L, n: [L.Embedding(n, 4), L.LSTM(8, go_backwards=True), L.Dense(n)], "go_backwards=True"),
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_unsupported_models_are_refused_by_name(keras, corpus, cli, tmp_path, case):
    layers, expected = REJECTED[case]
    n = len(corpus["chars"])
    model = _functional(keras, n) if layers is None else keras.Sequential(
        [_inputs(keras, "ids", n), *layers(keras, keras.layers, n)])
    path = tmp_path / f"{case}.keras"
    model.save(path)
    err = _one_line_error(cli, path, "--vocab-from", corpus["path"], "--out", tmp_path / "run")
    assert expected in err, err
    assert not (tmp_path / "run").exists()


def test_files_that_are_not_keras_models(keras, corpus, cli, tmp_path):
    text = tmp_path / "notes.keras"
    text.write_text("not a model", encoding="utf-8")
    other_zip = tmp_path / "other.keras"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    model = _sequential(keras, "ids", [keras.layers.Embedding(5, 4), keras.layers.LSTM(4), keras.layers.Dense(5)], 5)
    weights_only = tmp_path / "model.weights.h5"
    model.save_weights(weights_only)
    cases = {
        tmp_path / "missing.keras": "no such file",
        tmp_path: "is a folder",
        text: "neither a .keras file (a zip) nor a legacy .h5 file",
        other_zip: "not a Keras model (no config.json inside)",
        weights_only: "holds weights only",
    }
    for path, expected in cases.items():
        err = _one_line_error(cli, path, "--vocab-from", corpus["path"], "--out", tmp_path / "run")
        assert expected in err, err
    with pytest.raises(LstmlabError, match="no such file"):
        import_keras(tmp_path / "missing.keras", str(corpus["path"]), tmp_path / "run")


def test_an_existing_run_is_never_overwritten(zoo, corpus, cli, tmp_path):
    model = zoo.paths["embed-gru"]["keras"]
    run = tmp_path / "run"
    assert cli("import-keras", model, "--vocab-from", corpus["path"], "--out", run)[0] == 0
    before = (run / checkpoint.BEST).read_bytes()
    err = _one_line_error(cli, model, "--vocab-from", corpus["path"], "--out", run)
    assert "already holds a trained model" in err and "another --out" in err
    assert (run / checkpoint.BEST).read_bytes() == before

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine", encoding="utf-8")
    err = _one_line_error(cli, model, "--vocab-from", corpus["path"], "--out", busy)
    assert "not an empty folder" in err
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]


def test_the_reader_never_imports_keras_or_unpickles():
    tree = ast.parse((Path(lstmlab.__file__).parent / "lm" / "keras_import.py").read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"keras", "tensorflow", "pickle", "marshal", "dill", "joblib"}, imported
    # Builtin eval/exec (a module's .eval() method, e.g. model.eval(), is fine).
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__"}, called

"""Import a Keras character model into an lstmlab run folder.

    lstmlab import-keras model.keras --vocab-from crime.txt --out runs/crime --lowercase

    from lstmlab.keras_import import import_keras
    lm = import_keras("model.keras", "crime.txt", "runs/crime", lowercase=True)

People who trained the seeds' Keras models (Embedding -> LSTM -> Dense softmax,
or one-hot input -> LSTM -> Dense) can then generate with lstmlab, which
carries the recurrent state instead of re-reading a window per character.

What is read. Only data: the model's JSON config (json) and its weight arrays
(h5py). Nothing is unpickled, no Keras is imported, no code in the file runs.
    .keras  a zip: config.json + model.weights.h5. Keras names each layer's
            weight group after the layer's *class* (layers/lstm, layers/lstm_1,
            layers/dense ...), not after the layer's name; the arrays are
            vars/0, vars/1, ... (recurrent layers: cell/vars/...).
    .h5     legacy single file: attrs["model_config"] (JSON) and
            model_weights/<layer name>/ with attrs["weight_names"] listing
            the arrays' paths (".../kernel", ".../recurrent_kernel", ".../bias").
Which of the two a file is comes from its bytes, not its name.

The vocabulary. Keras saves no character table. The seeds numbered the
characters of the training text in sorted order; lstmlab's vocabulary is the
unknown symbol (id 0) followed by the same sorted characters. So CORPUS is
prepared with lstmlab's own `prepare` (raw text: no Gutenberg stripping) and
Keras symbol k becomes lstmlab id k + 1. A model may read one symbol more than
the corpus has characters, n + 1 (seed 000 sizes its Embedding and Dense
`length(chars) + 1`; a byte-order mark that lstmlab drops also sorts last):
that last, extra Keras symbol becomes lstmlab's unknown symbol, id 0.

The weights (Keras stores x @ kernel, PyTorch W @ x, hence the transposes):
    Embedding (n, E)            -> embedding (V, E), row 0 (unknown) zero
    no Embedding, input (n)     -> one-hot input (embed_dim 0): first layer's
                                   weight_ih columns 1..n, column 0 zero
    no Embedding, input (1)     -> seed 004's scaled ids, x = k / n: --input
                                   scaled-id, the fixed table (V, 1) of
                                   model.scaled_id_table, as a native run has
    LSTM kernel (I, 4H)         -> weight_ih (4H, I); gate order i, f, c, o is
                                   PyTorch's i, f, g, o; bias -> bias_ih, bias_hh 0
    GRU (reset_after) (I, 3H)   -> gates z, r, h reordered to PyTorch's r, z, n;
                                   bias (2, 3H) -> bias_ih, bias_hh
    SimpleRNN                   -> nn.RNN (tanh)
    Dense (H, n)                -> head (V, H); unknown's row zero and bias
                                   -1e4, so its probability is negligible
    Dropout                     -> nothing (inactive when generating)
A softmax (in the Dense or an Activation layer after it) is dropped: lstmlab's
head gives logits, and softmax(logits) is the Keras output.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from .. import checkpoint
from ..cells import CELLS, cell_class
from ..checkpoint import PathLike
from ..config import TrainConfig
from ..errors import LstmlabError
from ..version import __version__
from .config import DataConfig, ModelConfig, RunConfig
from .data import PreparedCorpus
from .model import RecurrentLM
from .prepare import prepare
from .trained import LanguageModel, load


UNKNOWN_BIAS = -1e4  # the unknown symbol's output bias when the Keras model has no output for it


def recurrent_kinds() -> dict[str, str]:
    """Keras layer class -> lstmlab cell kind, for every cell that declares one (cells.py)."""
    return {layer.keras_class: kind for kind, layer in CELLS.items() if layer.keras_class}

# Layers that do nothing when a trained model generates.
_INACTIVE = {"InputLayer", "Dropout", "SpatialDropout1D", "GaussianDropout", "GaussianNoise", "AlphaDropout"}
_LOGIT_ACTIVATIONS = {None, "linear", "softmax", "log_softmax"}  # each keeps the argmax and, after softmax, the probabilities
SUPPORTED = "Sequential models of Embedding, LSTM, GRU, SimpleRNN, Dropout and Dense layers"


@dataclass
class KerasLayer:
    """One layer of the file: its class, its config, and its weight arrays in Keras' order."""

    class_name: str
    name: str
    config: dict[str, Any]
    weights: list[np.ndarray] = field(default_factory=list)


@dataclass
class KerasModel:
    """What lstmlab needs from a Keras file, read without Keras."""

    path: Path
    file_format: str  # "keras" or "h5"
    keras_version: str
    layers: list[KerasLayer]


# ---------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------


def read_keras_file(path: PathLike) -> KerasModel:
    """The Sequential model in a .keras zip or a legacy .h5 file, as plain arrays."""
    path = Path(path)
    if not path.exists():
        raise LstmlabError(f"no such file: {path}; give the .keras (or legacy .h5) file written by Keras' model.save()")
    if path.is_dir():
        raise LstmlabError(f"{path} is a folder (a TensorFlow SavedModel?); lstmlab reads .keras and .h5 files: "
                           f"load it in Keras and save it with model.save('model.keras')")
    h5py = _h5py()
    if zipfile.is_zipfile(path):
        return _read_keras_zip(path, h5py)
    if h5py.is_hdf5(str(path)):
        return _read_legacy_h5(path, h5py)
    raise LstmlabError(f"{path} is neither a .keras file (a zip) nor a legacy .h5 file (HDF5); "
                       f"give the file written by Keras' model.save('model.keras')")


def _h5py():
    try:
        import h5py
    except ImportError:
        raise LstmlabError("reading Keras files needs the h5py package; install it with: pip install h5py") from None
    return h5py


def _read_keras_zip(path: Path, h5py) -> KerasModel:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise LstmlabError(f"{path} is a zip file but not a Keras model (no config.json inside); "
                                   f"give the file written by Keras' model.save('model.keras')")
            if "model.weights.h5" not in names:
                found = ", ".join(sorted(n for n in names if "weights" in n)) or "none"
                raise LstmlabError(f"{path} has no model.weights.h5 (weight files found: {found}); "
                                   f"save the model unsharded with model.save('model.keras')")
            config = _parse_json(archive.read("config.json"), f"{path}: config.json")
            metadata = _parse_json(archive.read("metadata.json"), f"{path}: metadata.json") if "metadata.json" in names else {}
            weights_bytes = archive.read("model.weights.h5")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise LstmlabError(f"{path} is a damaged zip file ({exc}); save the model again with model.save('model.keras')") from None

    layers = _layer_list(config, path)
    try:
        with h5py.File(io.BytesIO(weights_bytes), "r") as store:
            used: dict[str, int] = {}
            for layer in layers:
                # Keras addresses a layer's weights by its class name made snake_case,
                # numbered when it repeats (lstm, lstm_1, ...), not by the layer's name.
                base = _snake_case(layer.class_name)
                used[base] = used.get(base, -1) + 1
                group_name = f"layers/{base}" + (f"_{used[base]}" if used[base] else "")
                layer.weights = _vars_arrays(store, group_name)
    except OSError as exc:
        raise LstmlabError(f"{path}: model.weights.h5 is not readable HDF5 ({exc}); save the model again") from None
    version = str(metadata.get("keras_version", "")) if isinstance(metadata, dict) else ""
    return KerasModel(path, "keras", version, layers)


def _snake_case(name: str) -> str:
    """Keras' naming.to_snake_case: SimpleRNN -> simple_rnn, InputLayer -> input_layer."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _vars_arrays(store, group_name: str) -> list[np.ndarray]:
    """vars/0, vars/1, ... of a layer (an RNN layer keeps them under cell/vars)."""
    if group_name not in store:
        return []
    group = store[group_name]
    vars_group = group["cell/vars"] if "cell/vars" in group else group.get("vars")
    if vars_group is None:
        return []
    keys = sorted((k for k in vars_group.keys() if k.isdigit()), key=int)
    return [np.asarray(vars_group[k][()], dtype=np.float32) for k in keys]


def _read_legacy_h5(path: Path, h5py) -> KerasModel:
    try:
        with h5py.File(str(path), "r") as store:
            raw_config = store.attrs.get("model_config")
            if raw_config is None:
                raise LstmlabError(f"{path} holds weights only, no model config (save_weights output?); "
                                   f"save the whole model with model.save('model.keras') and import that")
            config = _parse_json(_text(raw_config), f"{path}: model_config")
            version = _text(store.attrs.get("keras_version", ""))
            layers = _layer_list(config, path)
            root = store["model_weights"] if "model_weights" in store else store
            for layer in layers:
                if layer.name not in root:
                    continue
                group = root[layer.name]
                names = [_text(n) for n in group.attrs.get("weight_names", [])]
                names = [n for n in names if "seed_generator" not in n]  # dropout RNG state, not a weight
                layer.weights = [np.asarray(group[n][()], dtype=np.float32) for n in names]
    except (OSError, KeyError) as exc:
        raise LstmlabError(f"{path} is a damaged .h5 file ({exc}); save the model again with model.save('model.keras')") from None
    return KerasModel(path, "h5", version, layers)


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


def _parse_json(raw, where: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LstmlabError(f"{where} is not valid JSON ({exc}); save the model again with model.save('model.keras')") from None


def _layer_list(config: Any, path: Path) -> list[KerasLayer]:
    if not isinstance(config, dict):
        raise LstmlabError(f"{path}: the model config is not a JSON object; save the model again with model.save('model.keras')")
    kind = config.get("class_name")
    if kind != "Sequential":
        raise LstmlabError(f"{path} holds a {kind} model; lstmlab imports only {SUPPORTED} "
                           f"(rebuild it with keras.Sequential and copy the weights over)")
    inner = config.get("config", {})
    raw_layers = inner.get("layers") if isinstance(inner, dict) else inner  # very old Keras: a bare list
    if not isinstance(raw_layers, list):
        raise LstmlabError(f"{path}: the Sequential config has no layer list; save the model again with model.save('model.keras')")
    layers = []
    for raw in raw_layers:
        if not isinstance(raw, dict) or not isinstance(raw.get("config", {}), dict):
            raise LstmlabError(f"{path}: a layer entry of the model config is malformed; save the model again")
        cfg = raw.get("config", {})
        layers.append(KerasLayer(str(raw.get("class_name")), str(cfg.get("name", "")), cfg))
    return layers


# ---------------------------------------------------------------------------
# Checking the architecture
# ---------------------------------------------------------------------------


@dataclass
class Plan:
    """The lstmlab model a Keras model maps to, before the vocabulary is known."""

    input_kind: str  # "embedding", "one-hot" or "scalar"
    input_symbols: Optional[int]  # Keras symbols the input reads (None for scalar input)
    embedding: Optional[np.ndarray]  # (K, E) for "embedding"
    cell: str
    recurrent: list[KerasLayer]
    dense: KerasLayer
    output_symbols: int

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(int(layer.config["units"]) for layer in self.recurrent)

    def describe(self) -> str:
        head = {"embedding": "Embedding", "one-hot": "one-hot input", "scalar": "scaled-id input"}[self.input_kind]
        return f"{head} -> {self.cell} {'x'.join(map(str, self.hidden_sizes))} -> Dense {self.output_symbols}"


def plan_import(model: KerasModel) -> Plan:
    """Check every layer and work out the lstmlab model; any unsupported part is an LstmlabError."""
    where = model.path
    embedding: Optional[KerasLayer] = None
    recurrent: list[KerasLayer] = []
    dense: Optional[KerasLayer] = None
    softmaxes = 0
    position = 0  # counted as Keras' model.summary() shows them: the input is no layer
    for layer in model.layers:
        kind, cfg = layer.class_name, layer.config
        position += kind != "InputLayer"
        label = f"layer {position} ({layer.name!r}, {kind})"
        if kind in _INACTIVE:
            continue
        if dense is not None:
            if kind != "Activation":
                raise LstmlabError(f"{where}: {label} comes after the Dense output layer; lstmlab imports "
                                   f"{SUPPORTED}, with exactly one Dense layer, last")
            act = _activation(cfg.get("activation"))
            if act not in _LOGIT_ACTIVATIONS:
                raise LstmlabError(f"{where}: {label} applies {act!r} to the output; only softmax (or none) can be imported")
            softmaxes += act in ("softmax", "log_softmax")
            continue
        if kind == "Embedding":
            if embedding is not None or recurrent:
                raise LstmlabError(f"{where}: {label} must be the first layer, and the only Embedding")
            if cfg.get("mask_zero"):
                raise LstmlabError(f"{where}: {label} has mask_zero=True (symbol 0 is padding that Keras skips), "
                                   f"which lstmlab cannot reproduce; retrain with mask_zero=False")
            _need_weights(layer, 1, where, label)
            embedding = layer
        elif kind in recurrent_kinds():
            cell = recurrent_kinds()[kind]
            if recurrent and recurrent[0].class_name != kind:
                raise LstmlabError(f"{where}: {label} mixes cell types ({recurrent[0].class_name} then {kind}); "
                                   f"lstmlab's layers all share one cell type")
            _check_recurrent(layer, cell, where, label)
            recurrent.append(layer)
        elif kind == "Dense":
            if not recurrent:
                raise LstmlabError(f"{where}: {label} comes before any recurrent layer; lstmlab imports {SUPPORTED} "
                                   f"(Embedding -> recurrent layers -> one Dense)")
            act = _activation(cfg.get("activation"))
            if act not in _LOGIT_ACTIVATIONS:
                raise LstmlabError(f"{where}: {label} has activation {act!r}; the output layer must use softmax or none")
            softmaxes += act in ("softmax", "log_softmax")
            _need_weights(layer, 2 if cfg.get("use_bias", True) else 1, where, label)
            dense = layer
        else:
            hint = {
                "Bidirectional": " (it reads the text backwards too, which a left-to-right generator cannot)",
                "Lambda": " (it holds Python code, which lstmlab never runs)",
                "TimeDistributed": " (use a plain Dense layer)",
            }.get(kind, "")
            raise LstmlabError(f"{where}: {label} is not supported{hint}; lstmlab imports {SUPPORTED}")
    if not recurrent:
        raise LstmlabError(f"{where} has no LSTM, GRU or SimpleRNN layer; lstmlab imports {SUPPORTED}")
    if dense is None:
        raise LstmlabError(f"{where} has no Dense output layer after its recurrent layers; lstmlab imports {SUPPORTED}")
    if softmaxes > 1:
        raise LstmlabError(f"{where} applies softmax twice to its output; lstmlab can import only one")

    # Shapes: each layer must read what the one before it writes.
    cell = recurrent_kinds()[recurrent[0].class_name]
    first_inputs = recurrent[0].weights[0].shape[0]
    if embedding is not None:
        table = embedding.weights[0]
        if table.ndim != 2 or table.shape[1] != first_inputs:
            raise LstmlabError(f"{where}: the Embedding weights {table.shape} do not fit the first recurrent layer's "
                               f"input size {first_inputs}; the file is damaged, save the model again")
        input_kind, input_symbols = "embedding", int(table.shape[0])
    elif first_inputs == 1:
        input_kind, input_symbols = "scalar", None
    else:
        input_kind, input_symbols = "one-hot", int(first_inputs)
    width = first_inputs
    for layer in recurrent:
        units = int(layer.config["units"])
        _check_shapes(layer, cell, width, units, where)
        width = units
    kernel = dense.weights[0]
    if kernel.ndim != 2 or kernel.shape[0] != width or (len(dense.weights) > 1 and dense.weights[1].shape != (kernel.shape[1],)):
        raise LstmlabError(f"{where}: the Dense weights {kernel.shape} do not fit the last recurrent layer's "
                           f"{width} outputs; the file is damaged, save the model again")
    return Plan(input_kind, input_symbols, embedding.weights[0] if embedding is not None else None,
                cell, recurrent, dense, int(kernel.shape[1]))


def _activation(value) -> Optional[str]:
    """An activation as Keras serialises it: a name, or a dict naming it."""
    if isinstance(value, dict):
        inner = value.get("config")
        value = inner if isinstance(inner, str) else value.get("class_name")
    return None if value is None else str(value)


def _need_weights(layer: KerasLayer, count: int, where: Path, label: str) -> None:
    if len(layer.weights) != count:
        raise LstmlabError(f"{where}: {label} should have {count} weight array(s) but the file has {len(layer.weights)}; "
                           f"the file is damaged or from an unknown Keras version, save the model again with model.save('model.keras')")


def _check_recurrent(layer: KerasLayer, cell: str, where: Path, label: str) -> None:
    cfg = layer.config
    act = _activation(cfg.get("activation", "tanh"))
    if act != "tanh":
        raise LstmlabError(f"{where}: {label} uses activation {act!r}; lstmlab's {cell} cells use tanh, so it cannot be imported")
    problem = cell_class(cell).keras_problem(cfg)  # what this cell kind cannot import (its gates' activation...)
    if problem:
        raise LstmlabError(f"{where}: {label} {problem}")
    if cfg.get("go_backwards"):
        raise LstmlabError(f"{where}: {label} has go_backwards=True (it reads the text right to left); lstmlab reads left to right")
    if cfg.get("return_state"):
        raise LstmlabError(f"{where}: {label} has return_state=True, which a Sequential language model does not use")
    if "units" not in cfg:
        raise LstmlabError(f"{where}: {label} has no 'units' in its config; save the model again with model.save('model.keras')")
    _need_weights(layer, 3 if cfg.get("use_bias", True) else 2, where, label)


def _check_shapes(layer: KerasLayer, cell: str, inputs: int, units: int, where: Path) -> None:
    gates = len(cell_class(cell).reference.gates) * units
    kernel, recurrent = layer.weights[0], layer.weights[1]
    ok = kernel.shape == (inputs, gates) and recurrent.shape == (units, gates)
    if len(layer.weights) > 2:
        ok = ok and layer.weights[2].shape == cell_class(cell).keras_bias_shape(units)
    if not ok:
        shapes = ", ".join(str(w.shape) for w in layer.weights)
        raise LstmlabError(f"{where}: layer {layer.name!r} ({layer.class_name} {units}) has weights of shapes {shapes}, "
                           f"not what a layer reading {inputs} inputs needs; the file is damaged, save the model again")


# ---------------------------------------------------------------------------
# Converting the weights
# ---------------------------------------------------------------------------


def _symbol_rows(keras_rows: np.ndarray, n: int, unknown_fill: float = 0.0) -> np.ndarray:
    """(K, ...) indexed by Keras symbol -> (n + 1, ...) indexed by lstmlab id.

    Keras symbol k < n is lstmlab id k + 1; an extra Keras symbol n (K = n + 1)
    becomes id 0, the unknown symbol; with K = n, row 0 is `unknown_fill`."""
    out = np.full((n + 1, *keras_rows.shape[1:]), unknown_fill, dtype=np.float32)
    out[1:] = keras_rows[:n]
    if keras_rows.shape[0] == n + 1:
        out[0] = keras_rows[n]
    return out


def _recurrent_tensors(layer: KerasLayer, cell: str) -> dict[str, np.ndarray]:
    """One Keras recurrent layer -> the lstmlab layer's parameters (the cell's own conversion, cells.py)."""
    layer_class = cell_class(cell)
    units = int(layer.config["units"])
    kernel, recurrent = layer.weights[0], layer.weights[1]
    bias = (layer.weights[2] if len(layer.weights) > 2
            else np.zeros(layer_class.keras_bias_shape(units), np.float32))
    return layer_class.keras_tensors(kernel, recurrent, bias)


def convert(plan: Plan, n: int) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """The lstmlab model config and the tensors to put in it, for a vocabulary of n characters + unknown."""
    V = n + 1
    embed_dim = int(plan.embedding.shape[1]) if plan.input_kind == "embedding" else 0
    # Seed 004 feeds each character as its index divided by the number of characters: the
    # fixed table RecurrentLM builds for --input scaled-id, so nothing is copied for it.
    input_kind = {"embedding": "embedding", "one-hot": "one-hot", "scalar": "scaled-id"}[plan.input_kind]
    config = ModelConfig(vocab_size=V, cell=plan.cell, hidden_sizes=plan.hidden_sizes, embed_dim=embed_dim,
                         input=input_kind)
    tensors: dict[str, np.ndarray] = {}
    if plan.input_kind == "embedding":
        tensors["embedding.weight"] = _symbol_rows(plan.embedding, n)
    for i, layer in enumerate(plan.recurrent):
        parts = _recurrent_tensors(layer, plan.cell)
        if i == 0 and plan.input_kind == "one-hot":
            # Input column k + 1 (lstmlab id) reads Keras one-hot column k; column 0 is the unknown symbol.
            parts["weight_ih_l0"] = _symbol_rows(parts["weight_ih_l0"].T, n).T
        for name, value in parts.items():
            tensors[f"rnn.layers.{i}.{name}"] = value
    kernel = plan.dense.weights[0]
    bias = plan.dense.weights[1] if len(plan.dense.weights) > 1 else np.zeros(kernel.shape[1], np.float32)
    tensors["head.weight"] = _symbol_rows(kernel.T, n)
    tensors["head.bias"] = _symbol_rows(bias, n, unknown_fill=UNKNOWN_BIAS)
    return config, tensors


def build_model(config: ModelConfig, tensors: dict[str, np.ndarray]) -> RecurrentLM:
    """An lstmlab model holding the converted weights (parameters not named, e.g. a one-hot table, stay as built)."""
    model = RecurrentLM(config)
    state = model.state_dict()
    with torch.no_grad():
        for name, value in tensors.items():
            if name not in state or tuple(state[name].shape) != value.shape:
                found = tuple(state[name].shape) if name in state else "missing"
                raise LstmlabError(f"internal error: converted {name} {value.shape} does not fit lstmlab's model ({found}); "
                                   f"please report it with the Keras file's layer list")
            state[name].copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))
    model.eval()
    return model


# ---------------------------------------------------------------------------
# The run folder
# ---------------------------------------------------------------------------


def _check_symbols(plan: Plan, n: int, model_path: Path, data: DataConfig) -> None:
    counts = [("Dense output", plan.output_symbols)]
    if plan.input_kind == "embedding":
        counts.insert(0, ("Embedding input_dim", plan.input_symbols))
    elif plan.input_kind == "one-hot":
        counts.insert(0, ("one-hot input width", plan.input_symbols))
    for what, k in counts:
        if k in (n, n + 1):
            continue
        cleaning = " after lowercasing" if data.lowercase else ""
        if data.collapse_whitespace:
            cleaning += (" and" if cleaning else " after") + " collapsing whitespace"
        case = ("drop --lowercase if that text kept its capitals" if data.lowercase
                else "pass --lowercase if that text was lowercased")
        raise LstmlabError(
            f"{model_path.name} has {k} symbols ({what}) but {data.source} has {n} distinct characters{cleaning} "
            f"({k - 1} or {k} would fit); give the exact text file the model was trained on, and {case}"
        )


def import_keras(model_path: PathLike, corpus: str, out: PathLike, *, lowercase: bool = False,
                 collapse_whitespace: bool = False) -> LanguageModel:
    """Convert a Keras .keras / .h5 character model into the lstmlab run folder `out` and load it.

    `corpus` is the text the model was trained on (any lstmlab corpus source);
    its sorted characters give the vocabulary, as they did in the seeds.
    lowercase / collapse_whitespace clean it the way the training text was
    (seed 000 did both). Writes out/config.json, vocab.json, model.safetensors
    and out/data (the prepared corpus). Every mistake is an LstmlabError.
    """
    model_path, run_dir = Path(model_path), Path(out)
    keras_model = read_keras_file(model_path)
    plan = plan_import(keras_model)
    checkpoint.check_fresh_run_dir(run_dir, resumable=False, reusable=("data",))
    data_config = DataConfig(source=str(corpus), lowercase=lowercase, collapse_whitespace=collapse_whitespace,
                             strip_gutenberg=False)  # the seeds read the raw file
    created = not run_dir.exists()
    try:
        prepared: PreparedCorpus = prepare(data_config, run_dir / "data", report=None)
        n = len(prepared.vocab) - 1
        _check_symbols(plan, n, model_path, data_config)
        model_config, tensors = convert(plan, n)
        model = build_model(model_config, tensors)
        config = RunConfig(data=prepared.data_config, model=model_config, train=TrainConfig(),
                           data_dir="data", version=__version__)
        checkpoint.save_text_atomic(run_dir / "config.json", config.to_json())
        checkpoint.save_text_atomic(run_dir / "vocab.json", prepared.vocab.to_json())
        metadata = {"imported_from": model_path.name, "keras_format": keras_model.file_format,
                    "keras_version": keras_model.keras_version, "keras_layers": plan.describe()}
        checkpoint.save_atomic(checkpoint.model_tensors(model), run_dir / checkpoint.BEST, metadata)
    except BaseException:
        if created and run_dir.is_dir():
            shutil.rmtree(run_dir)  # only what this call made: leave no half-written run behind
        raise
    return load(run_dir)

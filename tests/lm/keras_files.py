"""Keras model files written without Keras, for the import tests (tests/lm/test_keras_import.py,
tests/lm/test_scaled_id_input.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def write_keras2_h5(path: Path, layers: list[tuple[str, dict, list[np.ndarray]]]) -> None:
    """A legacy .h5 file laid out the way tf.keras 2.x wrote it (seed 004's era), made with h5py:
    bytes attributes, an input layer carried in the first layer's batch_input_shape, and weight
    paths like lstm/lstm_cell/kernel:0 listed in each layer group's weight_names."""
    h5py = pytest.importorskip("h5py")
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": kind, "config": cfg} for kind, cfg, _ in layers]}}
    suffixes = {"LSTM": ["lstm_cell/kernel:0", "lstm_cell/recurrent_kernel:0", "lstm_cell/bias:0"],
                "Dense": ["kernel:0", "bias:0"], "Dropout": []}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = np.bytes_(b"2.4.0")
        f.attrs["backend"] = np.bytes_(b"tensorflow")
        f.attrs["model_config"] = np.bytes_(json.dumps(config).encode("utf-8"))
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = np.array([cfg["name"].encode() for _, cfg, _ in layers])
        for kind, cfg, weights in layers:
            group = root.create_group(cfg["name"])
            names = [f"{cfg['name']}/{suffix}" for suffix in suffixes[kind]]
            group.attrs["weight_names"] = np.array([name.encode() for name in names], dtype="S")
            for name, value in zip(names, weights):
                group.create_dataset(name, data=value)

"""Safe, atomic checkpoints: safetensors for tensors, JSON for everything else.

Nothing here unpickles: a checkpoint handed to us by someone else can at worst
fail to load, never run code.

Run folder files written here:
    model.safetensors       the best weights so far (by validation loss)
    checkpoint.safetensors  the last state: weights, optimiser tensors, the
                            recurrent state carried between batches, the RNG,
                            and (as JSON in the file's metadata) the trainer's
                            progress and optimiser settings

Each file is written to a temporary name, fsynced, then renamed over the old
one; a kill during a save leaves the previous file whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Union

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .errors import LstmlabError

# What the API accepts wherever it takes a file or folder.
PathLike = Union[str, Path]
BEST = "model.safetensors"
LAST = "checkpoint.safetensors"


def write_atomic(path: Path, payload) -> None:
    """Write bytes (or any buffer) under a temporary name, fsync, then rename over `path`."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def save_atomic(tensors: dict[str, torch.Tensor], path: Path, metadata: Optional[dict[str, str]] = None) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    # On the CPU whatever device trained them: a checkpoint never needs the device it came from.
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file, with a clear error if it is damaged."""
    path = Path(path)
    if not path.is_file():
        raise LstmlabError(f"{path} is missing; train the run first (lstmlab train CORPUS --out {path.parent})")
    try:
        with safe_open(str(path), framework="pt") as fh:
            return {key: fh.get_tensor(key) for key in fh.keys()}, fh.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise LstmlabError(
            f"{path} is corrupt or truncated ({str(exc).splitlines()[0]}); "
            f"restore it from a backup or retrain (the other checkpoint in {path.parent} may still load)"
        ) from None


def _aliases(model: nn.Module) -> set[str]:
    """Names whose tensor is shared with an earlier name (tied embeddings)."""
    first: set[int] = set()
    aliases = set()
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in first:
            aliases.add(name)
        first.add(tensor.data_ptr())
    return aliases


def model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with tied (shared) tensors stored once: safetensors refuses shared storage."""
    aliases = _aliases(model)
    return {name: t for name, t in model.state_dict().items() if name not in aliases}


def load_model_tensors(model: nn.Module, tensors: dict[str, torch.Tensor], where: Path) -> None:
    # A model that renamed its parts declares old -> new name prefixes, so older runs still load.
    for old, new in getattr(model, "renamed_tensors", {}).items():
        tensors = {(new + k[len(old):] if k.startswith(old) else k): v for k, v in tensors.items()}
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as exc:
        reason = str(exc).splitlines()[-1].strip()
        raise LstmlabError(f"{where} does not match the model in config.json ({reason}); was config.json edited?") from None
    missing = sorted(set(missing) - _aliases(model))
    if missing or unexpected:
        raise LstmlabError(
            f"{where} does not match the model in config.json (missing {missing[:3]}, unexpected {unexpected[:3]}); "
            "was config.json edited?"
        )


def save_best(model: nn.Module, run_dir: Path, step: int, val_loss: float) -> None:
    save_atomic(model_tensors(model), Path(run_dir) / BEST, {"step": str(step), "val_loss": repr(val_loss)})


def load_weights(model: nn.Module, path: Path) -> dict[str, str]:
    tensors, metadata = read_file(path)
    load_model_tensors(model, tensors, path)
    return metadata


def save_last(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, carry, trainer_state: dict[str, Any],
              rng_states: Optional[list[torch.Tensor]] = None, average: Optional[nn.Module] = None) -> None:
    """The resumable state. `carry` holds every stream's recurrent state (all ranks'),
    `rng_states` each rank's torch random state (default: this process's), `average` the
    weights' moving average (averaging.py)."""
    tensors = {f"model.{k}": v for k, v in model_tensors(model).items()}
    if average is not None:
        tensors.update({f"average.{k}": v for k, v in model_tensors(average).items()})
    optim_state = optimizer.state_dict()
    scalars: dict[str, Any] = {}
    for index, per_param in optim_state["state"].items():
        for key, value in per_param.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    for i, layer in enumerate(carry or []):
        for j, t in enumerate(layer):
            tensors[f"carry.{i}.{j}"] = t
    for rank, rng in enumerate(rng_states or [torch.get_rng_state()]):
        tensors["rng.torch" if rank == 0 else f"rng.torch.{rank}"] = rng
    meta = {
        "trainer": json.dumps(trainer_state),
        "optim_param_groups": json.dumps(optim_state["param_groups"]),
        "optim_scalars": json.dumps(scalars),
    }
    save_atomic(tensors, Path(run_dir) / LAST, meta)


def read_last_progress(run_dir: Path) -> dict[str, Any]:
    """The trainer's saved state (progress) in last.safetensors, without reading its tensors; {}
    when the file or the state is missing or unreadable (load_last then names the problem)."""
    path = Path(run_dir) / LAST
    try:
        with safe_open(str(path), framework="pt") as fh:
            return json.loads((fh.metadata() or {})["trainer"])
    except (SafetensorError, OSError, ValueError, RuntimeError, KeyError):
        return {}


def load_last(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, average: Optional[nn.Module] = None):
    """Restore weights, optimiser and the weights' moving average in place; return (carry,
    trainer_state, the random states saved per rank). Tensors load on the CPU; the
    optimiser's follow its parameters' device. A run saved without an average (or
    before averaging existed) starts it from the weights."""
    path = Path(run_dir) / LAST
    tensors, meta = read_file(path)
    try:
        trainer_state = json.loads(meta["trainer"])
        param_groups = json.loads(meta["optim_param_groups"])
        scalars = json.loads(meta["optim_scalars"])
    except (KeyError, ValueError) as exc:
        raise LstmlabError(f"{path} lacks its training state ({exc}); it cannot be resumed, start a new run") from None
    load_model_tensors(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, path)
    if average is not None:
        averaged = {k[8:]: v for k, v in tensors.items() if k.startswith("average.")}
        load_model_tensors(average, averaged or model_tensors(model), path)

    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in scalars.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": param_groups})
    except (ValueError, KeyError) as exc:
        raise LstmlabError(f"{path}: optimiser state does not match this run ({exc}); was config.json edited?") from None

    layers: dict[int, dict[int, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("carry."):
            _, i, j = key.split(".")
            layers.setdefault(int(i), {})[int(j)] = value
    carry = [tuple(layer[j] for j in sorted(layer)) for _, layer in sorted(layers.items())] or None
    rng_states = [tensors["rng.torch"]]
    while f"rng.torch.{len(rng_states)}" in tensors:
        rng_states.append(tensors[f"rng.torch.{len(rng_states)}"])
    return carry, trainer_state, rng_states


def check_fresh_run_dir(run_dir: Path, resumable: bool = True, reusable: tuple[str, ...] = ()) -> None:
    """Never overwrite a trained run by accident. Entries named in `reusable` (the
    prepared corpus a failed start leaves in RUN/data) do not make a folder count as used."""
    run_dir = Path(run_dir)
    if (run_dir / LAST).exists() or (run_dir / BEST).exists():
        fix = (f"continue it with --resume {run_dir} or choose another --out" if resumable
               else "choose another --out (lstmlab never overwrites a run)")
        raise LstmlabError(f"{run_dir} already holds a trained model; {fix}")
    if run_dir.exists() and (not run_dir.is_dir() or any(p.name not in reusable for p in run_dir.iterdir())):
        raise LstmlabError(f"{run_dir} exists and is not an empty folder; choose another --out")

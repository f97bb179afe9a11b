"""Where a model runs and in which precision: --device and --precision.

    resolve_device("auto")   cuda, then mps, then cpu: whichever is here first
    resolve_device("cuda:1") that device, or a one-line error naming the ones that are here
    Precision.of("auto", device)
        cpu:  bf16 autocast where the CPU multiplies bf16 natively, else fp32
        cuda: bf16 autocast where the GPU supports it, else fp16 with a gradient scaler
        mps:  fp32

Checkpoints never record a device (checkpoint.py writes CPU tensors), so a run
trained on one device loads, generates and resumes on any other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from .errors import LstmlabError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def available_devices() -> list[str]:
    """The devices on this machine, by the names --device takes."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if mps_available():
        names.append("mps")
    return names


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: Optional[str] = "auto") -> torch.device:
    """The torch.device for --device NAME; "auto" (or None) picks cuda, then mps, then cpu."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise LstmlabError(f"unknown --device {name!r}; choose {DEVICE_CHOICES}") from None
    here = ", ".join(available_devices())
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise LstmlabError(f"--device {name}: there is no CUDA GPU here (devices here: {here}); "
                               "use --device auto or cpu")
        index = 0 if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise LstmlabError(f"--device {name}: there is no GPU {index} here (devices here: {here})")
        return torch.device("cuda", index)
    if device.type == "mps":
        if not mps_available():
            raise LstmlabError(f"--device {name}: there is no Apple GPU (MPS) here (devices here: {here}); "
                               "use --device auto or cpu")
        return device
    if device.type == "cpu":
        return torch.device("cpu")
    raise LstmlabError(f"--device {name}: lstmlab runs on {DEVICE_CHOICES}, not {device.type}")


def describe_device(device: torch.device) -> str:
    """The device in words for the log: "cuda:0 (NVIDIA H200)" or "cpu (16 threads)"."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads > 1 else ''})"
    return str(device)


def native_bf16() -> bool:
    """Does this CPU multiply bfloat16 natively (AVX512-BF16 or AMX)? Without
    it, bf16 is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@dataclass(frozen=True)
class Precision:
    """How training multiplies: autocast to `dtype` (None: plain fp32), and whether a
    gradient scaler guards fp16's narrow range from underflowing gradients."""

    device_type: str
    dtype: Optional[torch.dtype] = None
    scaled: bool = False

    @classmethod
    def of(cls, precision: str, device: torch.device) -> "Precision":
        kind = device.type
        if precision == "fp32":
            return cls(kind)
        if precision == "fp16":
            if kind != "cuda":
                raise LstmlabError(f"--precision fp16 needs a CUDA GPU (training on {kind}); use bf16, fp32 or auto")
            return cls(kind, torch.float16, scaled=True)
        if kind == "cuda":
            if precision == "bf16" or torch.cuda.is_bf16_supported():
                return cls(kind, torch.bfloat16)
            return cls(kind, torch.float16, scaled=True)
        if kind == "cpu" and (precision == "bf16" or native_bf16()):
            return cls(kind, torch.bfloat16)
        if precision == "bf16":
            raise LstmlabError(f"--precision bf16 is not available on {kind}; use fp32 or auto")
        return cls(kind)

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None)


# Threads the user asked for (--threads, or set_threads from Python); None: lstmlab chooses.
_requested_threads: Optional[int] = None


def set_threads(threads: int) -> None:
    """PyTorch's CPU threads for this process, as the user asked (--threads)."""
    global _requested_threads
    if threads < 1:
        raise LstmlabError(f"--threads must be at least 1, got {threads}")
    # OpenMP threads wait for each other at every parallel region; when another program
    # holds a core, the thread sharing it is descheduled and the rest wait (BENCHMARKS.md).
    torch.set_num_threads(threads)
    _requested_threads = threads


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def set_process_threads(processes_here: int) -> None:
    """N training processes on one machine with C cores get C/N threads each (unless the
    user chose): more would make them fight over cores, and torchrun's default is 1."""
    if processes_here > 1 and _requested_threads is None:
        torch.set_num_threads(max(1, usable_cores() // processes_here))

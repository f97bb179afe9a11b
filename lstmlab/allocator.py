"""glibc malloc settings for training: keep freed memory for the next step.

Every training step allocates and frees the same large tensors: the gate
pre-activations of a whole batch (B x T x 4H floats, 32 MiB for 32 x 128
characters and H = 512), their gradients, and so on. glibc's malloc serves
blocks above its mmap threshold (dynamic, but never above 32 MiB) with a fresh
mmap and returns them with munmap on free, and trims the top of its heap when
more than the trim threshold is free there. So every step the kernel maps,
faults in and zeroes the same memory again: about 18,000 minor page faults per
step for the default 1x512 model and 41,000 for 2x512.

tune_malloc() sets, through mallopt, the mmap threshold to 1 GiB (such blocks
now come from the heap and are reused) and the trim threshold to 1 GiB (the
heap's free top is kept), so what a step frees serves the next one. In
exploratory A/B runs (one-off, beside other load) both were needed: the
threshold alone left the heap trimmed and regrown every step (1.04x), and as
setting either turns off glibc's dynamic threshold, the trim threshold alone
pinned the mmap threshold at 128 KiB (0.65x, slower). A 32 MiB threshold, the
most older glibc accepts (HEAP_MAX_SIZE / 2), gained nothing (0.99x): the
per-step blocks are just above it. So where glibc refuses 1 GiB, M_MMAP_MAX = 0
(malloc never mmaps) is set instead, which gained as much as the 1 GiB
threshold in those runs. M_TOP_PAD and M_ARENA_MAX changed nothing measurable
(the training thread allocates from the main arena) and are left alone.

Measured (benchmarks/allocator_speed.py, one invocation, 3 interleaved rounds,
medians; default model, 32 x 128 characters, bf16, 2 threads, 2-core EPYC):
  1x512: 46,084 -> 66,232 chars/s (1.44x), minor faults/step 17,642 -> 1,559,
         peak RSS 478 -> 518 MB
  2x512: 15,644 -> 22,750 chars/s (1.45x), minor faults/step 40,973 -> 4,044,
         peak RSS 557 -> 697 MB
The same settings as MALLOC_*_ environment variables, in force from process
start, gave 1.51x and 1.33x in the same invocation: calling mallopt at the
start of training, after torch is imported, gets the whole gain. Peak RSS
grows because freed blocks stay in the heap, where they also fragment it; with
a 100 MB corpus (benchmarks/memory.py) training on the prepared folder peaked
at 645 MB instead of 575 MB, and preparing and training in one process at
839 MB instead of 675 MB when tuned before the corpus is read, 675 MB when
tuned after it (just before the first step).

The settings stay in force for the rest of the process (glibc has no way back
to its dynamic threshold), and memory freed after training stays with the
process until it exits.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Callable

# Set LSTMLAB_MALLOC_TUNING=0 to leave glibc's malloc as it is (the A/B
# benchmark's "off" arm does).
ENV_SWITCH = "LSTMLAB_MALLOC_TUNING"

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
M_ARENA_MAX = -8

GIB = 1 << 30
SETTINGS: tuple[tuple[int, int], ...] = (
    (M_MMAP_THRESHOLD, GIB),
    (M_TRIM_THRESHOLD, GIB),
)
# Used instead of M_MMAP_THRESHOLD where glibc refuses a threshold that high.
FALLBACK = (M_MMAP_MAX, 0)

# The user's own malloc settings win: with any of these given, lstmlab leaves
# malloc alone.
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_",
                 "MALLOC_ARENA_MAX")
OTHER_ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")

_LIBC = "libc.so.6"
_tuned = False


def tune_malloc() -> bool:
    """Make glibc's malloc keep and reuse the memory training frees (see the module's docstring).

    Returns True when the settings are in force in this process. A no-op
    returning False where the C library is not glibc (macOS, Windows, musl),
    when LSTMLAB_MALLOC_TUNING=0, when the user set glibc's MALLOC_*_ variables
    or GLIBC_TUNABLES malloc settings, or when another allocator is preloaded.
    Idempotent, and never raises.
    """
    global _tuned
    if not _tuned:
        _tuned = _tune(_LIBC)
    return _tuned


def _tune(libc_name: str) -> bool:
    try:
        if os.environ.get(ENV_SWITCH, "").strip() == "0":
            return False
        if not _glibc_linux() or _user_chose():
            return False
        mallopt = ctypes.CDLL(libc_name).mallopt
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        mallopt.restype = ctypes.c_int
        return _apply(mallopt)
    except Exception:  # a missing library or symbol, an odd platform: leave malloc as it is
        return False


def _apply(mallopt: Callable[[int, int], int]) -> bool:
    """Call mallopt (returns 1 on success) with SETTINGS; True when all took."""
    ok = True
    for param, value in SETTINGS:
        took = mallopt(param, value) == 1
        if not took and param == M_MMAP_THRESHOLD:
            took = mallopt(*FALLBACK) == 1
        ok = ok and took
    return ok


def _glibc_linux() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):  # musl has no such name
        return False


def _user_chose() -> bool:
    env = os.environ
    preload = env.get("LD_PRELOAD", "")
    return (any(name in env for name in USER_SETTINGS) or "glibc.malloc." in env.get("GLIBC_TUNABLES", "")
            or any(name in preload for name in OTHER_ALLOCATORS))

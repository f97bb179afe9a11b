"""lstmlab.allocator: glibc malloc tuning, switched off by LSTMLAB_MALLOC_TUNING=0, safe everywhere else.

Calls that really change malloc run in a subprocess, so this test process keeps
glibc's defaults.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from lstmlab import allocator

GLIBC_LINUX = allocator._glibc_linux()

# Tunes (or not), then reports whether a 64 MiB block came from mmap: glibc's
# default threshold is at most 32 MiB, the tuned one 1 GiB. allocator.py is
# loaded on its own (it imports nothing from lstmlab), which spares each
# subprocess importing torch.
PROBE = textwrap.dedent("""
    import ctypes, importlib.util, sys
    spec = importlib.util.spec_from_file_location("allocator", sys.argv[1])
    allocator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(allocator)
    tune_malloc = allocator.tune_malloc
    first, second = tune_malloc(), tune_malloc()

    class MallInfo(ctypes.Structure):
        _fields_ = [(name, ctypes.c_int) for name in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.mallinfo.restype = MallInfo
    block = libc.malloc(64 << 20)
    mmapped = libc.mallinfo().hblkhd >= 64 << 20
    libc.free(block)
    print(first, second, mmapped)
""")


def probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in (allocator.ENV_SWITCH, "GLIBC_TUNABLES", "LD_PRELOAD") and not k.startswith("MALLOC_")}
    proc = subprocess.run([sys.executable, "-c", PROBE, allocator.__file__], env={**clean, **env},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.skipif(not GLIBC_LINUX, reason="glibc malloc only")
def test_tunes_glibc_once_and_again():
    # True, True again (idempotent), and the 64 MiB block now comes from the heap.
    assert probe() == ["True", "True", "False"]


@pytest.mark.skipif(not GLIBC_LINUX, reason="glibc malloc only")
def test_switched_off_by_the_environment():
    assert probe(LSTMLAB_MALLOC_TUNING="0") == ["False", "False", "True"]


@pytest.mark.skipif(not GLIBC_LINUX, reason="glibc malloc only")
def test_the_users_own_malloc_settings_win():
    assert probe(MALLOC_ARENA_MAX="2") == ["False", "False", "True"]


def test_a_preloaded_allocator_is_left_alone(monkeypatch):
    monkeypatch.delenv(allocator.ENV_SWITCH, raising=False)
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
    assert allocator._tune("libc.so.6") is False  # returns before any mallopt


def test_missing_library_is_a_quiet_no():
    assert allocator._tune("liblstmlab-no-such-library.so.0") is False


def test_a_libc_without_mallopt_is_a_quiet_no(monkeypatch):
    monkeypatch.delenv(allocator.ENV_SWITCH, raising=False)
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: object())  # no attribute mallopt
    assert allocator._tune("libc.so.6") is False


@pytest.mark.parametrize("platform", ["darwin", "win32", "cygwin"])
def test_other_platforms_are_left_alone(monkeypatch, platform):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.delenv(allocator.ENV_SWITCH, raising=False)
    assert allocator._glibc_linux() is False
    assert allocator._tune("libc.so.6") is False  # returns before any mallopt


def test_not_glibc_when_confstr_fails(monkeypatch):
    """musl has no CS_GNU_LIBC_VERSION: os.confstr raises ValueError."""
    def confstr(name):
        raise ValueError(f"unrecognized configuration name {name!r}")

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os, "confstr", confstr)
    assert allocator._glibc_linux() is False
    assert allocator._tune("libc.so.6") is False


def test_settings_and_the_fallback_for_a_capped_threshold():
    calls = []

    def accepts_all(param, value):
        calls.append((param, value))
        return 1

    assert allocator._apply(accepts_all) is True
    assert calls == [(allocator.M_MMAP_THRESHOLD, 1 << 30), (allocator.M_TRIM_THRESHOLD, 1 << 30)]

    calls.clear()

    def old_glibc(param, value):  # refuses thresholds above HEAP_MAX_SIZE / 2
        calls.append((param, value))
        return 0 if param == allocator.M_MMAP_THRESHOLD and value > 32 << 20 else 1

    assert allocator._apply(old_glibc) is True
    assert (allocator.M_MMAP_MAX, 0) in calls

    assert allocator._apply(lambda param, value: 0) is False

"""Threads and a shared machine: training-step time on 1 and 2 threads, with the cores idle
and with one busy process beside it, in one invocation.

    flock /tmp/lstmlab-bench.lock .venv/bin/python benchmarks/threads.py --out bench-results/threads.json

PyTorch's CPU kernels split work across OpenMP threads, which wait for each
other at the end of every parallel region. When another process holds one of
the two cores, the thread that shares its core is descheduled and the other
waits for it at every barrier; small recurrent models run thousands of tiny
parallel regions per step. Each measurement runs in a fresh process
(OMP_NUM_THREADS set before torch starts); the busy process is a plain Python
loop, one thread, as a browser tab or a second training job would be.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine_info, markdown_table, write_json  # noqa: E402

# name: (what, code building `step()`, steps timed)
MODELS = {
    "forecaster": ("Forecaster, LSTM 64, 32 windows of 60", """
from lstmlab.forecast.config import ForecasterConfig
from lstmlab.forecast.model import Forecaster
m = Forecaster(ForecasterConfig(input_size=1, horizon=12, hidden_sizes=(64,), output="direct"))
x, y = torch.randn(32, 60, 1), torch.randn(32, 12)
def step(): m.loss(x, y).backward()
""", 40),
    "lstm128": ("LSTM 128, 32 texts of 30 tokens (a classifier's size)", """
from lstmlab.cells import make_layer
l = make_layer("lstm", 128, 128); x = torch.randn(32, 30, 128)
def step(): l(x)[0].sum().backward()
""", 30),
    "lstm512": ("LSTM 512, 32 x 128 characters (a language model's size)", """
from lstmlab.cells import make_layer
l = make_layer("lstm", 512, 512); x = torch.randn(32, 128, 512)
def step(): l(x)[0].sum().backward()
""", 5),
}

PROBE = """
import json, sys, time, torch
{setup}
for _ in range(3): step()
start = time.perf_counter()
for _ in range({steps}): step()
print(json.dumps({{"ms": (time.perf_counter() - start) / {steps} * 1000, "threads": torch.get_num_threads()}}))
"""


def measure(model: str, threads: int) -> float:
    _, setup, steps = MODELS[model]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", PROBE.format(setup=setup, steps=steps)], env=env, cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["threads"] == threads
    return result["ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench-results/threads.json")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for load in ("idle", "busy"):
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load == "busy" else None
        try:
            time.sleep(0.5 if hog else 0)
            for model in MODELS:
                for threads in (1, 2):
                    ms = measure(model, threads)
                    results.setdefault(model, {})[f"{load}-{threads}"] = ms
                    print(f"{load:>4}, {threads} thread(s), {model}: {ms:.1f} ms/step", flush=True)
        finally:
            if hog:
                hog.kill()
                hog.wait()
    rows = []
    for model, r in results.items():
        rows.append([MODELS[model][0], f"{r['idle-1']:.1f}", f"{r['idle-2']:.1f}", f"{r['idle-1'] / r['idle-2']:.2f}x",
                     f"{r['busy-1']:.1f}", f"{r['busy-2']:.1f}", f"{r['busy-1'] / r['busy-2']:.2f}x"])
    print(markdown_table(["model (one training step)", "idle, 1 thread ms", "idle, 2 threads ms", "2 threads' speed-up",
                          "busy, 1 thread ms", "busy, 2 threads ms", "2 threads' speed-up"], rows))
    path = write_json(args.out, {"machine": machine_info(), "ms_per_step": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

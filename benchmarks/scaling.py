"""Data-parallel scaling on this machine: one training process with one thread against
two processes (torch.distributed, gloo) with one thread each, in one invocation.

    flock /tmp/lstmlab-bench.lock .venv/bin/python benchmarks/scaling.py --out bench-results/scaling.json

Two ways to count, both printed:
    same batch per process   each process reads --batch-size streams, so two processes
                             train on twice the characters per step (weak scaling: how
                             data parallelism is used to go faster)
    same global batch        the two processes split --batch-size streams between them
                             (strong scaling: the same optimisation, each step cut in two)

    independent processes    two one-process runs side by side, nothing shared: what
                             two cores give two processes on this machine at all, the
                             ceiling for any data-parallel scheme

Characters/s is the run's own figure (metrics.jsonl: characters of the global batch
per second of training steps, gradient averaging included; start-up and validation
excluded). The configurations alternate, and each figure is the median of --repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine_info, markdown_table, write_json  # noqa: E402

TEXT = REPO.parent / "shared" / "data" / "text" / "tiny_shakespeare.txt"


def train_command(processes: int, batch: int, steps: int, hidden: str, out: Path) -> list[str]:
    command = [sys.executable, "-m", "lstmlab", "--threads", "1", "train", str(TEXT), "--out", str(out),
               "--steps", str(steps), "--eval-every", str(steps), "--eval-chars", "2000", "--batch-size", str(batch),
               "--hidden", hidden, "--log-every", str(steps), "--no-progress"]
    if processes > 1:
        command += ["--nproc", str(processes)]
    return command


def speed_of(out: Path) -> float:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return next(row["chars_per_s"] for row in reversed(rows) if "val_loss" not in row)


def train_speed(processes: int, batch: int, steps: int, hidden: str, work: Path, independent: bool = False) -> float:
    """Characters/s of one run; with independent=True, of two one-process runs side by side
    (no communication at all: what two cores give two processes here, the ceiling for data parallelism)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = 2 if independent else 1
    outs = [work / f"p{processes}_b{batch}_{len(list(work.iterdir()))}_{i}" for i in range(runs)]
    jobs = [subprocess.Popen(train_command(processes, batch, steps, hidden, out), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=REPO) for out in outs]
    for job in jobs:
        _, err = job.communicate()
        if job.returncode:
            raise SystemExit(err)
    return sum(speed_of(out) for out in outs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--batch-size", type=int, default=32, help="streams per step of one process")
    parser.add_argument("--hidden", default="512")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the results as JSON here too")
    args = parser.parse_args()
    configs = {
        "1 process": (1, args.batch_size),
        "2 independent processes, no communication (the ceiling)": (0, args.batch_size),
        "2 processes, same batch per process": (2, 2 * args.batch_size),
        "2 processes, same global batch": (2, args.batch_size),
    }
    speeds: dict[str, list[float]] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for _ in range(args.repeats):
            for name, (processes, batch) in configs.items():
                speeds[name].append(train_speed(max(processes, 1), batch, args.steps, args.hidden, work,
                                                independent=processes == 0))
    base = statistics.median(speeds["1 process"])
    rows, results = [], {}
    for name, values in speeds.items():
        median = statistics.median(values)
        processes = configs[name][0] or 2
        results[name] = {"chars_per_s": values, "median": median, "speedup": median / base,
                         "efficiency": median / base / processes}
        rows.append([name, f"{median:,.0f}", f"{median / base:.2f}x", f"{median / base / processes:.0%}"])
    print(f"LSTM {args.hidden}, {args.batch_size} streams of 128 per process, 1 thread per process, "
          f"{args.steps} steps, median of {args.repeats}")
    print(markdown_table(["configuration", "chars/s", "speed-up", "efficiency"], rows))
    if args.out:
        write_json(args.out, {"machine": machine_info(), "settings": vars(args), "results": results})


if __name__ == "__main__":
    main()

"""Training speed and peak memory with and without lstmlab's glibc malloc tuning (lstmlab/allocator.py).

    .venv/bin/python benchmarks/allocator_speed.py --out bench-results/allocator_speed.json
    .venv/bin/python benchmarks/allocator_speed.py --quick      # a smaller check, about a minute

The default language model (lstm cell, batch 32 x 128 characters, builtin
Shakespeare, default precision) with hidden sizes 512 and 512,512 trains for
--steps timed steps (after 2 warm-up steps, as benchmarks/throughput.py does)
in fresh processes, one per measurement, each under GNU time (/usr/bin/time -v)
for its peak RSS. The arms:

  off  LSTMLAB_MALLOC_TUNING=0: glibc's default malloc behaviour
  on   the worker calls lstmlab.allocator.tune_malloc() after importing torch
       and lstmlab, where lstmlab.runs calls it at the start of training
  env  the same settings given as glibc's MALLOC_*_ environment variables
       (in force from process start) with tune_malloc switched off: tells
       whether mallopt at training start gets the whole gain

Arms alternate (off, on, env, off, on, env, ...), so a change in the machine's
load during the run hits all of them; the table gives medians over --repeats
and the ratio to `off`. Minor page faults and system CPU time are counted from
the model's construction to the last step, per step.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, machine_info, markdown_table, set_threads, write_json
from memory import TIME

SIZES = ((512,), (512, 512))
ARMS = ("off", "on", "env")


def env_form() -> dict[str, str]:
    """allocator.SETTINGS as the environment variables glibc reads at start-up."""
    from lstmlab import allocator

    names = {allocator.M_MMAP_THRESHOLD: "MALLOC_MMAP_THRESHOLD_", allocator.M_TRIM_THRESHOLD: "MALLOC_TRIM_THRESHOLD_",
             allocator.M_TOP_PAD: "MALLOC_TOP_PAD_", allocator.M_MMAP_MAX: "MALLOC_MMAP_MAX_",
             allocator.M_ARENA_MAX: "MALLOC_ARENA_MAX"}
    return {names[param]: str(value) for param, value in allocator.SETTINGS}


def arm_env(arm: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["LSTMLAB_MALLOC_TUNING"] = "1" if arm == "on" else "0"
    if arm == "env":
        env.update(env_form())
    return env


def run_worker(arm: str, hidden: tuple[int, ...], steps: int, threads: int | None) -> dict:
    """One measurement in a fresh process: chars/s, faults, peak RSS."""
    cmd = [sys.executable, __file__, "--worker", ",".join(map(str, hidden)), "--steps", str(steps)]
    if threads:
        cmd += ["--threads", str(threads)]
    use_time = Path(TIME).exists()
    proc = subprocess.run([TIME, "-v", *cmd] if use_time else cmd, env=arm_env(arm), cwd=REPO,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed ({arm}, {hidden}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    if use_time:
        for line in proc.stderr.splitlines():
            if "Maximum resident set size (kbytes):" in line:
                row["peak_rss_mb"] = int(line.rsplit(":", 1)[1]) / 1024
    row.setdefault("peak_rss_mb", row["own_maxrss_mb"])
    row["arm"] = arm
    return row


def worker(hidden: tuple[int, ...], steps: int) -> None:
    """The subprocess: what lstmlab.train does before its first step, then timed steps."""
    import torch  # noqa: F401  (imported first, as in a real run)

    from throughput import measure
    from lstmlab.allocator import tune_malloc
    from lstmlab.lm.config import DataConfig
    from lstmlab.lm.prepare import prepare

    # lstmlab.runs.train_run calls tune_malloc() at the start of training, before
    # the corpus is read; measure() below does not go through it. tune_malloc is
    # idempotent, so calling it here stays right should a code path below call it
    # too. It reads LSTMLAB_MALLOC_TUNING=0 itself (arms off and env).
    tuned = tune_malloc()
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare(DataConfig(), Path(tmp) / "data", report=None)
        before = resource.getrusage(resource.RUSAGE_SELF)
        row = measure(prepared, "lstm", hidden, 32, 128, steps, Path(tmp))
        after = resource.getrusage(resource.RUSAGE_SELF)
    row.update(tuned=tuned, minor_faults_per_step=(after.ru_minflt - before.ru_minflt) / (steps + 2),
               sys_s_per_step=(after.ru_stime - before.ru_stime) / (steps + 2), own_maxrss_mb=after.ru_maxrss / 1024)
    print(json.dumps(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench-results/allocator_speed.json")
    parser.add_argument("--steps", type=int, help="timed training steps per measurement (default 20; --quick 8)")
    parser.add_argument("--repeats", type=int, help="rounds of all arms (default 3; --quick 2)")
    parser.add_argument("--arms", help="comma-separated subset of off,on,env (default all; --quick off,on)")
    parser.add_argument("--quick", action="store_true", help="a smaller check: 8 steps, 2 rounds, arms off and on")
    parser.add_argument("--threads", type=int, help="torch threads in the workers (default: torch's choice)")
    parser.add_argument("--worker", metavar="HIDDEN", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        set_threads(args.threads)
        worker(tuple(int(h) for h in args.worker.split(",")), args.steps)
        return
    defaults = ({"steps": 8, "repeats": 2, "arms": "off,on"} if args.quick
                else {"steps": 20, "repeats": 3, "arms": "off,on,env"})
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    arms = [a for a in args.arms.split(",") if a]
    if "off" not in arms or any(a not in ARMS for a in arms):
        parser.error(f"--arms takes a subset of {','.join(ARMS)} that includes off")

    start = time.monotonic()
    runs: list[dict] = []
    for round_ in range(args.repeats):
        for hidden in SIZES:
            for arm in arms:
                row = run_worker(arm, hidden, args.steps, args.threads)
                runs.append(row)
                print(f"round {round_ + 1} {row['hidden']:>7} {arm:>3}: {row['chars_per_s']:8,.0f} chars/s, "
                      f"{row['minor_faults_per_step']:8,.0f} minor faults/step, peak RSS {row['peak_rss_mb']:,.0f} MB",
                      flush=True)

    table = []
    for hidden in SIZES:
        name = ",".join(map(str, hidden))
        base = None
        for arm in arms:
            mine = [r for r in runs if r["hidden"] == name and r["arm"] == arm]
            cps = statistics.median(r["chars_per_s"] for r in mine)
            base = base or cps
            table.append({"hidden": name, "arm": arm, "chars_per_s": cps, "ratio": cps / base,
                          "chars_per_s_all": [r["chars_per_s"] for r in mine],
                          "minor_faults_per_step": statistics.median(r["minor_faults_per_step"] for r in mine),
                          "sys_s_per_step": statistics.median(r["sys_s_per_step"] for r in mine),
                          "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in mine),
                          "tuned": sorted({r["tuned"] for r in mine})})
    from lstmlab.allocator import SETTINGS

    write_json(args.out, {"machine": machine_info(), "settings": SETTINGS, "env_form": env_form(), "steps": args.steps,
                          "repeats": args.repeats, "threads": args.threads, "seconds": time.monotonic() - start,
                          "runs": runs, "table": table})
    print(f"\nmallopt settings: {SETTINGS}; env form: {env_form()}")
    print(f"{args.repeats} rounds x {args.steps} steps, {time.monotonic() - start:.0f} s; medians, ratio to off\n")
    print(markdown_table(
        ["hidden", "arm", "chars/s (median)", "x off", "chars/s (each round)", "minor faults/step", "sys s/step",
         "peak RSS MB"],
        [[r["hidden"], r["arm"], f"{r['chars_per_s']:,.0f}", f"{r['ratio']:.2f}",
          " ".join(f"{c:,.0f}" for c in r["chars_per_s_all"]), f"{r['minor_faults_per_step']:,.0f}",
          f"{r['sys_s_per_step']:.3f}", f"{r['peak_rss_mb']:,.0f}"] for r in table]))


if __name__ == "__main__":
    main()

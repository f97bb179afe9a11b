"""Training and generation speed of this checkout next to an earlier one, in one invocation.

    git worktree add --detach ../old-main aafe1ba        # the checkout to compare with
    .venv/bin/python benchmarks/layout_speed.py --before ../old-main --out bench-results/layout_speed.json

Each round runs, for the earlier checkout and then this one, its own
benchmarks/throughput.py (lstmlab's training step, chars/s) and
benchmarks/generation_speed.py --skip-keras (one-stream generation, chars/s),
each in a fresh process with that checkout first on PYTHONPATH. The two sides
alternate, so a change in the machine's speed during the run hits both; the
table gives each row's median over the rounds and the ratio after / before.
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

from common import REPO, machine_info, markdown_table, write_json


def run_side(tree: Path, script: str, extra: list[str]) -> dict:
    """One benchmark script of checkout `tree`, importing that checkout's lstmlab."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        subprocess.run([sys.executable, str(tree / "benchmarks" / script), "--out", str(out), *extra],
                       cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text(encoding="utf-8"))


def speeds(tree: Path, steps: int, chars: int) -> dict[str, float]:
    """Row name -> chars/s for one run of both scripts."""
    found = {}
    for row in run_side(tree, "throughput.py", ["--steps", str(steps)])["rows"]:
        found[f"train {row['cell']} {row['hidden']} {row['batch']}x{row['seq_len']} {row['precision']}"] = row["chars_per_s"]
    for entry in run_side(tree, "generation_speed.py", ["--skip-keras", "--lstmlab-chars", str(chars)])["results"]:
        found[f"generate {entry['size']}"] = entry["lstmlab_cps"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the earlier checkout (a git worktree)")
    parser.add_argument("--out", default="bench-results/layout_speed.json")
    parser.add_argument("--rounds", type=int, default=2, help="before/after pairs (default 2)")
    parser.add_argument("--steps", type=int, default=12, help="timed training steps per configuration")
    parser.add_argument("--chars", type=int, default=5000, help="generated characters per model size")
    args = parser.parse_args()
    sides = {"before": Path(args.before).resolve(), "after": REPO}
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for round_ in range(args.rounds):
        for name, tree in sides.items():
            runs[name].append(speeds(tree, args.steps, args.chars))
            print(f"round {round_ + 1}: {name} done", flush=True)
    rows = []
    for key in runs["after"][0]:
        before = statistics.median(r[key] for r in runs["before"])
        after = statistics.median(r[key] for r in runs["after"])
        rows.append({"row": key, "before_chars_per_s": before, "after_chars_per_s": after, "ratio": after / before})
    write_json(args.out, {"machine": machine_info(), "before": str(sides["before"]), "rounds": args.rounds,
                          "runs": runs, "rows": rows})
    print(markdown_table(["measurement", "before chars/s", "after chars/s", "after / before"],
                         [[r["row"], f"{r['before_chars_per_s']:,.0f}", f"{r['after_chars_per_s']:,.0f}",
                           f"{r['ratio']:.3f}"] for r in rows]))


if __name__ == "__main__":
    main()

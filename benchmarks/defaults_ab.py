"""The three quality figures the defaults must keep, for a tree of lstmlab (issue 23).

Runs, one after the other and never at the same time, with nothing but the budget given:
- tiny: `lstmlab train tiny_shakespeare.txt --minutes 10` (BENCHMARKS.md §5c), best validation loss;
- race: the 6-second seed race (§1b: crime_and_punishment.txt cleaned as seed 000 does,
  `--minutes 0.1 --hidden 128`, validated on the Keras recipe's held-out characters), final loss,
  --race-rounds times (a 6-second run varies from run to run);
- wikitext: `benchmarks/standard_lm.py --minutes 10 --recipe defaults --no-example` (§17), test ppl;
- minute: the race's text and model at budgets of 0.2, 0.3 and 0.75 minutes, each with the rate the
  tree chooses and with the rate of the fitted formula that the preset table replaced,
  3e-3 * (1 / minutes) ** 0.82 capped at 0.02 (--race-rounds seeds each).

--tree names the lstmlab to measure: "current" (this working tree) or a git ref, checked out as
a worktree in a temporary folder and imported first (PYTHONPATH) by every child process. The
benchmark scripts themselves come from this working tree. Run it alone: the budgets are in
minutes, so any other busy process changes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DEFAULT_TEXT, REPO, clean_corpus, lstmlab_val_fraction, machine_info, seed_windows, \
    validation_split_at, write_json

TINY = "/work/shared/data/text/tiny_shakespeare.txt"
FIGURES = ("tiny", "race", "wikitext", "minute")
MINUTE_BUDGETS = (0.2, 0.3, 0.75)


def run(cmd: list, env: dict, log: list, cwd: Path) -> float:
    shown = " ".join(str(c) for c in cmd)
    print(f"\n$ {shown}", flush=True)
    start = time.perf_counter()
    # Not from the repository: `python -m` puts the working folder first on sys.path, which would
    # import this tree's lstmlab whatever PYTHONPATH says.
    subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, check=True)
    wall = time.perf_counter() - start
    log.append({"command": shown, "wall_seconds": round(wall, 1)})
    return wall


def validations(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if "val_loss" in r]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", default="current", help="'current' (default) or a git ref to measure")
    ap.add_argument("--figures", default=",".join(FIGURES), help=f"comma separated, from {', '.join(FIGURES)}")
    ap.add_argument("--race-rounds", type=int, default=2)
    ap.add_argument("--minute-budgets", default=",".join(map(str, MINUTE_BUDGETS)),
                    help="minute: the budgets, comma separated (default %(default)s)")
    ap.add_argument("--minute-rates", default="",
                    help="minute: more peak rates to try beside the chosen one and the formula's, comma separated")
    ap.add_argument("--work", required=True, help="a new folder for the runs")
    ap.add_argument("--out", required=True, help="JSON result file")
    args = ap.parse_args()
    figures = [f for f in args.figures.split(",") if f]
    if set(figures) - set(FIGURES):
        sys.exit(f"unknown --figures {args.figures}; choose from {', '.join(FIGURES)}")
    work = Path(args.work).resolve()
    if work.exists():
        sys.exit(f"{work} exists; give --work a new folder")
    work.mkdir(parents=True)
    env = dict(os.environ)
    worktree = None
    if args.tree != "current":
        worktree = Path(tempfile.mkdtemp()) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(worktree), args.tree], check=True)
        env["PYTHONPATH"] = str(worktree)
    commit = subprocess.run(["git", "-C", str(worktree or REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    python = sys.executable
    log: list = []
    result: dict = {"benchmark": "defaults_ab", "tree": args.tree, "commit": commit, "dirty": args.tree == "current" and bool(
        subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                       capture_output=True, text=True).stdout.strip()), "machine": machine_info(), "commands": log}
    try:
        check = subprocess.run([python, "-c", "import lstmlab; print(lstmlab.__file__)"], env=env, cwd=work,
                               capture_output=True, text=True, check=True).stdout.strip()
        if worktree is not None and not check.startswith(str(worktree)):
            sys.exit(f"the children import lstmlab from {check}, not from {worktree}")
        result["imported"] = check
        print(f"lstmlab imported from {check}", flush=True)
        if "tiny" in figures:
            out = work / "tiny"
            run([python, "-m", "lstmlab", "train", TINY, "--minutes", "10", "--out", out, "--no-progress"], env, log, work)
            vals = validations(out)
            result["tiny"] = {"best_val_loss": min(r["val_loss"] for r in vals), "final_val_loss": vals[-1]["val_loss"],
                              "steps": vals[-1]["step"], "config": json.loads((out / "config.json").read_text())}
        if "race" in figures or "minute" in figures:
            text = clean_corpus(DEFAULT_TEXT)
            _, windows, _, starts = seed_windows(text)
            val_start = int(starts[validation_split_at(len(windows))])
            clean = work / "crime_and_punishment.clean.txt"
            clean.write_text(text, encoding="utf-8")
            fraction, _ = lstmlab_val_fraction(len(text), val_start)
            race = [python, "-m", "lstmlab", "train", clean, "--val-fraction", repr(fraction), "--no-strip-gutenberg",
                    "--no-progress", "--eval-chars", "0", "--hidden", "128"]
        if "race" in figures:
            rounds = []
            for round_ in range(args.race_rounds):
                out = work / f"race{round_}"
                run([*race, "--out", out, "--minutes", "0.1", "--seed", "0"], env, log, work)
                vals = validations(out)
                rounds.append({"final_val_loss": vals[-1]["val_loss"], "steps": vals[-1]["step"]})
            result["race"] = {"rounds": rounds, "train": json.loads((work / "race0" / "config.json").read_text())["train"]}
        if "minute" in figures:
            rows = []
            for minutes in [float(m) for m in args.minute_budgets.split(",") if m]:
                formula = float(f"{min(2e-2, 3e-3 * (1 / minutes) ** 0.82):.2g}")
                rates = [("chosen", []), ("formula", ["--lr", repr(formula)])]
                rates += [(f"lr {rate}", ["--lr", rate]) for rate in args.minute_rates.split(",") if rate]
                for seed in range(args.race_rounds):
                    for label, extra in rates:
                        out = work / f"minute-{minutes}-{label.replace(' ', '')}-{seed}"
                        run([*race, "--out", out, "--minutes", str(minutes), "--seed", str(seed), *extra], env, log, work)
                        vals = validations(out)
                        lr = json.loads((out / "config.json").read_text())["train"]["lr"]
                        rows.append({"minutes": minutes, "rate": label, "lr": lr, "seed": seed,
                                     "final_val_loss": vals[-1]["val_loss"], "steps": vals[-1]["step"]})
            result["minute"] = rows
        if "wikitext" in figures:
            out = work / "standard_lm.json"
            run([python, "-u", REPO / "benchmarks" / "standard_lm.py", "--minutes", "10", "--recipe", "defaults",
                 "--no-example", "--work", work / "standard_lm", "--out", out], env, log, work)
            result["wikitext"] = json.loads(out.read_text())["lstmlab"]
    finally:
        if worktree is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)])
    write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k in ("tree", "commit")}), flush=True)
    for name in figures:
        row = result[name]
        if name == "tiny":
            print(f"tiny_shakespeare 10 min: best val {row['best_val_loss']:.4f} at {row['steps']} steps")
        elif name == "race":
            print("6-second race: " + ", ".join(f"{r['final_val_loss']:.4f}" for r in row["rounds"]))
        elif name == "minute":
            for r in row:
                print(f"{r['minutes']} min, {r['rate']} lr {r['lr']:g}, seed {r['seed']}: {r['final_val_loss']:.4f} "
                      f"({r['steps']} steps)")
        else:
            print("WikiText-2 10 min: " + json.dumps({k: v.get("test_ppl") for k, v in row.items()}))


if __name__ == "__main__":
    main()

"""Head-to-head (issue benchmark 1): the seeds' Keras recipe vs `lstmlab train`, same text, same budget.

1. seed_recipe.py trains the seeds' Keras model for --minutes of training time
   (in a subprocess, so it has the machine to itself).
2. Then, never at the same time, `lstmlab train` gets the same cleaned text and
   the same --minutes, with its validation cut on the very character where
   Keras' validation windows start, so both score the same held-out text.
3. Report each side's final validation loss, the first time lstmlab's
   validation loss is at or below Keras' final one, and the speed-up
   keras_train_seconds / that time.

Clocks differ: Keras' training seconds exclude validation (seed_recipe.py takes
it off the clock), while lstmlab's elapsed_s includes its own evaluations and
checkpoint saves. The lstmlab time excluding them is derived from the metrics
(step x chars_per_step / chars_per_s) and reported beside it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import (DEFAULT_TEXT, REPO, clean_corpus, lstmlab_val_fraction, markdown_table, seed_windows,
                    set_threads, validation_split_at, write_json)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, required=True, help="training budget for each side")
    p.add_argument("--lstmlab-minutes", type=float,
                   help="lstmlab's own budget, when it differs from Keras' (e.g. 0.1: does lstmlab reach Keras' "
                        "10-minute loss within 6 seconds?)")
    p.add_argument("--out-dir", required=True, help="folder for both runs, the JSON and the markdown summary")
    p.add_argument("--lstmlab-args", default="", help="extra arguments for `lstmlab train`, one string, e.g. \"--hidden 256\"")
    p.add_argument("--eval-every", type=int, default=20,
                   help="lstmlab steps between validations (default 20); finer locates the crossing better but "
                        "each validation costs lstmlab time; 0 leaves lstmlab's own default")
    p.add_argument("--keras-eval-every-seconds", type=float, default=60.0, help="Keras' validation interval (default 60)")
    p.add_argument("--keras-result", help="reuse this seed_recipe.py JSON instead of training Keras again")
    p.add_argument("--text", default=DEFAULT_TEXT, help=f"the corpus (default {DEFAULT_TEXT})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads for both sides (default: torch's own); 1 on a shared machine")
    return p.parse_args()


def run(cmd: list[str], commands: list[dict]) -> float:
    """Run one side to completion (never two at once) and return its wall time."""
    shown = shlex.join(str(c) for c in cmd)
    print(f"\n$ {shown}", flush=True)
    t = time.perf_counter()
    subprocess.run([str(c) for c in cmd], cwd=REPO, check=True)
    wall = time.perf_counter() - t
    commands.append({"command": shown, "wall_seconds": round(wall, 1)})
    return wall


def lstmlab_executable() -> str:
    beside = Path(sys.executable).parent / "lstmlab"  # the venv's own console script
    return str(beside) if beside.exists() else (shutil.which("lstmlab") or "lstmlab")


def main() -> None:
    args = parse_args()
    set_threads(args.threads)  # also sets OMP_NUM_THREADS, which both subprocesses inherit
    out = Path(args.out_dir).resolve()
    run_dir = out / "lstmlab_run"
    if run_dir.exists():
        sys.exit(f"{run_dir} already exists; choose another --out-dir (or delete it)")
    out.mkdir(parents=True, exist_ok=True)
    commands: list[dict] = []

    # Where Keras' validation windows start, computed the way seed_recipe.py does.
    text = clean_corpus(args.text)
    _, X, _, starts = seed_windows(text)
    val_start = int(starts[validation_split_at(len(X))])

    if args.keras_result:
        keras_json = Path(args.keras_result)
        commands.append({"command": f"(Keras side reused from {keras_json}: {shlex.join(json.loads(keras_json.read_text())['command'])})"})
    else:
        keras_json = out / "seed_recipe.json"
        cmd = [sys.executable, REPO / "benchmarks" / "seed_recipe.py", "--minutes", args.minutes, "--out", keras_json,
               "--eval-every-seconds", args.keras_eval_every_seconds, "--text", args.text, "--seed", args.seed]
        run(cmd + (["--threads", args.threads] if args.threads else []), commands)
    keras = json.loads(keras_json.read_text(encoding="utf-8"))
    if keras["val_start_char"] != val_start or keras["text_chars"] != len(text):
        sys.exit(f"{keras_json} was made from other text (val_start_char {keras['val_start_char']} vs {val_start})")

    # lstmlab reads the already-cleaned text, so it must not clean again (cleaning is idempotent
    # anyway, but --no-strip-gutenberg makes sure nothing is cut).
    clean_path = out / "crime_and_punishment.clean.txt"
    clean_path.write_text(text, encoding="utf-8")
    val_fraction, miss = lstmlab_val_fraction(len(text), val_start)
    lstmlab_minutes = args.lstmlab_minutes or args.minutes
    cmd = [lstmlab_executable(), "train", clean_path, "--out", run_dir, "--minutes", lstmlab_minutes,
           "--val-fraction", repr(val_fraction), "--no-strip-gutenberg", "--no-progress",
           *(["--eval-every", args.eval_every] if args.eval_every else []),
           "--eval-chars", "0", "--seed", args.seed, *shlex.split(args.lstmlab_args)]
    lstmlab_wall = run(cmd, commands)

    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    meta = json.loads((run_dir / config["data_dir"] / "meta.json").read_text(encoding="utf-8"))  # data_dir: relative to the run
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    metrics = [r for r in metrics if "val_loss" in r]  # the validations (other rows record the training loss)
    train_cfg, objective = config["train"], config["objective"]
    per_step = train_cfg["batch_size"] * (objective["seq_len"] if objective["objective"] == "tbptt" else objective["window"])
    for r in metrics:
        # chars_per_s is the running training throughput (eval excluded), so this is pure training time.
        r["train_only_s"] = round(r["step"] * per_step / r["chars_per_s"], 2) if r.get("chars_per_s") else 0.0

    from lstmlab.lm.config import ModelConfig
    from lstmlab.lm.model import RecurrentLM

    model_cfg = ModelConfig(**config["model"])
    model_shape = f"{model_cfg.cell} {'x'.join(map(str, model_cfg.hidden_sizes))}"
    keras_final, keras_train_s = keras["final_val_loss"], keras["train_seconds"]
    cross = next((r for r in metrics if r["val_loss"] <= keras_final), None)
    last = metrics[-1]
    result = {
        "benchmark": "seed_vs_lstmlab",
        "minutes": args.minutes,
        "lstmlab_minutes": lstmlab_minutes,
        "text": args.text,
        "text_chars": len(text),
        "val_start_char": val_start,
        "lstmlab_val_fraction": val_fraction,
        "lstmlab_train_chars": meta["train_chars"],
        # 0 means lstmlab validates on exactly text[val_start_char:], the text Keras' windows read.
        "split_miss_chars": meta["train_chars"] - val_start,
        "lstmlab_num_chars_matches_text": meta["num_chars"] == len(text),
        "lstmlab_objective": objective["objective"],
        "commands": commands,
        "keras": {k: keras[k] for k in ("keras", "backend", "parameters", "train_seconds", "eval_seconds", "windows_per_s",
                                        "epochs_seen", "final_val_loss", "curve", "model_file")},
        "lstmlab": {
            "run_dir": str(run_dir),
            "wall_seconds": round(lstmlab_wall, 1),
            "elapsed_s": last["elapsed_s"],
            "train_only_s": last["train_only_s"],
            "steps": last["step"],
            "parameters": sum(p.numel() for p in RecurrentLM(model_cfg).parameters()),
            "final_val_loss": last["val_loss"],
            "best_val_loss": min(r["val_loss"] for r in metrics),
            "config": config,
            "metrics": metrics,
        },
        "keras_final_val_loss": keras_final,
        "keras_train_seconds": keras_train_s,
        # An upper bound: lstmlab may have crossed at any moment since its previous evaluation.
        "lstmlab_seconds_to_keras_final": cross["elapsed_s"] if cross else None,
        "lstmlab_train_only_seconds_to_keras_final": cross["train_only_s"] if cross else None,
        "lstmlab_step_at_crossing": cross["step"] if cross else None,
        "speedup": keras_train_s / cross["elapsed_s"] if cross and cross["elapsed_s"] > 0 else None,
        "speedup_train_only": keras_train_s / cross["train_only_s"] if cross and cross["train_only_s"] > 0 else None,
    }

    def fmt(x):
        return "-" if x is None else f"{x:.1f}"

    rows = [
        ["budget (minutes)", f"{args.minutes:g} of training (validation off the clock)", f"{lstmlab_minutes:g} (evaluations count)"],
        ["parameters", f"{keras['parameters']:,}", f"{result['lstmlab']['parameters']:,} ({model_shape})"],
        ["training seconds", f"{keras_train_s:.1f}", f"{last['elapsed_s']:.1f} elapsed, {last['train_only_s']:.1f} training only"],
        ["final val loss (nats/char)", f"{keras_final:.4f}", f"{last['val_loss']:.4f} (best {result['lstmlab']['best_val_loss']:.4f})"],
        ["seconds to reach Keras' final val loss", f"{keras_train_s:.1f}",
         f"<= {result['lstmlab_seconds_to_keras_final']:.1f} elapsed (<= {result['lstmlab_train_only_seconds_to_keras_final']:.1f} "
         f"training only), step {result['lstmlab_step_at_crossing']}" if cross else "not reached"],
        ["speed-up (Keras seconds / lstmlab seconds)", "1.0x",
         f">= {fmt(result['speedup'])}x elapsed, >= {fmt(result['speedup_train_only'])}x training only" if cross else "-"],
    ]
    table = markdown_table(["", "seeds' Keras recipe", "lstmlab"], rows)
    summary = (f"# Seeds' Keras recipe ({args.minutes:g} minutes) vs lstmlab ({lstmlab_minutes:g} minutes)\n\n{table}\n\n"
               f"Same cleaned text ({len(text):,} characters); both validate on text[{val_start:,}:] "
               f"(split miss: {result['split_miss_chars']} characters). lstmlab objective: {objective['objective']} "
               f"(window = the seeds' exact validation windows; tbptt = every held-out character scored). "
               f"Crossing times are upper bounds: lstmlab evaluates every {train_cfg['eval_every']} steps.\n\n"
               "Commands:\n\n" + "\n".join(f"    {c['command']}" for c in commands) + "\n")
    write_json(out / "seed_vs_lstmlab.json", result)
    (out / "seed_vs_lstmlab.md").write_text(summary, encoding="utf-8")
    print("\n" + summary + f"\nwrote {out / 'seed_vs_lstmlab.json'} and {out / 'seed_vs_lstmlab.md'}")


if __name__ == "__main__":
    main()

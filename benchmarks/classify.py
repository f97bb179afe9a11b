"""Text classification benchmarks: lstmlab's classifier beside a TF-IDF + logistic regression baseline.

Each row trains `lstmlab.classify.train` with its default recipe (plus the
row's settings) and fits the baseline on exactly the same split, in this one
invocation. 5-fold rows hold out each stratified fold in turn (validation:
10% of the rest) and report the mean and the per-fold accuracies.

    flock /tmp/lstmlab-bench.lock .venv/bin/python benchmarks/classify.py --out bench-results/classify.json

Data: ../shared/data/sentiment (see shared/data/SOURCES.md); nothing is copied.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine_info, markdown_table, set_threads, write_json  # noqa: E402

SENTIMENT = REPO.parent / "shared" / "data" / "sentiment"
TWEETS = dict(text_column="text", label_column="airline_sentiment")

# name: (title, source, settings, folds, minutes of training per run, target accuracy)
ROWS = {
    "airline-3": ("Twitter airline, 3 classes", SENTIMENT / "twitter_airline" / "Tweets.csv", TWEETS, 0, 10, 0.82),
    "airline-positive": ("Twitter airline, positive vs rest (seed 002)", SENTIMENT / "twitter_airline" / "Tweets.csv",
                         dict(TWEETS, positive_vs_rest="positive"), 0, 10, 0.93),
    "polarity": ("Pang & Lee polarity, 5-fold", SENTIMENT / "review_polarity" / "review_polarity.tar.gz", {}, 5, 2, 0.86),
    "imdb-sentences": ("UCI imdb_labelled.txt, 5-fold", SENTIMENT / "sentiment_labelled_sentences" / "imdb_labelled.txt",
                       {}, 5, 2, 0.80),
}


def run_row(name: str, extra: dict, log_dir: Path) -> dict:
    import lstmlab.classify as classify

    title, source, settings, folds, minutes, target = ROWS[name]
    runs = []
    for fold in (range(folds) if folds else [None]):
        out = Path(tempfile.mkdtemp(prefix=f"classify-{name}-"))
        shutil.rmtree(out)
        lines: list[str] = []
        split = dict(folds=folds, fold=fold) if folds else {}
        start = time.monotonic()
        classify.train(str(source), out, show_progress=False, log=lines.append,
                       **{"minutes": minutes, **settings, **split, **extra})
        report = json.loads((out / "report.json").read_text())
        (log_dir / f"{name}{'' if fold is None else f'-fold{fold}'}.log").write_text("\n".join(lines) + "\n")
        runs.append({
            "fold": fold, "wall_s": round(time.monotonic() - start, 1),
            "train_s": report["training"]["seconds"], "steps": report["training"]["steps"],
            "stop_reason": report["training"]["stop_reason"], "examples": report["examples"],
            "accuracy": report["classifier"]["accuracy"], "macro_f1": report["classifier"]["macro_f1"],
            "baseline_accuracy": report["baseline"]["accuracy"], "baseline_macro_f1": report["baseline"]["macro_f1"],
            "majority": report["classifier"]["majority_baseline"],
        })
        print(f"{name} fold {fold}: accuracy {runs[-1]['accuracy']:.4f} (baseline {runs[-1]['baseline_accuracy']:.4f}), "
              f"{runs[-1]['steps']} steps in {runs[-1]['train_s']:.0f}s ({runs[-1]['stop_reason']})", flush=True)
        shutil.rmtree(out)
    mean = {k: float(np.mean([r[k] for r in runs])) for k in ("accuracy", "macro_f1", "baseline_accuracy",
                                                                "baseline_macro_f1", "majority", "train_s")}
    return {"row": name, "title": title, "source": str(source), "settings": {**settings, **extra}, "folds": folds,
            "minutes_per_run": minutes, "target": target, "met": mean["accuracy"] >= target, "mean": mean, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows (default all: {','.join(ROWS)})")
    parser.add_argument("--out", default="bench-results/classify.json")
    parser.add_argument("--set", dest="extra", default="{}", help="extra settings for every row, as JSON")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    set_threads(args.threads)
    extra = json.loads(args.extra)
    log_dir = Path(args.out).with_suffix("")
    log_dir.mkdir(parents=True, exist_ok=True)
    results = [run_row(name, extra, log_dir) for name in args.rows.split(",")]
    table = []
    for r in results:
        m = r["mean"]
        folds = " / ".join(f"{run['accuracy']:.3f}" for run in r["runs"]) if r["folds"] else ""
        table.append([r["title"], f"{m['accuracy']:.4f}" + (f" ({folds})" if folds else ""), f"{m['macro_f1']:.4f}",
                      f"{m['baseline_accuracy']:.4f}", f"{m['majority']:.4f}", f"{m['train_s']:.0f}",
                      f">= {r['target']}: " + ("met" if r["met"] else f"missed by {r['target'] - m['accuracy']:.3f}")])
    print(markdown_table(["data", "lstmlab accuracy", "macro-F1", "TF-IDF + LR accuracy", "majority class",
                          "training s (mean per run)", "target"], table))
    path = write_json(args.out, {"machine": machine_info(), "rows": results})
    print(f"wrote {path} and per-run logs in {log_dir}/")


if __name__ == "__main__":
    main()

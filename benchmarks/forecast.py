"""Forecasting benchmarks: lstmlab's forecaster beside naive, seasonal naive and drift, one invocation.

    flock /tmp/lstmlab-bench.lock .venv/bin/python benchmarks/forecast.py --out bench-results/forecast.json

Every row trains `lstmlab.forecast.train` on the series' training part, picks
the best checkpoint on the validation part, and runs the walk-forward backtest
of the test part (one origin per point, stride 1), in which the network and
the three baselines forecast from the same origins with the same history.
The airline row trains one network per seed and reports each and their mean,
so that no seed is picked. Budgets are in epochs, not minutes, so the
learning-rate schedule (cosine over the planned steps) and hence every figure
is the same on a slower or busier machine. Data: ../shared/data/timeseries (see
shared/data/SOURCES.md); nothing is copied.

Rows (the issue's targets):
- airline: 12-month-ahead MAPE over the last 24 months (origins 1959-01 ..
  1960-01) <= 4% and below seasonal naive's.
- temperatures: 7-day-ahead MAE over the last 365 days below seasonal naive
  with a season of 365.
- temperatures-gaussian: the same with a gaussian head; how often its 90%
  intervals hold the actual values (a calibrated interval: about 90%).
- sp500-1 / sp500-5: next-day and 5-day MASE of the closing price over the last
  two years (504 trading days), against naive; reported whatever it is.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine_info, markdown_table, set_threads, write_json  # noqa: E402

SERIES = REPO.parent / "shared" / "data" / "timeseries"
SP500_POINTS = 7252
# The recipe for small monthly series with a trend and a growing seasonal swing: model
# log-returns, one step at a time with each forecast fed back, starting from "no change".
AIRLINE = dict(lookback=24, horizon=12, transform="log-diff", output="recursive", residual=True,
               val_fraction=0.17, test_fraction=0.17, patience=100, epochs=300)
SP500 = dict(target="Close", lookback=60, transform="log-diff", season=1,
             val_fraction=0.1, test_fraction=504 / SP500_POINTS, epochs=30)

# name: (title, file, settings, seeds, metric, target description)
ROWS = {
    "airline": ("Airline passengers, 12 months ahead, last 24 months", "airline-passengers.csv", AIRLINE,
                5, "mape", "MAPE <= 4% and below seasonal naive"),
    "temperatures": ("Daily minimum temperatures, 7 days ahead, last 365 days", "daily-min-temperatures.csv",
                     dict(lookback=60, horizon=7, season=365, val_fraction=0.1, test_fraction=0.1, epochs=30),
                     1, "mae", "MAE below seasonal naive (m=365)"),
    "temperatures-gaussian": ("Daily minimum temperatures, 7 days ahead, gaussian head", "daily-min-temperatures.csv",
                              dict(lookback=60, horizon=7, season=365, val_fraction=0.1, test_fraction=0.1, epochs=30,
                                   distribution="gaussian"),
                              1, "mae", "report how often the 90% intervals hold the actual values"),
    "sp500-1": ("S&P 500 close, next day, last 2 years", "sp500_gspc_daily_1990-2018.csv", dict(SP500, horizon=1),
                1, "mase", "report MASE against naive"),
    "sp500-5": ("S&P 500 close, 5 days ahead, last 2 years", "sp500_gspc_daily_1990-2018.csv", dict(SP500, horizon=5),
                1, "mase", "report MASE against naive"),
}


def run_row(name: str, log_dir: Path) -> dict:
    import lstmlab.forecast as forecast

    title, file, settings, seeds, metric, target = ROWS[name]
    runs = []
    for seed in range(seeds):
        out = Path(tempfile.mkdtemp(prefix=f"forecast-{name}-"))
        shutil.rmtree(out)
        lines: list[str] = []
        start = time.monotonic()
        fc = forecast.train(str(SERIES / file), out, show_progress=False, log=lines.append, seed=seed, **settings)
        (log_dir / f"{name}-seed{seed}.log").write_text("\n".join(lines) + "\n")
        result = fc.report["backtest"]
        runs.append({"seed": seed, "wall_s": round(time.monotonic() - start, 1),
                     "train_s": fc.report["training"]["seconds"], "steps": fc.report["training"]["steps"],
                     "stop_reason": fc.report["training"]["stop_reason"], "origins": result["origins"],
                     "first_origin": result["first_origin"], "season": result["season"], "scores": result["scores"],
                     "intervals": result.get("intervals")})
        network = result["scores"]["lstmlab"][metric]
        print(f"{name} seed {seed}: lstmlab {metric} {network:.4g} | "
              + " | ".join(f"{k} {v[metric]:.4g}" for k, v in result["scores"].items() if k != "lstmlab")
              + f" ({runs[-1]['steps']} steps in {runs[-1]['train_s']:.0f}s)"
              + (f"; 90% intervals held {result['intervals']['coverage']:.1%}" if result.get("intervals") else ""),
              flush=True)
        shutil.rmtree(out)
    methods = list(runs[0]["scores"])
    mean = {m: {k: float(np.mean([r["scores"][m][k] for r in runs])) for k in ("mae", "rmse", "mape", "mase")}
            for m in methods}
    return {"row": name, "title": title, "source": str(SERIES / file), "settings": settings, "seeds": seeds,
            "metric": metric, "target": target, "mean": mean, "runs": runs}


def verdict(row: dict) -> str:
    mean, metric = row["mean"], row["metric"]
    network = mean["lstmlab"][metric]
    seasonal = next((v[metric] for k, v in mean.items() if k.startswith("seasonal")), None)
    if row["row"] == "airline":
        ok = network <= 4.0 and network < seasonal
        return "met" if ok else "missed"
    if row["runs"][0].get("intervals"):
        return f"intervals held {np.mean([r['intervals']['coverage'] for r in row['runs']]):.1%}"
    if row["row"] == "temperatures":
        return "met" if network < seasonal else "missed"
    return f"{network / mean['naive'][metric]:.3f}x naive's MASE"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows (default all: {','.join(ROWS)})")
    parser.add_argument("--out", default="bench-results/forecast.json")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    set_threads(args.threads)
    log_dir = Path(args.out).with_suffix("")
    log_dir.mkdir(parents=True, exist_ok=True)
    results = [run_row(name, log_dir) for name in args.rows.split(",")]
    table = []
    for r in results:
        for method, scores in r["mean"].items():
            per_seed = ""
            if method == "lstmlab" and r["seeds"] > 1:
                per_seed = " (" + " / ".join(f"{run['scores'][method][r['metric']]:.3g}" for run in r["runs"]) + ")"
            table.append([r["title"] if method == "lstmlab" else "", method,
                          f"{scores['mae']:.4g}", f"{scores['rmse']:.4g}", f"{scores['mape']:.3g}{per_seed if r['metric'] == 'mape' else ''}",
                          f"{scores['mase']:.3f}{per_seed if r['metric'] == 'mase' else ''}",
                          f"{r['target']}: {verdict(r)}" if method == "lstmlab" else ""])
    print(markdown_table(["series", "method", "MAE", "RMSE", "MAPE %", "MASE", "target"], table))
    path = write_json(args.out, {"machine": machine_info(), "rows": results})
    print(f"wrote {path} and per-run logs in {log_dir}/")


if __name__ == "__main__":
    main()

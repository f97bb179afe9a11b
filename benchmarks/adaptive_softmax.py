"""Training speed of a full softmax against an adaptive one, the model otherwise the same, over
vocabularies of several sizes: where the adaptive softmax starts to pay (config.ADAPTIVE_FROM),
and how much faster it trains at WikiText-2's full vocabulary (33,279 symbols).

    flock /tmp/lstmlab-bench.lock .venv/bin/python -u benchmarks/adaptive_softmax.py \\
        --out bench-results/adaptive_softmax.json

Each size is WikiText-2's train.txt read with --max-vocab N (the N - 2 most frequent types kept,
the rest <unk>), as `lstmlab train wikitext-2/ --level word --max-vocab N` reads it. Each row
trains the same untied model (default 2x200, embedding 200, 20 streams of 35 words, plain SGD)
for --steps steps with the full softmax (--adaptive-softmax off), then with the cutoffs the
run would get by default (presets.CUTOFFS below the size; sizes under the first cutoff have none
and are timed with the full softmax only). words/s is the trainer's own figure: training steps
only, validation excluded. The two heads of a size run one after the other in one invocation,
alternating, --repeats times; the table gives each one's median.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine_info, set_threads, write_json  # noqa: E402

DEFAULT_DATA = str(REPO.parent / "shared" / "data" / "text" / "wikitext-2")


def words_per_s(data: Path, run: Path, vocab: int, cutoffs: tuple[int, ...], args) -> float:
    import lstmlab
    from lstmlab.trainer import read_metrics

    if run.exists():
        shutil.rmtree(run)
    lstmlab.train(str(data), run, log=lambda line: None, show_progress=False, level="word", max_vocab=vocab,
                  max_steps=args.steps, eval_every=args.steps, eval_chars=2000, hidden_sizes=args.hidden,
                  embed_dim=args.embed_dim, tie_embeddings=False, adaptive_softmax=cutoffs,
                  batch_size=args.batch_size, seq_len=args.seq_len, optimizer="sgd", lr=20.0, momentum=0.0,
                  clip_grad_norm=0.25, ema_decay=0.0, warmup_steps=0, dropout=0.2, preset="base")
    return float([m for m in read_metrics(run) if "val_loss" in m][-1]["words_per_s"])


def main() -> None:
    from lstmlab.lm.config import CUTOFFS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="a folder holding train.txt and valid.txt")
    ap.add_argument("--sizes", default="1000,2000,3000,5000,10000,33279",
                    help="vocabulary sizes (--max-vocab), comma separated; 33279 is WikiText-2's whole vocabulary")
    ap.add_argument("--hidden", type=lambda t: tuple(int(x) for x in t.split(",")), default=(200, 200))
    ap.add_argument("--embed-dim", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--seq-len", type=int, default=35)
    ap.add_argument("--steps", type=int, default=200, help="training steps per timing")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--work", default="bench-results/adaptive_softmax")
    ap.add_argument("--out", default="bench-results/adaptive_softmax.json")
    args = ap.parse_args()
    set_threads(args.threads)
    data, work = Path(args.data), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine_info(), "args": {k: v for k, v in vars(args).items()}, "rows": []}
    print(f"{'vocabulary':>10} {'cutoffs':>18} {'full words/s':>13} {'adaptive words/s':>17} {'ratio':>6}")
    for size in (int(s) for s in args.sizes.split(",")):
        cutoffs = tuple(c for c in CUTOFFS if c < size - 1)
        full, adaptive = [], []
        for _ in range(args.repeats):
            full.append(words_per_s(data, work / "run", size, (), args))
            if cutoffs:
                adaptive.append(words_per_s(data, work / "run", size, cutoffs, args))
        row = {"vocabulary": size, "cutoffs": list(cutoffs), "full": full, "adaptive": adaptive,
               "full_median": statistics.median(full),
               "adaptive_median": statistics.median(adaptive) if adaptive else None}
        row["ratio"] = row["adaptive_median"] / row["full_median"] if adaptive else None
        result["rows"].append(row)
        write_json(Path(args.out), result)
        ratio = f"{row['ratio']:.2f}" if row["ratio"] else "-"
        adaptive_text = f"{row['adaptive_median']:,.0f}" if adaptive else "-"
        print(f"{size:>10,} {','.join(map(str, cutoffs)) or '-':>18} {row['full_median']:>13,.0f} "
              f"{adaptive_text:>17} {ratio:>6}", flush=True)
    print(json.dumps({"machine": result["machine"]}, indent=None))


if __name__ == "__main__":
    main()

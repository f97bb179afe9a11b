"""Word-level perplexity: lstmlab --level word against a Kneser-Ney trigram, one invocation.

    flock /tmp/lstmlab-bench.lock .venv/bin/python benchmarks/word_lm.py --minutes 10 --out bench-results/word_lm.json

Both models see exactly the same data: `crime_and_punishment.txt` prepared by
`lstmlab prepare --level word` (Gutenberg header and footer cut, lowercased,
words and punctuation marks as tokens), the last 10% of the tokens held out,
the vocabulary (words seen at least twice in the training part, plus <unk>)
built on the training part only. The trigram is fitted on the training ids and
scores the validation ids, so both share the tokenizer, the vocabulary and the
<unk> mapping.

The trigram is interpolated Kneser-Ney (Chen & Goodman 1998), written here in
plain Python dictionaries: absolute discounting at every order, lower orders
built from continuation counts (how many distinct words precede a word, not
how often it occurs), and a uniform distribution over the vocabulary at the
bottom so that every word has some probability. Two variants are scored: one
discount per order (D = n1 / (n1 + 2 n2)) and "modified" Kneser-Ney with three
discounts per order (for counts 1, 2 and 3+). Each is checked to sum to 1.

Perplexities (exp of the mean negative log-likelihood per word) are computed
on the same tokens: every validation token after the first, each given all the
text before it (the trigram sees the two previous tokens; the LSTM reads the
validation part as one stream, carrying its state). The trainer's own
validation figure (64 parallel streams, each starting from a fresh state, so
slightly worse) is reported too.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_TEXT, machine_info, set_threads, write_json  # noqa: E402


class KneserNeyTrigram:
    """Interpolated (optionally modified) Kneser-Ney trigram model over integer ids."""

    def __init__(self, ids: np.ndarray, vocab_size: int, modified: bool = True):
        ids = [int(i) for i in ids]
        self.V, self.modified = vocab_size, modified
        trigrams = Counter(zip(ids, ids[1:], ids[2:]))
        # Continuation counts: N1+(. v w) = distinct u before (v, w); N1+(. w) = distinct v before w.
        bigram_cont = Counter((v, w) for (_, v, w) in trigrams)
        unigram_cont = Counter(w for (_, w) in bigram_cont)
        self.d3 = self._discounts(trigrams.values())
        self.d2 = self._discounts(bigram_cont.values())
        self.d1 = self._discounts(unigram_cont.values())

        # Unigram level: discounted continuation counts + the discounted mass spread uniformly.
        total1 = sum(unigram_cont.values())
        freed = sum(self._d(self.d1, c) for c in unigram_cont.values())
        self.p1 = np.full(vocab_size, freed / total1 / (vocab_size - 1))  # uniform over every id but <pad> (0)
        self.p1[0] = 0.0
        for w, c in unigram_cont.items():
            self.p1[w] += (c - self._d(self.d1, c)) / total1

        self.c3, self.c2 = trigrams, bigram_cont
        self.ctx3_total: dict = defaultdict(int)
        self.ctx3_freed: dict = defaultdict(float)
        for (u, v, _), c in trigrams.items():
            self.ctx3_total[(u, v)] += c
            self.ctx3_freed[(u, v)] += self._d(self.d3, c)
        self.ctx2_total: dict = defaultdict(int)
        self.ctx2_freed: dict = defaultdict(float)
        for (v, _), c in bigram_cont.items():
            self.ctx2_total[v] += c
            self.ctx2_freed[v] += self._d(self.d2, c)

    def _discounts(self, counts) -> tuple[float, float, float]:
        n = Counter(c for c in counts if c <= 4)  # count-of-counts: how many n-grams occur exactly k times
        n1, n2, n3, n4 = (max(n[k], 1) for k in (1, 2, 3, 4))
        y = n1 / (n1 + 2 * n2)
        if not self.modified:
            return (y, y, y)
        # Kept within [0, k] so that no count is discounted below zero.
        return tuple(min(max(d, 0.0), k) for k, d in
                     ((1, 1 - 2 * y * n2 / n1), (2, 2 - 3 * y * n3 / n2), (3, 3 - 4 * y * n4 / n3)))

    @staticmethod
    def _d(discounts: tuple[float, float, float], count: int) -> float:
        return 0.0 if count == 0 else discounts[min(count, 3) - 1]

    def prob2(self, v: int, w: int) -> float:
        total = self.ctx2_total.get(v, 0)
        if not total:
            return float(self.p1[w])
        c = self.c2.get((v, w), 0)
        return (max(c - self._d(self.d2, c), 0.0) + self.ctx2_freed[v] * self.p1[w]) / total

    def prob(self, u: int, v: int, w: int) -> float:
        total = self.ctx3_total.get((u, v), 0)
        if not total:
            return self.prob2(v, w)
        c = self.c3.get((u, v, w), 0)
        return (max(c - self._d(self.d3, c), 0.0) + self.ctx3_freed[(u, v)] * self.prob2(v, w)) / total

    def score(self, history: np.ndarray, targets: np.ndarray) -> tuple[float, int]:
        """Total nats of `targets`, each given the (at most) two tokens before it in
        history + targets; with a single token of history, the first target gets the bigram."""
        history = [int(i) for i in history[-2:]]
        stream = history + [int(i) for i in targets]
        nll = 0.0
        for k in range(len(history), len(stream)):
            w, v = stream[k], stream[k - 1]
            nll -= math.log(self.prob(stream[k - 2], v, w) if k >= 2 else self.prob2(v, w))
        return nll, len(targets)


def check_normalised(model: KneserNeyTrigram, ids: np.ndarray, symbols: range) -> float:
    """Largest |sum_w p(w | u, v) - 1| over a few seen and unseen histories."""
    histories = [(int(ids[i]), int(ids[i + 1])) for i in (0, 100, 5000)] + [(symbols[-1], symbols[-2])]
    return max(abs(sum(model.prob(u, v, w) for w in symbols) - 1.0) for u, v in histories)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text", default=DEFAULT_TEXT)
    ap.add_argument("--minutes", type=float, default=10.0, help="lstmlab's training budget (evaluations included)")
    ap.add_argument("--out", default="bench-results/word_lm.json")
    ap.add_argument("--work", default="bench-results/word_lm", help="folder for the prepared corpus and the run")
    ap.add_argument("--hidden", default=None, help="lstmlab --hidden (default: lstmlab's own)")
    ap.add_argument("--embed-dim", type=int, default=None)
    ap.add_argument("--dropout", type=float, default=None)
    ap.add_argument("--seq-len", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--tie-embeddings", action="store_true")
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: one per core)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    set_threads(args.threads)

    import shutil

    import torch

    import lstmlab
    from lstmlab.lm.data import eval_streams
    from lstmlab.lm.task import score_batches
    from lstmlab.trainer import read_metrics

    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    prepared = lstmlab.prepare(args.text, work / "data", report=print, level="word")
    train_ids, val_ids = np.asarray(prepared.train, dtype=np.int64), np.asarray(prepared.val, dtype=np.int64)
    symbols = range(1, len(prepared.vocab))  # <pad> (0) never occurs; <unk> (1) is a symbol like any other, as for the LSTM

    result: dict = {"machine": machine_info(), "text": args.text, "minutes": args.minutes,
                    "train_tokens": len(train_ids), "val_tokens": len(val_ids), "vocabulary": len(prepared.vocab),
                    "val_unknown_share": float(np.mean(val_ids == 1)), "trigram": {}}
    for modified in (False, True):
        name = "modified_kneser_ney" if modified else "kneser_ney"
        t = time.monotonic()
        kn = KneserNeyTrigram(train_ids, len(prepared.vocab), modified=modified)
        nll, count = kn.score(val_ids[:1], val_ids[1:])
        seconds = time.monotonic() - t
        error = check_normalised(kn, train_ids, symbols)
        assert error < 1e-6, f"{name} does not sum to 1 ({error})"
        result["trigram"][name] = {"perplexity": math.exp(nll / count), "nats_per_word": nll / count,
                                   "scored": count, "discounts": [kn.d1, kn.d2, kn.d3], "seconds": round(seconds, 1),
                                   "normalisation_error": error}
        print(f"{name} trigram: perplexity {math.exp(nll / count):.2f} over {count:,} validation tokens "
              f"({seconds:.1f}s; sums to 1 within {error:.1e})", flush=True)

    settings = {"minutes": args.minutes, "seed": args.seed}
    if args.hidden:
        settings["hidden_sizes"] = tuple(int(h) for h in args.hidden.split(","))
    for key in ("embed_dim", "dropout", "seq_len", "batch_size", "lr", "eval_every"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if args.tie_embeddings:
        settings["tie_embeddings"] = True
    t = time.monotonic()
    lm = lstmlab.train(str(work / "data"), work / "run", log=print, show_progress=False, **settings)
    train_seconds = time.monotonic() - t
    metrics = read_metrics(work / "run")
    best = min(metrics, key=lambda m: m["val_loss"])
    kn_best = min(r["perplexity"] for r in result["trigram"].values())
    below = next((m for m in metrics if m["val_ppl"] < kn_best), None)
    # The same tokens as the trigram: the validation part as one stream, every token after the first.
    nll, count = score_batches(lm.model, eval_streams(val_ids, 256, max_streams=1), stateful=True)
    sample = lm.generate("the old woman", length=60, temperature=0.7, seed=1)
    cfg = lm.config
    result["lstmlab"] = {
        "perplexity": math.exp(nll / count), "nats_per_word": nll / count, "scored": count,
        "trainer_val_perplexity": best["val_ppl"], "trainer_val_loss": best["val_loss"], "best_step": best["step"],
        "steps": metrics[-1]["step"], "elapsed_s": metrics[-1]["elapsed_s"], "wall_s": round(train_seconds, 1),
        "words_per_s": metrics[-1].get("words_per_s"), "parameters": sum(p.numel() for p in lm.model.parameters()),
        "model": {"cell": cfg.model.cell, "hidden_sizes": list(cfg.model.hidden_sizes), "embed_dim": cfg.model.embed_dim,
                  "dropout": cfg.model.dropout, "tie_embeddings": cfg.model.tie_embeddings},
        "train": {"seq_len": cfg.objective.seq_len, "batch_size": cfg.train.batch_size, "lr": cfg.train.lr,
                  "eval_every": cfg.train.eval_every, "precision": cfg.train.precision},
        "sample": sample, "torch_threads": torch.get_num_threads(),
        # The trainer's validations: when its (slightly pessimistic) 64-stream perplexity first beat the better trigram.
        "first_below_trigram": {"step": below["step"], "elapsed_s": below["elapsed_s"]} if below else None,
        "curve": [{"step": m["step"], "elapsed_s": m["elapsed_s"], "val_ppl": round(m["val_ppl"], 2)} for m in metrics],
    }
    result["lstmlab_beats_trigram"] = result["lstmlab"]["perplexity"] < kn_best
    print(f"\nvalidation perplexity on {count:,} tokens (vocabulary {len(prepared.vocab):,}, "
          f"{result['val_unknown_share']:.2%} <unk>):")
    for name, r in result["trigram"].items():
        print(f"  {name.replace('_', '-') + ' trigram':<30} {r['perplexity']:8.2f}")
    print(f"  {f'lstmlab ({args.minutes:g} min)':<30} {result['lstmlab']['perplexity']:8.2f}   "
          f"(trainer's 64-stream validation: {best['val_ppl']:.2f} at step {best['step']})")
    if below:
        print(f"the trainer's validation perplexity first beat the better trigram at step {below['step']} "
              f"({below['elapsed_s']:.0f} s)")
    print(f"sample: {sample}")
    print(f"wrote {write_json(args.out, result)}")


if __name__ == "__main__":
    main()

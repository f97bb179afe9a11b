"""A standard word-level corpus (WikiText-2 by default): PyTorch's word_language_model recipe in
plain torch beside lstmlab, for the same minutes, both scored on test.txt by one scorer.

    flock /tmp/lstmlab-bench.lock .venv/bin/python benchmarks/standard_lm.py --minutes 10 \\
        --out bench-results/standard_lm.json
    # lstmlab given the example's own settings through its flags, beside the same plain-torch run:
    ... benchmarks/standard_lm.py --recipe example
    # both lstmlab rows beside one plain-torch run:
    ... benchmarks/standard_lm.py --recipe defaults,example

The data is a folder holding train.txt, valid.txt and test.txt (--data; the layout of PTB,
WikiText-2 and the example). Both sides read it as the literature does: tokens are what
whitespace separates, one <eos> at every line end, the vocabulary every type of the files.

The example (github.com/pytorch/examples, word_language_model/main.py and model.py), written
out here in plain torch with its defaults: an embedding of 200, two LSTM layers of 200, the
output tied to the embedding (--tied), dropout 0.2 on the embedding's output, between the
layers and before the output; embedding and output drawn from U(-0.1, 0.1), output bias 0;
20 streams (batchify) read 35 tokens at a time (bptt) with the state carried; the mean cross
entropy, gradient norm clipped to 0.25, plain SGD at lr 20 (p -= lr * grad); validation on
valid.txt in 10 streams after every epoch, the lr divided by 4 when it does not improve, and
the best epoch's model kept. Its budget here is wall-clock minutes instead of 40 epochs:
training stops when the time is up, is validated once more, and the better of that model and
the best epoch's is scored.

lstmlab is called through its Python API, as `lstmlab train DATA --level word --minutes M`
would: "defaults" gives nothing else; "example" gives the example's settings as flags.

The 30-minute table (issue 24) adds the `awd` preset (AWD-LSTM's regularisers), a row per
regulariser of it turned off (recipe awd-no-NAME; awd-no-adaptive-softmax gives the full softmax's
words/s beside the adaptive one's, the model otherwise the same) and AWD-LSTM's averaged SGD in
place of the moving average (awd-with-nt-asgd):

    ... benchmarks/standard_lm.py --minutes 30 --recipe defaults,awd,awd-no-weight-drop

The scorer (`score_stream`) is the same for every model: test.txt read as one stream with the
state carried, from an empty state, the first token read and every later one scored (the
example's convention; 245,568 of WikiText-2 test's 245,569 tokens). lstmlab's own
`lstmlab evaluate RUN test.txt` figure (every token, the first predicted after an <eos>) is
printed beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine_info, set_threads, write_json  # noqa: E402

DEFAULT_DATA = str(REPO.parent / "shared" / "data" / "text" / "wikitext-2")

# The published figures these rows are known by (test perplexity, WikiText-2), as text beside
# the table; none is measured here.
PUBLISHED = [
    ("AWD-LSTM (Merity et al. 2017): 3x1150 LSTM, 24M parameters, 750 GPU epochs", 65.8),
    ("PyTorch example's users: 2x650 tied, 40 epochs", 86.7),
    ("PyTorch example's users: its 2x200 tied default, 40 epochs", "about 100"),
]

# The example's defaults (main.py's argparse), with --tied as its README's figures use.
EXAMPLE = dict(emsize=200, nhid=200, nlayers=2, lr=20.0, clip=0.25, bptt=35, batch_size=20, dropout=0.2,
               eval_batch_size=10, tied=True)

# lstmlab's flags for the same recipe (the settings' Python names). eval_every is one epoch,
# filled in once the corpus is read; plateau with patience 1 and gamma 0.25 is "lr /= 4 after an
# epoch without improvement"; no warm-up, averaging or early stopping, as the example has none.
EXAMPLE_FLAGS = dict(hidden_sizes=(200, 200), embed_dim=200, tie_embeddings=True, dropout=0.2, optimizer="sgd",
                     momentum=0.0, lr=20.0, clip_grad_norm=0.25, seq_len=35, batch_size=20, schedule="plateau",
                     gamma=0.25, plateau_patience=1, warmup_steps=0, ema_decay=0.0, patience=0, eval_chars=0)

# The engine's differences from the example that the diagnosis found (BENCHMARKS.md §17), each
# put back on its own over the example's flags: recipe "example-NAME". "all" is lstmlab before
# the fix given the example's flags (the 405.8 row).
OLD_TIED_RANGE = math.sqrt(3.0)  # U(-sqrt 3, sqrt 3) has N(0, 1)'s spread: nn.Embedding's start
ABLATIONS = {
    "momentum": {"momentum": 0.9},  # lstmlab's sgd had momentum 0.9 built in
    "normal-init": {},  # the tied embedding drawn with N(0, 1)'s spread (see OLD_TIED_RANGE)
    "no-embed-dropout": {"embed_dropout": 0.0},  # dropout only between layers and before the output
    "averaging": {"ema_decay": 0.998, "warmup_steps": 50},  # lstmlab's averaged weights and warm-up
    "all": {"momentum": 0.9, "embed_dropout": 0.0},  # with normal-init too
    "fp32": {"precision": "fp32"},  # not an old way: the example's own precision, for the same arithmetic
}


# The awd preset (recipe "awd": --preset awd) with one of AWD-LSTM's regularisers turned off (recipe
# "awd-no-NAME"), for the 30-minute table: each row differs from "awd" by this setting alone. At
# 945d166 the awd preset was the 30-minute default, and these recipes were called defaults-no-NAME.
REGULARISER_ABLATIONS = {
    "weight-drop": {"weight_drop": 0.0},
    "word-dropout": {"word_dropout": 0.0},
    "locked-dropout": {"locked_dropout": False},
    "ar-tar": {"ar": 0.0, "tar": 0.0},
    "variable-seq-len": {"variable_seq_len": False},
    "averaging": {"ema_decay": 0.0},
    "adaptive-softmax": {"adaptive_softmax": ()},
    # Every regulariser at once: the untied 2x200 with an adaptive softmax and plain dropout.
    "regularisers": {"weight_drop": 0.0, "word_dropout": 0.0, "locked_dropout": False, "ar": 0.0, "tar": 0.0,
                     "variable_seq_len": False, "ema_decay": 0.0, "dropout": 0.2, "embed_dropout": 0.2},
}

# ... and with one thing in place of the preset's own (recipe "awd-with-NAME").
VARIANTS = {
    "nt-asgd": {"nt_asgd": 5},  # AWD-LSTM's averaged SGD (its nonmono 5) in place of the moving average
}


def read_split(folder: Path, name: str) -> list[str]:
    """The example's data.Corpus.tokenize: line.split() + ['<eos>'] for every line."""
    words: list[str] = []
    with open(folder / name, encoding="utf-8") as fh:
        for line in fh:
            words.extend(line.split() + ["<eos>"])
    return words


def score_stream(model, ids, chunk: int = 1024) -> tuple[float, int]:
    """Total nats and count of ids[1:], each predicted from everything before it: one stream,
    the state carried from an empty start. `model(x (1, T), state)` -> logits (1, T, V), state."""
    import torch
    import torch.nn.functional as F

    data = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    nll, count, state = 0.0, 0, None
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(data) - 1, chunk):
            x = data[start : start + chunk][None]
            y = data[start + 1 : start + chunk + 1][None]
            x = x[:, : y.shape[1]]
            logits, state = model(x, state)
            nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    return nll, count


def example_model(vocab_size: int):
    """model.py's RNNModel('LSTM', ...) with the example's defaults, batch-first for the scorer."""
    import torch
    from torch import nn

    class RNNModel(nn.Module):
        def __init__(self):
            super().__init__()
            e = EXAMPLE
            self.drop = nn.Dropout(e["dropout"])
            self.encoder = nn.Embedding(vocab_size, e["emsize"])
            self.rnn = nn.LSTM(e["emsize"], e["nhid"], e["nlayers"], dropout=e["dropout"], batch_first=True)
            self.decoder = nn.Linear(e["nhid"], vocab_size)
            if e["tied"]:
                self.decoder.weight = self.encoder.weight
            nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

        def forward(self, x, state=None):
            out, state = self.rnn(self.drop(self.encoder(x)), state)
            return self.decoder(self.drop(out)), state

    return RNNModel()


def batchify(ids: np.ndarray, streams: int):
    """main.py's batchify, batch-first: (streams, tokens // streams), the remainder dropped."""
    import torch

    n = len(ids) // streams
    return torch.as_tensor(ids[: n * streams].astype(np.int64)).view(streams, n)


def run_example(data: Path, minutes: float, seed: int, max_epochs: float | None = None, log=print) -> dict:
    """The example's training loop for `minutes` of wall-clock time (or `max_epochs`, whichever
    comes first); returns its figures."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    e = EXAMPLE
    splits = {name: read_split(data, f"{name}.txt") for name in ("train", "valid", "test")}
    index: dict[str, int] = {}
    for name in ("train", "valid", "test"):  # data.Dictionary grows over all three files
        for word in splits[name]:
            index.setdefault(word, len(index))
    ids = {name: np.fromiter((index[w] for w in words), dtype=np.int64) for name, words in splits.items()}
    train, valid = batchify(ids["train"], e["batch_size"]), batchify(ids["valid"], e["eval_batch_size"])
    model = example_model(len(index))

    def evaluate(source) -> float:
        model.eval()
        total, count, state = 0.0, 0, None
        with torch.inference_mode():
            for i in range(0, source.shape[1] - 1, e["bptt"]):
                seq = min(e["bptt"], source.shape[1] - 1 - i)
                x, y = source[:, i : i + seq], source[:, i + 1 : i + 1 + seq]
                logits, state = model(x, state)
                total += F.cross_entropy(logits.reshape(-1, len(index)), y.reshape(-1), reduction="sum").item()
                count += y.numel()
        return total / count

    lr, best_val, best_state, epochs, steps = e["lr"], math.inf, None, 0.0, 0
    history = []
    start = time.monotonic()
    deadline = start + minutes * 60
    words = 0
    time_up = False
    while not time_up:
        model.train()
        state = None
        batches = range(0, train.shape[1] - 1, e["bptt"])
        for n, i in enumerate(batches):
            if max_epochs is not None and epochs + n / len(batches) >= max_epochs:
                time_up = True
                epochs += n / len(batches)
                break
            if time.monotonic() >= deadline:
                time_up = True
                epochs += n / len(batches)
                break
            seq = min(e["bptt"], train.shape[1] - 1 - i)
            x, y = train[:, i : i + seq], train[:, i + 1 : i + 1 + seq]
            state = None if state is None else tuple(s.detach() for s in state)  # repackage_hidden
            model.zero_grad()
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, len(index)), y.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), e["clip"])
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-lr)
            steps += 1
            words += y.numel()
        else:
            epochs += 1
            time_up = max_epochs is not None and epochs >= max_epochs
        val = evaluate(valid)
        history.append({"epoch": round(epochs, 3), "val_ppl": math.exp(val), "lr": lr,
                        "elapsed_s": round(time.monotonic() - start, 1)})
        log(f"example: epoch {epochs:.2f} | val perplexity {math.exp(val):.2f} | lr {lr:g} | "
            f"{time.monotonic() - start:.0f}s")
        if val < best_val:
            best_val, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
        else:
            lr /= 4.0
    train_seconds = time.monotonic() - start
    model.load_state_dict(best_state)
    t = time.monotonic()
    nll, count = score_stream(model, ids["test"])
    first_epoch = next((h["val_ppl"] for h in history if h["epoch"] >= 1), None)
    return {"test_ppl": math.exp(nll / count), "scored": count, "val_ppl": math.exp(best_val), "epochs": epochs,
            "val_ppl_epoch_1": first_epoch,
            "steps": steps, "words_per_s": round(words / train_seconds, 1), "seconds": round(train_seconds, 1),
            "score_seconds": round(time.monotonic() - t, 1), "vocabulary": len(index),
            "parameters": sum(p.numel() for p in model.parameters()), "history": history}


def run_lstmlab(data: Path, work: Path, minutes: float, seed: int, recipe: str, extra: dict, log=print) -> dict:
    """`lstmlab train DATA --level word --minutes M` (plus the example's flags for recipe "example",
    and one of the engine's old ways for "example-NAME", see ABLATIONS)."""
    import lstmlab
    import lstmlab.lm.model
    from lstmlab.lm.data import PreparedCorpus, StreamBatches
    from lstmlab.trainer import read_metrics

    run = work / f"lstmlab-{recipe}"
    if run.exists():
        shutil.rmtree(run)
    settings: dict = {"level": "word", "minutes": minutes, "seed": seed}
    ablation = recipe.removeprefix("example-") if recipe.startswith("example-") else None
    if recipe == "awd" or recipe.startswith("awd-"):
        settings["preset"] = "awd"
    if recipe.startswith("awd-no-"):
        settings.update(REGULARISER_ABLATIONS[recipe.removeprefix("awd-no-")])
    if recipe.startswith("awd-with-"):
        settings.update(VARIANTS[recipe.removeprefix("awd-with-")])
    if recipe == "example" or ablation:
        settings.update(EXAMPLE_FLAGS)
        # One validation an epoch, as the example: the corpus is prepared once to count the steps.
        prepared = lstmlab.prepare(str(data), work / "prepared", report=None, level="word")
        settings["eval_every"] = StreamBatches(prepared.train, 20, 35, seed).steps_per_epoch
        settings.update(ABLATIONS.get(ablation, {}))
    settings.update(extra)
    tied_range = lstmlab.lm.model.TIED_INIT_RANGE
    if ablation in ("normal-init", "all"):
        lstmlab.lm.model.TIED_INIT_RANGE = OLD_TIED_RANGE
    t = time.monotonic()
    try:
        lm = lstmlab.train(str(data), run, log=log, show_progress=False, **settings)
    finally:
        lstmlab.lm.model.TIED_INIT_RANGE = tied_range
    wall = time.monotonic() - t
    metrics = [m for m in read_metrics(run) if "val_loss" in m]
    best = min(metrics, key=lambda m: m["val_loss"])
    prepared = PreparedCorpus.open(run / "data")
    test_ids = lm.encode(Path(data, "test.txt").read_text(encoding="utf-8"), warn=None)
    t = time.monotonic()
    nll, count = score_stream(lm.model, test_ids)
    score_seconds = time.monotonic() - t
    # lstmlab's own scorer too, for the rows a user would run (an ablation needs only one figure).
    own = lm.evaluate_file(Path(data, "test.txt")) if recipe in ("defaults", "example", "awd") else None
    cfg = lm.config
    first_epoch = next((m["val_ppl"] for m in metrics if m["epoch"] >= 1), None)
    return {"test_ppl": math.exp(nll / count), "scored": count, "val_ppl": best["val_ppl"],
            "val_ppl_epoch_1": first_epoch,
            "evaluate_ppl": own and own.perplexity, "evaluate_tokens": own and own.words,
            "epochs": metrics[-1]["epoch"], "steps": metrics[-1]["step"],
            "words_per_s": metrics[-1].get("words_per_s"), "seconds": round(wall, 1),
            "score_seconds": round(score_seconds, 1), "vocabulary": len(prepared.vocab),
            "parameters": sum(p.numel() for p in lm.model.parameters()),
            "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()},
            "config": json.loads(cfg.to_json())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="a folder holding train.txt, valid.txt and test.txt")
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget of each run (default 10)")
    ap.add_argument("--recipe", default="defaults",
                    help="lstmlab's rows, comma separated: defaults (nothing given), example (the example's settings "
                         "as lstmlab flags), awd (--preset awd), awd-no-NAME (awd with one regulariser off: "
                         + ", ".join(REGULARISER_ABLATIONS) + "), awd-with-NAME (" + ", ".join(VARIANTS)
                         + " in place of the preset's own)")
    ap.add_argument("--epochs", type=float, help="also stop every run after this many epochs (for the diagnosis)")
    ap.add_argument("--train-lines", type=int,
                    help="train on the first N lines of train.txt only (a slice for the diagnosis; valid.txt and "
                         "test.txt whole)")
    ap.add_argument("--valid-lines", type=int,
                    help="with --train-lines: validate and test on the first N lines of valid.txt and test.txt")
    ap.add_argument("--set", default="{}", help="JSON settings added to every lstmlab row (for trials)")
    ap.add_argument("--no-example", action="store_true", help="leave out the plain-torch example (for trials only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--work", default="bench-results/standard_lm")
    ap.add_argument("--out", default="bench-results/standard_lm.json")
    args = ap.parse_args()
    set_threads(args.threads)
    data, work = Path(args.data), Path(args.work)
    if not (data / "train.txt").is_file():
        sys.exit(f"{data} holds no train.txt; give --data a folder with train.txt, valid.txt and test.txt")
    work.mkdir(parents=True, exist_ok=True)
    recipes = [r.strip() for r in args.recipe.split(",") if r.strip()]
    known = {"defaults", "example", *(f"example-{name}" for name in ABLATIONS),
             "awd", *(f"awd-no-{name}" for name in REGULARISER_ABLATIONS), *(f"awd-with-{name}" for name in VARIANTS)}
    unknown = set(recipes) - known
    if unknown:
        sys.exit(f"unknown --recipe {', '.join(sorted(unknown))}; choose from {', '.join(sorted(known))}")
    if args.train_lines:
        sliced = work / f"data-{args.train_lines}-{args.valid_lines}-lines"
        sliced.mkdir(parents=True, exist_ok=True)
        for name in ("train.txt", "valid.txt", "test.txt"):
            lines = args.train_lines if name == "train.txt" else args.valid_lines
            with open(data / name, encoding="utf-8") as fh:
                (sliced / name).write_text("".join(line for n, line in enumerate(fh) if not lines or n < lines),
                                           encoding="utf-8")
        data = sliced
    extra = json.loads(args.set)
    if args.epochs:
        extra["epochs"] = args.epochs
    result: dict = {"machine": machine_info(), "data": str(data), "minutes": args.minutes, "epochs": args.epochs,
                    "train_lines": args.train_lines, "seed": args.seed, "published": PUBLISHED, "lstmlab": {}}
    if not args.no_example:
        result["example"] = run_example(data, args.minutes, args.seed, args.epochs)
        write_json(Path(args.out), result)
    for recipe in recipes:
        result["lstmlab"][recipe] = run_lstmlab(data, work, args.minutes, args.seed, recipe, extra)
        write_json(Path(args.out), result)

    print(f"\n{data.name}, {args.minutes:g} minutes each, test.txt scored as one stream (tokens after the first)")
    print(f"{'run':<38} {'test ppl':>9} {'valid ppl':>9} {'val@ep1':>8} {'epochs':>7} {'words/s':>9} {'ratio':>6}")
    reference = result.get("example", {}).get("test_ppl")
    rows = ([("PyTorch example, plain torch", result["example"])] if "example" in result else [])
    rows += [(f"lstmlab {recipe}", r) for recipe, r in result["lstmlab"].items()]
    for name, r in rows:
        ratio = f"{r['test_ppl'] / reference:.3f}" if reference else "-"
        first = f"{r['val_ppl_epoch_1']:.2f}" if r.get("val_ppl_epoch_1") else "-"
        print(f"{name:<38} {r['test_ppl']:>9.2f} {r['val_ppl']:>9.2f} {first:>8} {r['epochs']:>7.2f} "
              f"{r['words_per_s'] or 0:>9,.0f} {ratio:>6}")
    for recipe, r in result["lstmlab"].items():
        if r["evaluate_ppl"] is None:
            continue
        print(f"lstmlab evaluate (lstmlab {recipe}): perplexity {r['evaluate_ppl']:.2f} over "
              f"{r['evaluate_tokens']:,} tokens")
    print("published (test perplexity, not measured here):")
    for name, figure in PUBLISHED:
        print(f"  {name}: {figure}")


if __name__ == "__main__":
    main()

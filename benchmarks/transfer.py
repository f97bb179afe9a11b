"""Classifiers that start from a language model (ULMFiT), beside today's GloVe recipe and TF-IDF + LR.

Each row of benchmarks/classify.py (airline 3-class, airline positive-vs-rest, Pang & Lee 5-fold,
UCI imdb sentences 5-fold) is trained three ways, each fold on the same split:

    glove    today's default recipe (GloVe 6B 50d vectors, bidirectional LSTM): BENCHMARKS.md §8b
    lm       --init-from the pretrained language model, no language-model fine-tuning
    ulmfit   --init-from it with --lm-finetune MINUTES: the language model is first fine-tuned on
             the fold's training texts (never its validation or test texts), then classifies

and every run fits TF-IDF (words and word pairs) + logistic regression on its split beside it
(classify.train's baseline), so each row's comparison is made in this one invocation.

Pretraining (cached in WORK/pretrained-<minutes>m, reused by later invocations): a word-level
language model on WikiText-2's train.txt (valid.txt validates), read with lstmlab's word tokenizer
(lowercased words and punctuation marks), the tokenizer the classifier uses on raw reviews and
tweets. WikiText is tokenized already, so it is turned back into running text first: its
" @-@ ", " @,@ " and " @.@ " marks are joined ("state @-@ of @-@ the @-@ art" -> "state-of-the-art",
"1 @,@ 000" -> "1,000"), its <unk> tokens and " = Heading = " lines are dropped. Its preset is the
word-level table's choice for the budget (lm/presets.py). Each fine-tuned language model is cached
in WORK/finetuned/ROW-foldK-<minutes>m-from-PRETRAINED (plus a hash of the --set entries that change
its data: the split, the tokenizer, the vocabulary) and reused.

    flock /tmp/lstmlab-bench.lock .venv/bin/python -u benchmarks/transfer.py --rows polarity --folds 0 \\
        --ways lm,ulmfit --out bench-results/transfer-polarity.json

The whole table is several hours on this machine; --rows, --folds and --ways let it be filled
over several invocations (each states its own).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classify import ROWS  # noqa: E402
from common import REPO, machine_info, markdown_table, set_threads, write_json  # noqa: E402

from lstmlab.classify.config import LabelledDataConfig  # noqa: E402

WIKITEXT = REPO.parent / "shared" / "data" / "text" / "wikitext-2"
WAYS = ("glove", "lm", "ulmfit")
# The settings that change what --lm-finetune trains: the data's (split, tokenizer, vocabulary), the
# unlabelled texts, and the fine-tuning's own budget.
LM_SETTINGS = {f.name for f in dataclasses.fields(LabelledDataConfig)} | {"unlabelled", "lm_finetune"}
_JOINS = [(re.compile(r" @([-,.])@ "), r"\1")]
_HEADING = re.compile(r"^\s*=.*=\s*$")


def running_text(tokenized: str) -> str:
    """WikiText's tokenized lines as running text for lstmlab's word tokenizer (see the docstring)."""
    lines = []
    for line in tokenized.splitlines():
        if _HEADING.match(line) or not line.strip():
            continue
        for pattern, joined in _JOINS:
            line = pattern.sub(joined, line)
        lines.append(line.replace(" <unk>", "").replace("<unk> ", "").strip())
    return "\n".join(lines) + "\n"


def pretrained(work: Path, minutes: float, log) -> Path:
    """The pretrained language model's run folder, trained now unless cached."""
    import lstmlab

    run = work / f"pretrained-{minutes:g}m"
    if (run / "model.safetensors").is_file():
        log(f"pretrained language model: reusing {run}")
        return run
    texts = work / "wikitext-2-running"
    texts.mkdir(parents=True, exist_ok=True)
    for name in ("train.txt", "valid.txt"):
        (texts / name).write_text(running_text((WIKITEXT / name).read_text(encoding="utf-8")), encoding="utf-8")
    start = time.monotonic()
    lines: list[str] = []
    lstmlab.train(str(texts / "train.txt"), run, level="word", val_source=str(texts / "valid.txt"), minutes=minutes,
                  log=lines.append, show_progress=False)
    (work / f"pretrained-{minutes:g}m.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    log(f"pretrained {run} in {time.monotonic() - start:.0f}s: " + next(
        (line for line in reversed(lines) if line.startswith("stopped after")), ""))
    return run


def run_way(row: str, way: str, fold, lm_run: Path, args, log_dir: Path) -> dict:
    import lstmlab.classify as classify

    title, source, settings, folds, minutes, target = ROWS[row]
    out = Path(tempfile.mkdtemp(prefix=f"transfer-{row}-{way}-"))
    shutil.rmtree(out)
    split = dict(folds=folds, fold=fold) if folds else {}
    extra = json.loads(args.set)
    if way == "glove":
        way_settings = {"minutes": minutes}
    else:
        way_settings = {"init_from": str(lm_run), "minutes": args.classifier_minutes}
    cached = None
    if way == "ulmfit":
        way_settings["lm_finetune"] = args.lm_minutes
        # Data settings given with --set may change the split (--val-fraction, --split-seed) or the
        # vocabulary (--min-freq), and with them the language model's fine-tuning: they are part of
        # the key. The classifier's own settings are not, so trials of them reuse one model.
        changes_lm = {k: v for k, v in extra.items() if k in LM_SETTINGS}
        given = "" if not changes_lm else "-set" + hashlib.sha1(
            json.dumps(changes_lm, sort_keys=True).encode()).hexdigest()[:8]
        cached = (Path(args.work) / "finetuned" /
                  f"{row}-fold{fold if folds else 0}-{args.lm_minutes:g}m-from-{lm_run.name}{given}")
        if (cached / "model.safetensors").is_file():
            shutil.copytree(cached, out / "lm")  # the classifier reuses RUN/lm
    lines: list[str] = []
    start = time.monotonic()
    classify.train(str(source), out, show_progress=False, log=lines.append,
                   **{**settings, **split, **way_settings, **extra})
    wall = time.monotonic() - start
    if cached is not None and not (cached / "model.safetensors").is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(out / "lm", cached)
    report = json.loads((out / "report.json").read_text())
    name = f"{row}-{way}{'' if not folds else f'-fold{fold}'}"
    (log_dir / f"{name}.log").write_text("\n".join(lines) + "\n")
    lm_line = next((line for line in lines if line.startswith("stopped after") and "nats/word" in line), "")
    result = {
        "row": row, "way": way, "fold": fold, "wall_s": round(wall, 1), "train_s": report["training"]["seconds"],
        "steps": report["training"]["steps"], "stop_reason": report["training"]["stop_reason"],
        "accuracy": report["classifier"]["accuracy"], "macro_f1": report["classifier"]["macro_f1"],
        "baseline_accuracy": report["baseline"]["accuracy"], "lm_finetune": lm_line,
        "reused_lm": cached is not None and (out / "lm").is_dir() and "reusing it" in "\n".join(lines),
    }
    print(f"{name}: accuracy {result['accuracy']:.4f} (TF-IDF + LR {result['baseline_accuracy']:.4f}), "
          f"{result['steps']} steps, {wall / 60:.1f} min in all ({result['stop_reason']})", flush=True)
    shutil.rmtree(out)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma separated (default all: {','.join(ROWS)})")
    ap.add_argument("--ways", default=",".join(WAYS), help=f"comma separated (default all: {','.join(WAYS)})")
    ap.add_argument("--folds", help="comma-separated folds of the 5-fold rows (default all)")
    ap.add_argument("--pretrain-minutes", type=float, default=30.0, help="the language model's pretraining budget")
    ap.add_argument("--lm-minutes", type=float, default=5.0, help="--lm-finetune of the ulmfit way")
    ap.add_argument("--classifier-minutes", type=float, default=8.0,
                    help="the lm and ulmfit ways' classifier budget per run (the glove way keeps its row's)")
    ap.add_argument("--set", default="{}", help="JSON settings added to every lm and ulmfit run (for trials)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--work", default="bench-results/transfer")
    ap.add_argument("--out", default="bench-results/transfer.json")
    args = ap.parse_args()
    set_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    log_dir = Path(args.out).with_suffix("")
    log_dir.mkdir(parents=True, exist_ok=True)
    ways = args.ways.split(",")
    unknown = sorted(set(ways) - set(WAYS))
    if unknown:
        ap.error(f"unknown way(s) {', '.join(unknown)}; choose from {', '.join(WAYS)}")
    lm_run = pretrained(work, args.pretrain_minutes, print) if set(ways) - {"glove"} else Path()
    results = []
    for row in args.rows.split(","):
        folds = ROWS[row][3]
        chosen = [int(f) for f in args.folds.split(",")] if args.folds and folds else (range(folds) if folds else [None])
        for way in ways:
            results.append({"row": row, "way": way,
                            "runs": [run_way(row, way, fold, lm_run, args, log_dir) for fold in chosen]})
    table = []
    for r in results:
        runs = r["runs"]
        mean = lambda key: float(np.mean([run[key] for run in runs]))  # noqa: E731
        folds = " / ".join(f"{run['accuracy']:.3f}" for run in runs) if runs[0]["fold"] is not None else ""
        table.append([ROWS[r["row"]][0], r["way"], f"{mean('accuracy'):.4f}" + (f" ({folds})" if folds else ""),
                      f"{mean('baseline_accuracy'):.4f}", f"{mean('accuracy') - mean('baseline_accuracy'):+.4f}",
                      f"{mean('wall_s') / 60:.1f}"])
    print(markdown_table(["data", "way", "accuracy", "TF-IDF + LR", "difference", "minutes per run"], table))
    path = write_json(args.out, {"machine": machine_info(), "args": vars(args), "pretrained": str(lm_run),
                                 "results": results})
    print(f"wrote {path} and per-run logs in {log_dir}/")


if __name__ == "__main__":
    main()

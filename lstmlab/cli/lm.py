"""`lstmlab prepare|train|generate|evaluate|summary|inspect|import-keras|corpora|presets`: the
language-model commands, a thin shell over lstmlab.lm (and lstmlab.inspect for the page)."""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import textwrap
from pathlib import Path
from typing import Optional

from ..cells import cells_help
from ..config import CELLS, OPTIMIZERS, PRECISIONS, SCHEDULES, TrainConfig
from ..errors import LstmlabError
from ..inspect import page
from ..lm.config import (INPUTS, LEVELS, OBJECTIVES, WORD_TOKENIZERS, DataConfig, ModelConfig, ObjectiveConfig,
                         RunConfig, check_input_settings)
from ..lm.corpus import BUILTIN_CORPORA, load_text
from ..lm.keras_import import import_keras
from ..lm.summary import format_summary
from ..lm.presets import PRESETS, TABLE_INTRO, WORD_MODEL_DEFAULTS, WORD_TRAIN_DEFAULTS, presets_text, table_text
from ..lm.train import prepare, train
from ..lm.trained import check_sampling, load
from .flags import (PRECISION_HELP, add_device_flag, add_run_options, check_seed, cutoffs, default_of, given, layer_sizes,
                    run_folder)

CORPUS_HELP = ("a .txt file, a folder of .txt files, an http(s) URL, gutenberg:<id>, "
               f"or a built-in corpus ({', '.join('builtin:' + n for n in BUILTIN_CORPORA)})")


def _word_defaults_text() -> str:
    return " ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in {**WORD_MODEL_DEFAULTS, **WORD_TRAIN_DEFAULTS}.items())


def _train_description() -> str:
    """train --help's text: what it writes, then the preset table (lstmlab presets prints more)."""
    intro = ("Train a character language model (--level word: a word-level one). Writes RUN/config.json, "
             "vocab.json (tokenizer.json at word level), model.safetensors (best), checkpoint.safetensors (last, "
             "resumable), metrics.jsonl and loss.png. Settings not given come from a preset, chosen by this table "
             "(`lstmlab presets` lists each preset's settings):")
    return f"{textwrap.fill(intro, 100)}\n\n{table_text()}\n\n{textwrap.fill(TABLE_INTRO, 100)}"


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cleaning the text")
    g.add_argument("--level", choices=LEVELS,
                   help="char: a character-level model (default); word: word tokens (see --tokenizer), scored by "
                        f"perplexity per word (its runs default to {_word_defaults_text()})")
    g.add_argument("--tokenizer", choices=WORD_TOKENIZERS,
                   help="--level word: word splits raw text into lowercased words and punctuation marks, with a "
                        "capped vocabulary (the default); whitespace reads a corpus that is already tokenized (PTB, "
                        "WikiText): tokens as written, <eos> at every line end, <unk> as the unknown token, and "
                        "every training type in the vocabulary (the default for a folder holding train.txt, "
                        "valid.txt and test.txt)")
    g.add_argument("--encoding", help=f"text encoding of the corpus files (default {default_of(DataConfig, 'encoding')}); try latin-1 for old files")
    g.add_argument("--no-strip-gutenberg", dest="strip_gutenberg", action="store_false", default=None,
                   help="keep Project Gutenberg headers and footers (they are cut by default)")
    case = g.add_mutually_exclusive_group()
    case.add_argument("--lowercase", action="store_true", default=None,
                      help="lowercase the text, prompts too (the default for --level word)")
    case.add_argument("--keep-case", dest="lowercase", action="store_false", default=None,
                      help="with --level word, keep upper case (words are lowercased by default)")
    g.add_argument("--collapse-whitespace", action="store_true", default=None,
                   help="turn every run of spaces and newlines into one space, as seed 000 does")
    g.add_argument("--min-count", type=int, help="characters seen fewer times than this become the unknown symbol (default 1: keep all)")
    g.add_argument("--max-vocab", type=int,
                   help="--level word: keep at most this many symbols, <pad> and <unk> included "
                        "(default 20,000; 0 = no cap, the default for --tokenizer whitespace)")
    g.add_argument("--min-freq", type=int,
                   help="--level word: words seen fewer times than this in the training part become <unk> "
                        "(default 2; 1 for --tokenizer whitespace)")
    g.add_argument("--val-fraction", type=float, help=f"share of the text, taken from its end, held out for validation (default {default_of(DataConfig, 'val_fraction')})")
    g.add_argument("--val", dest="val_source", metavar="FILE",
                   help="a validation text of its own instead of --val-fraction (the whole corpus then trains); "
                        "a folder holding train.txt uses its valid.txt")


def _add_model_flags(p: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    m = p.add_argument_group("model")
    m.add_argument("--cell", choices=CELLS,
                   help=f"recurrent cell (default {default_of(ModelConfig, 'cell')}): {cells_help()}")
    m.add_argument("--hidden", dest="hidden_sizes", type=layer_sizes, metavar="SIZES",
                   help="hidden size of each layer, comma separated: 512, or 256,128 for seed 000's two layers (default 512)")
    m.add_argument("--embed-dim", type=int,
                   help=f"character (or word) embedding size; 0 feeds one-hot vectors instead (default {default_of(ModelConfig, 'embed_dim')})")
    m.add_argument("--input", choices=INPUTS,
                   help="how each symbol enters the first layer: embedding (learned, --embed-dim wide; the default), "
                        "one-hot (a fixed identity table, the same as --embed-dim 0), or scaled-id (characters only: "
                        "one number, the character's sorted index / n, as seeds 003 and 004 feed it; it learns more "
                        "slowly, since neighbouring characters look alike)")
    tie = m.add_mutually_exclusive_group()
    tie.add_argument("--tie-embeddings", action="store_true", default=None,
                     help="share the embedding with the output layer (needs --embed-dim equal to the last hidden size)")
    tie.add_argument("--no-tie-embeddings", dest="tie_embeddings", action="store_false", default=None,
                     help="give the output layer weights of its own (where a preset ties them)")
    m.add_argument("--adaptive-softmax", type=cutoffs, metavar="CUTOFFS",
                   help="--level word: an adaptive softmax output layer (Grave et al. 2017) whose clusters start at "
                        "these ids, e.g. 2000,10000: the frequent words get a full softmax, the rare ones a smaller "
                        "one reached through it, so training costs a fraction of a full softmax over a large "
                        "vocabulary; scores stay exact. auto: cutoffs from the vocabulary's size (none under 5,000 "
                        "symbols or for a tied output). off: a full softmax (the default, but for the presets "
                        "that say auto: lstmlab presets)")
    return m


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    t, obj = TrainConfig, ObjectiveConfig
    m = _add_model_flags(p)
    m.add_argument("--dropout", type=float,
                   help="dropout between layers and before the output layer, a fresh draw for every number at every "
                        "time step (default 0)")
    m.add_argument("--embed-dropout", type=float, metavar="P",
                   help="the same dropout on the embedding's output, as Zaremba et al. and PyTorch's "
                        "word_language_model drop every non-recurrent connection (default: --dropout's rate at "
                        "--level word, 0 for characters)")
    m.add_argument("--recurrent-dropout", type=float, metavar="P",
                   help="Keras' recurrent_dropout (Gal & Ghahramani 2016): drop units of h(t-1) where it enters the "
                        "recurrent product, one mask per sequence kept for all its steps and shared by the gates; "
                        "training then runs a stepped loop instead of the fused kernel, slower (default 0)")
    m.add_argument("--input-dropout", type=float, metavar="P",
                   help="Keras' dropout= of a recurrent layer (seed 000's layer_lstm(dropout = 0.2)): drop input "
                        "features of every recurrent layer, one mask per sequence kept for all its steps, unlike "
                        "--dropout's fresh draw per step (default 0)")
    locked = m.add_mutually_exclusive_group()
    locked.add_argument("--locked-dropout", action="store_true", default=None,
                        help="--dropout and --embed-dropout draw one mask per sequence, kept for all its steps "
                             "(AWD-LSTM's locked dropout), instead of a fresh draw per step")
    locked.add_argument("--no-locked-dropout", dest="locked_dropout", action="store_false", default=None,
                        help="a fresh draw per step (where a preset locks the masks)")
    m.add_argument("--weight-drop", type=float, metavar="P",
                   help="DropConnect on every layer's hidden-to-hidden weights (AWD-LSTM's weight drop): one mask per "
                        "batch, training only; the fused kernel still runs (default 0)")
    m.add_argument("--word-dropout", type=float, metavar="P",
                   help="drop whole words (AWD-LSTM's embedding dropout): a dropped word's embedding is zero wherever "
                        "it occurs in the batch (default 0)")

    o = p.add_argument_group("objective")
    o.add_argument("--objective", choices=OBJECTIVES,
                   help="tbptt: every character is a target, state carried between chunks (default); "
                        "window: the seeds' recipe, one target per window")
    o.add_argument("--seq-len", type=int, help=f"characters (words at --level word) per back-propagation chunk (default {default_of(obj, 'seq_len')})")
    o.add_argument("--window", type=int, help=f"window length for --objective window (default {default_of(obj, 'window')})")
    o.add_argument("--step", type=int, help=f"distance between windows for --objective window (default {default_of(obj, 'step')})")
    o.add_argument("--ar", type=float, metavar="ALPHA",
                   help="activation regularisation (AWD-LSTM): add ALPHA x the mean square of the top layer's "
                        "dropped-out output to the loss (default 0; AWD-LSTM uses 2)")
    o.add_argument("--tar", type=float, metavar="BETA",
                   help="temporal activation regularisation (AWD-LSTM): add BETA x the mean square of the top "
                        "layer's change from step to step (default 0; AWD-LSTM uses 1)")
    varied = o.add_mutually_exclusive_group()
    varied.add_argument("--variable-seq-len", action="store_true", default=None,
                        help="vary each chunk's length around --seq-len as AWD-LSTM does (half of it one time in "
                             "twenty), with the learning rate scaled by length / --seq-len")
    varied.add_argument("--no-variable-seq-len", dest="variable_seq_len", action="store_false", default=None,
                        help="chunks of --seq-len exactly (where a preset varies them)")
    o.add_argument("--batch-size", type=int, help=f"streams (tbptt) or windows per batch (default {default_of(t, 'batch_size')})")

    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help=f"(default {default_of(t, 'optimizer')})")
    g.add_argument("--momentum", type=float, help=f"sgd's momentum (default {default_of(t, 'momentum')}: plain SGD, as "
                                                  "PyTorch's word_language_model; runs saved before this flag used 0.9)")
    g.add_argument("--lr", type=float, help=f"peak learning rate (default {default_of(t, 'lr')})")
    g.add_argument("--weight-decay", type=float, help="weight decay (default 0)")
    g.add_argument("--schedule", choices=SCHEDULES,
                   help="learning-rate schedule after warm-up (default cosine, ending at lr x --min-lr-ratio)")
    g.add_argument("--warmup-steps", type=int, help=f"linear warm-up steps (default {default_of(t, 'warmup_steps')})")
    g.add_argument("--min-lr-ratio", type=float, help=f"cosine's final rate as a share of --lr (default {default_of(t, 'min_lr_ratio')})")
    g.add_argument("--gamma", type=float, help=f"factor for step decay and reduce-on-plateau (default {default_of(t, 'gamma')})")
    g.add_argument("--decay-every", type=int, help=f"steps between step decays (default {default_of(t, 'decay_every')})")
    g.add_argument("--plateau-patience", type=int, help=f"evaluations without improvement before a plateau decay (default {default_of(t, 'plateau_patience')})")
    g.add_argument("--clip", dest="clip_grad_norm", type=float, metavar="NORM",
                   help=f"clip the gradient norm to this (default {default_of(t, 'clip_grad_norm')}; 0 turns it off)")
    g.add_argument("--ema-decay", type=float, metavar="DECAY",
                   help=f"validate and keep a moving average of the weights with this decay (default "
                        f"{default_of(t, 'ema_decay')}; 0 keeps the weights as trained)")
    g.add_argument("--nt-asgd", type=int, metavar="N",
                   help="AWD-LSTM's averaged SGD in place of --ema-decay: once a validation fails to beat the best of "
                        "those before the last N, validate (and keep) the mean of the weights of every step since "
                        "(default 0: off; AWD-LSTM uses 5)")
    g.add_argument("--seed", type=int, help="random seed; the same seed and settings give the same weights (default 0)")
    g.add_argument("--precision", choices=PRECISIONS, help=PRECISION_HELP)

    b = p.add_argument_group("budget and logging")
    b.add_argument("--minutes", type=float, help="wall-clock budget (default 10, unless --steps or --epochs is given)")
    b.add_argument("--epochs", type=float, help="passes over the training text")
    b.add_argument("--steps", dest="max_steps", type=int, metavar="N", help="optimiser steps")
    b.add_argument("--eval-every", type=int, help=f"steps between validations and checkpoints (default {default_of(t, 'eval_every')})")
    b.add_argument("--eval-chars", type=int, help=f"validate on at most this many held-out characters, or words (default {default_of(obj, 'eval_chars'):,}; 0 = all)")
    b.add_argument("--patience", type=int, help=f"stop after this many validations without improvement (default {default_of(t, 'patience')}; 0 = never)")
    add_run_options(p)


def add_parsers(sub) -> None:
    """Add the language-model commands to the top-level sub-parsers."""
    corpus_help = CORPUS_HELP

    p = sub.add_parser("prepare", help="clean and encode a corpus; print its statistics",
                       description="Clean and encode a corpus into a folder (tokens.bin, vocab.json, meta.json) that train can read.")
    p.add_argument("corpus", metavar="CORPUS", help=corpus_help)
    p.add_argument("--out", required=True, help="folder to write the prepared corpus to")
    _add_data_flags(p)

    p = sub.add_parser("summary", help="print a model's layers and parameter counts",
                       description="Print a parameter table per layer, like Keras' model.summary(), for a trained RUN "
                                   "or for a model described by flags (e.g. --hidden 256,128 --embed-dim 64 --vocab-size 65).")
    p.add_argument("run", metavar="RUN", nargs="?", help="run folder made by lstmlab train (or import-keras)")
    p.add_argument("--vocab-size", type=int, help="symbols in the vocabulary, for a model described by flags")
    _add_model_flags(p)

    p = sub.add_parser("train", help="train a character (or --level word) language model",
                       description=_train_description(),
                       formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=100,
                                                                                         max_help_position=32))
    p.add_argument("data", metavar="CORPUS", nargs="?", help=corpus_help + ", or a folder made by lstmlab prepare")
    p.add_argument("--out", help="run folder to create (must not hold a run already)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN where it stopped; --steps/--minutes/--epochs then mean 'this much more'")
    p.add_argument("--no-progress", dest="show_progress", action="store_false", default=None, help="hide the progress bar")
    p.add_argument("--preset", metavar="NAME",
                   help=f"take the settings not given from this preset ({', '.join(PRESETS)}) instead of the one "
                        "the table above chooses; flags given still win")
    p.add_argument("--init-from", metavar="RUN",
                   help="start from RUN's weights (a language model of the same level) and continue it on CORPUS: "
                        "the network is RUN's, its vocabulary extended with CORPUS's new words (or characters) seen "
                        "--min-freq (--min-count) times, their rows starting at the mean of the known ones; the "
                        "training settings are chosen as for any run (ULMFiT's language model fine-tuning)")
    _add_data_flags(p)
    _add_train_flags(p)

    sub.add_parser("presets", help="list the presets of training settings and the table that chooses one",
                   description="List the presets: the table that chooses one for a run from its level, --minutes "
                               "budget and training text's size, then each preset's settings.")

    p = sub.add_parser("generate", help="write text with a trained model",
                       description="Write text with a trained model, streamed to stdout.")
    p.add_argument("run", metavar="RUN", help="run folder made by lstmlab train")
    p.add_argument("--prompt", default="", help="text to start from (default: none, a fresh state)")
    p.add_argument("--length", type=int, help="characters to generate (default 400), or words for a word-level run (default 100)")
    p.add_argument("--temperature", default="0.7", metavar="T[,T...]",
                   help="below 1: safer, above 1: wilder, 0: greedy (default 0.7); several, comma separated "
                        "(e.g. 0.2,0.5,1.0), write one labelled sample per temperature, each the same as a run "
                        "with that temperature alone")
    p.add_argument("--top-k", type=int, help="sample only from the k most likely characters (or words)")
    p.add_argument("--top-p", type=float, help="sample only from the most likely characters (or words) that cover this probability")
    p.add_argument("--seed", type=int, help="random seed for reproducible samples")
    p.add_argument("--num-samples", type=int, default=1, help="samples to write, generated together as one batch (default 1)")
    add_device_flag(p)

    p = sub.add_parser("evaluate", help="score a text with a trained model (bits per character, or perplexity per word)",
                       description="Score FILE under a trained model: bits and nats per character, or for a word-level "
                                   "run perplexity and nats per word.")
    p.add_argument("run", metavar="RUN", help="run folder made by lstmlab train")
    p.add_argument("file", metavar="FILE", help="text to score (cleaned the way the training text was)")
    p.add_argument("--encoding", default="utf-8", help="encoding of FILE (default utf-8)")
    add_device_flag(p)

    p = sub.add_parser("import-keras", help="turn a Keras character model (.keras or .h5) into a run",
                       description="Convert a Keras Sequential character model (Embedding or one-hot input -> LSTM/GRU/"
                                   "SimpleRNN layers -> Dense) into a run folder that generate and evaluate can use. "
                                   "Keras saves no character table, so give the text it was trained on: its sorted "
                                   "characters are the model's symbols. Reads only JSON and weight arrays; runs no code "
                                   "from the file.")
    p.add_argument("model", metavar="MODEL", help="the .keras (or legacy .h5) file written by Keras' model.save()")
    p.add_argument("--vocab-from", required=True, metavar="CORPUS",
                   help="the text the model was trained on, read raw (no Gutenberg stripping): " + corpus_help)
    p.add_argument("--out", required=True, metavar="RUN", help="run folder to create (must not hold a run already)")
    p.add_argument("--lowercase", action="store_true", help="lowercase CORPUS first, if the model was trained on lowercased text")
    p.add_argument("--collapse-whitespace", action="store_true",
                   help="turn every run of spaces and newlines into one space first, as seed 000 does")

    p = sub.add_parser("inspect", help="see what each unit and gate does on a text: an HTML page and a PNG",
                       description="Read a text with a trained model and write one self-contained HTML page (no network "
                                   "needed) plus a PNG: the text coloured by a unit's value, and per character (per word "
                                   "for a word-level run) the gates and cell state of the chosen units, the top-5 next "
                                   "guesses and the surprise in bits. With --find, rank the units that track quotes, "
                                   "line position, parentheses and word starts (for words: quotes, parentheses, the "
                                   "position in the sentence and punctuation).")
    p.add_argument("run", metavar="RUN", help="run folder made by lstmlab train")
    p.add_argument("--text", help="the text to inspect (use $'...\\n...' in bash for newlines)")
    p.add_argument("--file", metavar="FILE", help="read the text to inspect from FILE instead")
    p.add_argument("--encoding", default="utf-8", help="encoding of FILE (default utf-8)")
    p.add_argument("--out", required=True, metavar="PAGE.html", help="the HTML page to write")
    p.add_argument("--png", metavar="PATH", help="the heat-map PNG to write (default: --out with .png)")
    p.add_argument("--layer", type=int, help="layer to show, from 0 (default: the last, or the --find best match's)")
    p.add_argument("--units", metavar="U,U,...", help="units to show in the gate panel and PNG, e.g. 3,17,42 "
                                                     "(default: the first 4, or the --find best matches)")
    p.add_argument("--unit", type=int, help="unit that colours the text at first (default: the first of --units, "
                                            "or the --find best match)")
    p.add_argument("--signal", help="what colours the text at first: hidden (default), cell, a gate of the cell "
                                    "(forget, input, output, ...) or surprise")
    p.add_argument("--find", action="store_true", help="rank the units that track simple text features; print the "
                                                       "table and open the page on the best one")
    p.add_argument("--max-chars", type=int, default=5000, help="refuse texts longer than this (default 5000)")
    add_device_flag(p)


def _cmd_prepare(args) -> None:
    prepare(args.corpus, args.out, **given(args, {"command", "corpus", "out"}))
    print(f"prepared corpus written to {args.out}")


def _cmd_train(args) -> None:
    check_seed(args.seed)
    settings = given(args, {"command", "data", "out", "resume", "show_progress"})
    run_dir = run_folder(args, "CORPUS", "e.g. builtin:shakespeare")
    train(args.data, run_dir, resume=bool(args.resume), show_progress=args.show_progress, **settings)
    print(f"generate text with: lstmlab generate {run_dir} --prompt \"...\"")


def parse_temperatures(text: str) -> list[float]:
    """--temperature 0.7 or 0.2,0.5,1.0: each a finite number >= 0."""
    values, parts = [], text.split(",")
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            where = f" in {text!r}" if len(parts) > 1 else ""
            raise LstmlabError(f"--temperature takes numbers >= 0 (0 means greedy), comma separated like 0.2,0.5,1.0; "
                               f"got {part.strip()!r}{where}")
        values.append(value)
    return values


def _cmd_generate(args) -> None:
    check_seed(args.seed)
    temperatures = parse_temperatures(args.temperature)
    for temperature in temperatures:
        # Before the run is loaded, and before generate() makes a list for each of --num-samples.
        # Without --length the model's default applies (400 characters or 100 words).
        check_sampling(args.length or 0, temperature, args.top_k, args.top_p, args.num_samples)
    lm = load(args.run, device=args.device)
    for temperature in temperatures:
        # Each temperature is sampled on its own, from --seed, so its text is the one that a
        # run with that temperature alone writes (the seeds' "diversity" loop shares one RNG).
        label = f"temperature {temperature}" if len(temperatures) > 1 else ""
        _write_samples(lm, args, temperature, label)


def _write_samples(lm, args, temperature: float, label: str) -> None:
    """One temperature's samples, under `label` when there are several temperatures."""
    options = dict(temperature=temperature, top_k=args.top_k, top_p=args.top_p,
                   num_samples=args.num_samples, seed=args.seed)
    if args.length is not None:  # else the model's own default: 400 characters or 100 words
        options["length"] = args.length
    if args.num_samples == 1:
        stream = lm.stream(args.prompt, **options)
        first = next(stream, None)  # checks the options before anything is printed
        if label:
            sys.stdout.write(f"----- {label} -----\n")
        sys.stdout.write(lm.prompt_text(args.prompt))
        for step in itertools.chain([first] if first else [], stream):
            sys.stdout.write(step[0])
            sys.stdout.flush()
        sys.stdout.write("\n")
    else:
        for i, text in enumerate(lm.generate(args.prompt, **options), start=1):
            print(f"----- {label + ', ' if label else ''}sample {i} -----\n{text}")


def _cmd_evaluate(args) -> None:
    print(load(args.run, device=args.device).evaluate_file(args.file, encoding=args.encoding))


def _cmd_summary(args) -> None:
    flags = given(args, {"command", "run", "vocab_size"})
    if args.run:
        if flags or args.vocab_size is not None:
            raise LstmlabError("give either RUN or model flags (--cell, --hidden, --embed-dim, --vocab-size), not both")
        model = RunConfig.load(Path(args.run) / "config.json").model
        title = f"Model in {args.run}: {model.cell}, vocabulary {model.vocab_size}"
    else:
        model = described_model(args.vocab_size, flags)
        title = f"Model: {model.cell}, vocabulary {model.vocab_size}"
    print(format_summary(model, title))


def described_model(vocab_size: Optional[int], flags: dict) -> ModelConfig:
    """The model `summary` describes by flags, checked before anything is built."""
    if vocab_size is None:
        raise LstmlabError("give a RUN folder, or describe a model with --vocab-size N (and --cell, --hidden, --embed-dim)")
    if vocab_size < 2:
        raise LstmlabError(f"--vocab-size must be at least 2 (a model chooses between symbols), got {vocab_size}")
    check_input_settings(flags)
    return ModelConfig(vocab_size=vocab_size, **flags)


def _cmd_inspect(args) -> None:
    if (args.text is None) == (args.file is None):
        both = args.text is not None
        raise LstmlabError("give the text to inspect with exactly one of --text \"...\" or --file FILE"
                           + (", not both" if both else ""))
    units = page.parse_units(args.units)
    lm = load(args.run, device=args.device)
    out, png = page.check_out_paths(args.out, args.png)
    if args.file is not None and not Path(args.file).is_file():
        raise LstmlabError(f"no such file: {args.file}; give a text file with --file, or the text itself with --text")
    text = args.text if args.file is None else load_text(args.file, encoding=args.encoding)
    page.check_length(lm.normalize(text), args.max_chars)
    inspection = lm.inspect(text)
    written = page.write_page(inspection, out, png=png, layer=args.layer, units=units, colour_unit=args.unit,
                              colour_signal=args.signal, find=args.find, title=str(args.run))
    print(page.describe(inspection, written))


def _cmd_corpora(args) -> None:
    for name, description in BUILTIN_CORPORA.items():
        print(f"builtin:{name:<24} {description}")


def _cmd_presets(args) -> None:
    print(presets_text())


def _cmd_import_keras(args) -> None:
    lm = import_keras(args.model, args.vocab_from, args.out, lowercase=args.lowercase,
                      collapse_whitespace=args.collapse_whitespace)
    cfg = lm.config.model
    print(f"imported {args.model} into {args.out}: {cfg.cell} {'x'.join(map(str, cfg.hidden_sizes))}, "
          f"vocabulary {cfg.vocab_size} ({cfg.vocab_size - 1} characters + unknown)")
    print(f"generate text with: lstmlab generate {args.out} --prompt \"...\"")


COMMANDS = {"prepare": _cmd_prepare, "summary": _cmd_summary, "train": _cmd_train, "generate": _cmd_generate,
            "evaluate": _cmd_evaluate, "import-keras": _cmd_import_keras, "inspect": _cmd_inspect,
            "corpora": _cmd_corpora, "presets": _cmd_presets}

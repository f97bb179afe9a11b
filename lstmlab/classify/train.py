"""Text classification: the task the Trainer runs, and the Python API.

    import lstmlab.classify as classify
    clf = classify.train("Tweets.csv", "runs/airline", text_column="text",
                         label_column="airline_sentiment", minutes=3)
    clf = classify.load("runs/airline")
    clf.predict(["@united thanks, great flight!"])        # ['positive']
    clf.predict_proba(["..."])                            # (N, classes) array
    print(clf.evaluate("other.csv").format())             # accuracy, macro-F1, per class, confusion

A run folder holds config.json (ClassifyRunConfig), tokenizer.json,
model.safetensors (best weights), checkpoint.safetensors (last state,
resumable), metrics.jsonl, training.png, and the test set's report.json
and confusion.png.

The default recipe, chosen on the benchmarks in BENCHMARKS.md (§8, §8b):
lowercased words; GloVe 6B 50d vectors to start the embedding (vectors.py:
choose_vectors; without them, 128-wide random embeddings), with every word
seen in training kept and 8 evaluations of patience (PRETRAINED_DEFAULTS;
without vectors, words seen once read as <unk> and patience is 4); texts cut
at the 95th percentile of the training lengths; a bidirectional LSTM (128
units each way), mean-pooled over the real steps; dropout 0.5 and word
dropout 0.2; Adam at 2e-3 with a cosine decay over at most 20 epochs or 10
minutes; batches of texts of similar length (less padding); validation every
epoch and the best checkpoint kept.

With init_from= (--init-from LM_RUN) the encoder starts as a language model's instead (transfer.py,
ULMFiT): its tokenizer and vocabulary, embedding and recurrent layers, read one way, with the
TRANSFER_DEFAULTS recipe (config.py); lm_finetune= first fine-tunes that model on the training
texts, as a run of its own in RUN/lm.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from tqdm import tqdm

from .. import checkpoint
from ..checkpoint import PathLike
from ..config import TrainConfig, field_names, split_settings, task_train_config
from ..errors import LstmlabError
from ..lm.presets import flags_text
from ..lm.transfer import SourceRun
from ..runs import Setup, train_run
from ..tokenizers import TOKENIZERS, load_tokenizer
from ..trainer import Trainer
from ..version import __version__
from .baseline import BaselineResult, tfidf_logistic_regression
from .config import (PRETRAINED_DEFAULTS, TRAIN_DEFAULTS, TRANSFER_DEFAULTS, ClassifierConfig, ClassifyRunConfig,
                     LabelledDataConfig, TransferConfig)
from .data import Labelled, Split, balance_table, check_classes, length_stats, read_labelled, split_data, suggest_length
from .metrics import plot_confusion
from .model import SequenceClassifier
from .task import ClassificationTask, Encoded, encode_part, predict_encoded, report_of, truncate
from .transfer import (LM_FOLDER, LM_TEXT, check_source, classifier_vocabulary, finetune_plan,
                       finetuned_language_model, init_encoder, start_text, unlabelled_texts)
from .trained import CONFUSION_PNG, DATA_FIELDS, REPORT_FILE, TOKENIZER_FILE, TRAINING_PNG, Classifier, load
from .vectors import choose_vectors, coverage_text, init_embedding, read_vectors, source_kind

# Which config each keyword setting belongs to; "monitor" is the run's own.
OWNERS = {
    "data": DATA_FIELDS,
    "model": field_names(ClassifierConfig, "vocab_size", "classes"),
    "train": field_names(TrainConfig),
    "transfer": field_names(TransferConfig),
    "run": {"monitor"},
}


def prepare_split(data_cfg: LabelledDataConfig) -> tuple[Split, list[str]]:
    data = read_labelled(data_cfg.source, data_cfg)
    classes = check_classes(data)
    split = split_data(data, data_cfg)
    return split, classes


def train(
    data: Optional[str] = None,
    out: PathLike = "runs/classifier",
    *,
    resume: bool = False,
    baseline: bool = True,
    log: Callable[[str], None] = tqdm.write,
    show_progress: Optional[bool] = None,
    **settings: Any,
) -> Classifier:
    """Train a text classifier on labelled `data` and return it (best weights loaded).

    `data` is a CSV/TSV file, a folder with one sub-folder of .txt files per
    label, or a .tar.gz of such folders (see data.py). Settings are the
    fields of LabelledDataConfig (text_column, label_column, positive_vs_rest,
    max_length, ...), ClassifierConfig (cell, hidden_sizes, bidirectional,
    pooling, embeddings, ...) and TrainConfig (minutes, epochs, lr, ...), and
    monitor ("loss" or "accuracy"). With baseline=True, a TF-IDF + logistic
    regression baseline is fitted on the same split and reported beside it.
    With resume=True, `out` is continued; budget settings then mean "this much more".
    """
    return train_run(ClassifierRecipe(baseline, show_progress), data, out, resume=resume, log=log,
                     show_progress=show_progress, settings=settings)


class ClassifierRecipe:
    """The classifier's part of runs.train_run. It keeps the split and tokenizer it read
    for `finish`, which scores the best checkpoint on the held-out part."""

    missing_data = "give the labelled data to train on: a CSV/TSV file, a folder of pos/ neg/ .txt files, or a .tar.gz"
    loss_plot = TRAINING_PNG
    # What --lm-finetune leaves when the classifier's start fails after it: the fine-tuned
    # language model is reused by the next start.
    reusable = (LM_FOLDER, LM_TEXT)

    def __init__(self, baseline: bool = True, show_progress: Optional[bool] = None):
        self.baseline = baseline
        self.show_progress = show_progress

    def start(self, data: Any, run_dir: Path, settings: dict[str, Any], log) -> Setup:
        source = SourceRun.open(settings["init_from"]) if settings.get("init_from") else None
        if source is not None:
            settings = check_source(source, settings)
            picked = {k: v for k, v in TRANSFER_DEFAULTS.items() if k not in settings}
            if picked:
                log(f"from a language model (ULMFiT's recipe): {flags_text(picked)}; give any to choose otherwise")
            settings = {**picked, **settings, "embeddings": ""}
        else:
            settings = choose_vectors(settings, log)
        if settings["embeddings"]:
            picked = {k: v for k, v in PRETRAINED_DEFAULTS.items() if k not in settings}
            if picked:
                log("pretrained vectors: " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in picked.items())
                    + "; give either to choose otherwise")
            settings = {**picked, **settings}
        parts = split_settings(settings, OWNERS)
        data_kw, model_kw, train_kw = parts["data"], parts["model"], parts["train"]
        monitor = parts["run"].get("monitor") or "loss"
        transfer = TransferConfig(**{**parts["transfer"], "init_from": str(source.folder.resolve()) if source else ""})
        # Every setting is checked before the data is read, so a bad flag fails at once.
        data_cfg = LabelledDataConfig(source=str(data), **data_kw)
        budget = task_train_config(TRAIN_DEFAULTS, train_kw, 1)
        ClassifierConfig(vocab_size=3, classes=("a", "b"),
                         **{**model_kw, **({"embed_dim": 1} if model_kw.get("embeddings") else {})})
        ClassifyRunConfig(data_cfg, ClassifierConfig(vocab_size=3, classes=("a", "b")), TrainConfig(), monitor=monitor)
        if model_kw.get("embeddings"):
            vectors_kind = source_kind(model_kw["embeddings"])  # an unknown name or a missing file fails now
        unlabelled = unlabelled_texts(transfer.unlabelled) if transfer.unlabelled else []

        split, classes = prepare_split(data_cfg)
        log(f"data: {data_cfg.source}: {len(split.train) + len(split.val) + len(split.test or []):,} examples, "
            f"{len(classes)} classes; {split.how}")
        held = {"train": split.train, "validation": split.val, **({"test": split.test} if split.test else {})}
        log(balance_table(held, classes))
        if transfer.lm_finetune:
            log(finetune_plan(transfer, len(split.train), len(unlabelled), budget.minutes))
            source = finetuned_language_model(transfer, [*split.train.texts, *unlabelled], run_dir, log,
                                              self.show_progress)

        if source is None:
            tokenizer = TOKENIZERS[data_cfg.tokenizer].build(split.train.texts, lowercase=data_cfg.lowercase,
                                                             max_size=data_cfg.max_vocab, min_freq=data_cfg.min_freq)
        else:
            tokenizer, rows, added = classifier_vocabulary(source, split.train.texts, data_cfg.min_freq,
                                                           data_cfg.max_vocab)
        raw = [tokenizer.encode(text) for text in split.train.texts]
        lengths = np.array([len(s) for s in raw])
        if data_cfg.max_length is None:
            data_cfg = dataclasses.replace(data_cfg, max_length=suggest_length(np.percentile(lengths, 95)))
            chosen = "the 95th percentile of the training texts, rounded up to a multiple of 8"
        else:
            chosen = "--max-length"
        stats = length_stats(lengths, data_cfg.max_length)
        log(f"vocabulary: {len(tokenizer):,} {data_cfg.tokenizer} tokens; texts: {stats.mean:.1f} tokens on average, "
            f"95% up to {stats.percentiles[95]:,}, longest {stats.longest:,}; max length {data_cfg.max_length:,} "
            f"({chosen}): {stats.truncated:,} training texts cut ({stats.truncated / stats.count:.1%})")

        train_set = Encoded([truncate(s, data_cfg.max_length, data_cfg.truncate) for s in raw],
                            np.array([classes.index(label) for label in split.train.labels], dtype=np.int64))
        val_set = encode_part(tokenizer, split.val, classes, data_cfg)

        vectors = None
        if model_kw.get("embeddings"):
            vectors, hit = read_vectors(model_kw["embeddings"], tokenizer.symbols, tokenizer.lowercase)
            model_kw["embed_dim"] = vectors.shape[1]
            counts = np.bincount(np.concatenate(raw) if raw else np.zeros(0, dtype=np.int64), minlength=len(tokenizer))
            log(f"embeddings: {model_kw['embeddings']} ({vectors_kind}, {vectors.shape[1]} dimensions): "
                f"{coverage_text(hit, counts)}; the other words start at random with the found vectors' mean and "
                "spread in each dimension" + ("; frozen" if model_kw.get("freeze_embeddings") else "; trained further"))
        model_cfg = ClassifierConfig(vocab_size=len(tokenizer), classes=tuple(classes), **model_kw)
        steps_per_epoch = max(1, math.ceil(len(train_set) / train_kw.get("batch_size", TRAIN_DEFAULTS["batch_size"])))
        train_cfg = task_train_config(TRAIN_DEFAULTS, train_kw, steps_per_epoch)
        config = ClassifyRunConfig(data=data_cfg, model=model_cfg, train=train_cfg, monitor=monitor, version=__version__,
                                   transfer=transfer)

        torch.manual_seed(train_cfg.seed)
        model = SequenceClassifier(model_cfg)
        if vectors is not None:
            init_embedding(model, vectors, hit, train_cfg.seed)
        if source is not None:
            init_encoder(model, source, rows)
            log(start_text(source, tokenizer, len(added), raw))
        task = ClassificationTask(train_set, val_set, train_cfg, classes, monitor, transfer)
        run_dir.mkdir(parents=True, exist_ok=True)
        checkpoint.save_text_atomic(run_dir / "config.json", config.to_json())
        checkpoint.save_text_atomic(run_dir / TOKENIZER_FILE, tokenizer.to_json())
        self.config, self.split, self.classes, self.tokenizer = config, split, classes, tokenizer
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        summary = (f"{'bidirectional ' if model_cfg.bidirectional else ''}{model_cfg.cell} "
                   f"{'x'.join(map(str, model_cfg.hidden_sizes))}, {model_cfg.pooling} pooling"
                   f"{f', a hidden layer of {model_cfg.head_hidden}' if model_cfg.head_hidden else ''}"
                   f"{', batch-normalised' if model_cfg.head_norm else ''}"
                   f"{f', weight drop {model_cfg.weight_drop:g}' if model_cfg.weight_drop else ''}, embeddings "
                   f"{model_cfg.embed_dim}{' (frozen)' if model_cfg.freeze_embeddings else ''}, "
                   f"{trainable:,} trainable parameters"
                   f"{f', read in chunks of {model_cfg.chunk_length}' if model_cfg.chunk_length else ''}"
                   f"{training_text(transfer)}; best checkpoint by validation {monitor}")
        return Setup(model, task, train_cfg, summary)

    def reopen(self, run_dir: Path, log) -> Setup:
        config = ClassifyRunConfig.load(run_dir / "config.json")
        tokenizer = load_tokenizer(run_dir / TOKENIZER_FILE)
        split, classes = prepare_split(config.data)
        if classes != list(config.model.classes):
            raise LstmlabError(f"{config.data.source} now has the classes {classes}, the run was trained on "
                               f"{list(config.model.classes)}; start a new run")
        task = ClassificationTask(encode_part(tokenizer, split.train, classes, config.data),
                                  encode_part(tokenizer, split.val, classes, config.data), config.train, classes,
                                  config.monitor, config.transfer)
        self.config, self.split, self.classes, self.tokenizer = config, split, classes, tokenizer
        return Setup(SequenceClassifier(config.model), task, config.train)

    def finish(self, trainer: Trainer, setup: Setup, log) -> Classifier:
        """Score the best checkpoint on the test part (else validation), beside the baseline."""
        config, split, classes, tokenizer, run_dir = self.config, self.split, self.classes, self.tokenizer, trainer.run_dir
        progress = trainer.progress
        clf = load(run_dir)
        held_out, name = (split.test, "test") if split.test is not None else (split.val, "validation")
        encoded = encode_part(tokenizer, held_out, classes, config.data)
        report = report_of(predict_encoded(clf.model, encoded.ids), encoded.y, classes)
        log(f"\n{config.model.cell} classifier on the {name} set ({len(held_out):,} examples):\n{report.format()}")
        plot_confusion(report, run_dir / CONFUSION_PNG,
                       title=f"{config.model.cell}, {name} set: accuracy {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}")
        result: dict[str, Any] = {"held_out": name, "examples": {"train": len(split.train), "validation": len(split.val),
                                                                 "test": len(split.test) if split.test else 0},
                                  "split": split.how, "classifier": report.to_dict(),
                                  "training": {"steps": progress.step, "seconds": round(progress.elapsed_s, 1),
                                               "best_step": progress.best_step, "stop_reason": progress.stop_reason}}
        if self.baseline:
            base = run_baseline(tokenizer, split, classes, held_out)
            log(f"\nbaseline: TF-IDF (words and word pairs) + logistic regression (C={base.C:g}, picked on validation), "
                f"same split, {base.seconds:.1f}s:\n{base.report.format()}")
            diff = report.accuracy - base.report.accuracy
            log(f"\n{config.model.cell}: accuracy {report.accuracy:.4f}, macro-F1 {report.macro_f1:.4f} | baseline: accuracy "
                f"{base.report.accuracy:.4f}, macro-F1 {base.report.macro_f1:.4f} | the {config.model.cell} is "
                f"{abs(diff) * 100:.1f} points {'better' if diff >= 0 else 'worse'}")
            result["baseline"] = {"model": "tfidf-logistic-regression", "C": base.C, "seconds": round(base.seconds, 1),
                                  **base.report.to_dict()}
        checkpoint.save_text_atomic(run_dir / REPORT_FILE, json.dumps(result, indent=2) + "\n")
        log(f"wrote {REPORT_FILE} and {CONFUSION_PNG} in {run_dir}")
        clf.report = report
        clf.baseline = result.get("baseline")
        return clf


def training_text(transfer: TransferConfig) -> str:
    """Discriminative rates and gradual unfreezing, for the model's log line."""
    parts = []
    if transfer.layer_lr_decay != 1:
        parts.append(f"each layer down learns {transfer.layer_lr_decay:g}x slower")
    if transfer.unfreeze_epochs:
        parts.append(f"the head alone first, then a layer more every {transfer.unfreeze_epochs:g} epoch(s)")
    return "".join(f"; {part}" for part in parts)


def run_baseline(tokenizer, split: Split, classes: list[str], held_out: Labelled) -> BaselineResult:
    def y(part: Labelled) -> list[int]:
        return [classes.index(label) for label in part.labels]
    return tfidf_logistic_regression(tokenizer.tokenize, split.train.texts, y(split.train), split.val.texts,
                                     y(split.val), held_out.texts, y(held_out), classes)



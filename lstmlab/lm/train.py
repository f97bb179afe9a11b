"""Training a language model: lstmlab.prepare and lstmlab.train. The CLI is a thin shell over them.

    import lstmlab
    lm = lstmlab.train("builtin:shakespeare", "runs/demo", minutes=2)
    print(lm.generate("ROMEO:", length=300, temperature=0.7, seed=1))
    lm = lstmlab.train(out="runs/demo", resume=True, minutes=5)   # five more minutes
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from tqdm import tqdm

from .. import checkpoint
from ..checkpoint import PathLike
from ..config import MAX_VOCAB_SIZE, TrainConfig, field_names, split_settings, task_train_config
from ..errors import LstmlabError
from ..runs import Setup, train_run
from ..tokenizers import UNK_ID
from ..trainer import Trainer
from ..version import __version__
from .config import (SCALED_ID_NOTE, DataConfig, ModelConfig, ObjectiveConfig, RunConfig, check_input_settings,
                     check_level_settings)
from .data import PreparedCorpus, is_prepared
from .model import RecurrentLM
from .prepare import prepare as prepare_corpus
from .prepare import split_settings_of
from .presets import choose_defaults, flag_text
from .task import LanguageModelTask
from .trained import LanguageModel, load
from .transfer import ARCHITECTURE, SourceRun, check_level, grown_tensors, known_share

# Which config each keyword setting belongs to.
OWNERS = {
    "data": field_names(DataConfig, "source"),
    "model": field_names(ModelConfig, "vocab_size"),
    "objective": field_names(ObjectiveConfig),
    "train": field_names(TrainConfig),
}
# A run's own prepared corpus: RUN/data (a prepared folder given to train is used where it is).
DATA_FOLDER = "data"


def prepare(source: str, out: PathLike, report: Optional[Callable[[str], None]] = print,
            **data_settings: Any) -> PreparedCorpus:
    """Clean and encode a corpus into a folder that `train` can read."""
    parts = split_settings(data_settings, OWNERS)
    others = [name for part in ("model", "objective", "train") for name in parts[part]]
    if others:
        raise LstmlabError(f"prepare only takes data settings, not {', '.join(others)}")
    check_level_settings(parts["data"])
    source, data_settings = split_settings_of(source, parts["data"], report)
    return prepare_corpus(DataConfig(source=source, **data_settings), Path(out), report)


def train(
    corpus_source: Optional[str] = None,
    out: PathLike = "runs/run",
    *,
    resume: bool = False,
    log: Callable[[str], None] = tqdm.write,
    show_progress: Optional[bool] = None,
    **settings: Any,
) -> LanguageModel:
    """Train a character (or, with level="word", word) language model and return it (best weights loaded).

    `corpus_source` is a text source (see corpus.load_text) or a folder made by
    `prepare`. Settings are the fields of DataConfig, ModelConfig,
    ObjectiveConfig and TrainConfig, e.g. cell="gru", hidden_sizes=(256, 128), minutes=2.
    Those not given come from a preset (lm/presets.py): the first row of its table that fits the
    level, the budget and the training text's size, or the one named by preset= ("medium", ...;
    `lstmlab presets` lists them). The log names the preset and why, and config.json holds its
    name and every setting.
    With resume=True, `out` is continued; budget settings then mean "this much more".
    """
    return train_run(LanguageModelRecipe(), corpus_source, out, resume=resume, log=log,
                     show_progress=show_progress, settings=settings)


class LanguageModelRecipe:
    """The language model's part of runs.train_run."""

    missing_data = "give a corpus to train on, e.g. builtin:shakespeare or a .txt file"
    loss_plot = "loss.png"
    reusable = (DATA_FOLDER,)  # a start that failed after preparing the corpus leaves it

    def start(self, source: str, run_dir: Path, settings: dict[str, Any], log) -> Setup:
        init_from = settings.pop("init_from", None)
        start_from = SourceRun.open(init_from) if init_from else None
        prepared_already = is_prepared(source)
        if start_from is not None:
            settings = settings_from_run(start_from, settings, prepared_already)
        if prepared_already:
            level = PreparedCorpus.open(Path(source)).level
        else:
            level = settings.get("level", "char")
            check_level_settings(settings)
            # A standard split folder: train.txt, valid.txt, and test.txt left alone.
            source, settings = split_settings_of(source, settings, log)
        check_input_settings(settings, level)
        if level != "word" and settings.get("adaptive_softmax"):
            raise LstmlabError("--adaptive-softmax is for word-level vocabularies (a character vocabulary is small "
                               "enough for a full softmax); add --level word, or drop it")
        preset = settings.pop("preset", None)
        given = settings
        # The preset's settings where not given (choose_defaults); a row of the table that
        # depends on the text's size fits only once it is read, below.
        settings, _ = choose_defaults(given, level, preset=preset)
        parts = split_settings(settings, OWNERS)
        # Build every config before the (possibly slow) prepare step, so a bad flag fails at once.
        train_cfg = task_train_config({}, parts["train"])
        objective = ObjectiveConfig(**parts["objective"])
        # The vocabulary is not read yet: the largest there may be, so that only what depends on it waits.
        ModelConfig(vocab_size=MAX_VOCAB_SIZE, **parts["model"])

        if prepared_already:
            if parts["data"]:
                raise LstmlabError(f"{source} is already prepared; cleaning options ({', '.join(parts['data'])}) "
                                   "apply only to raw text")
            prepared = PreparedCorpus.open(Path(source))
            data_dir = str(prepared.folder.resolve())
        else:
            log(f"preparing {source} into {run_dir / DATA_FOLDER}")
            prepared = prepare_corpus(DataConfig(source=source, **parts["data"]), run_dir / DATA_FOLDER, report=log,
                                      base=start_from.vocab if start_from else None)
            data_dir = DATA_FOLDER  # relative to the run folder, so a moved run still resumes
        settings, choice = choose_defaults(given, level, prepared.train_chars, preset=preset)
        log(choice.log_line())
        parts = split_settings(settings, OWNERS)
        train_cfg = task_train_config({}, parts["train"])
        objective = ObjectiveConfig(**parts["objective"])
        if start_from is not None:  # the network is the run's; the rest is chosen as for any run
            parts["model"].update({name: getattr(start_from.config.model, name) for name in ARCHITECTURE})
        model_cfg = ModelConfig(vocab_size=len(prepared.vocab), **parts["model"])
        if model_cfg.input == "scaled-id":
            log(SCALED_ID_NOTE)
        config = RunConfig(data=prepared.data_config, model=model_cfg, train=train_cfg, objective=objective,
                           data_dir=data_dir, version=__version__, preset=choice.preset,
                           init_from=str(start_from.folder.resolve()) if start_from else "")
        torch.manual_seed(train_cfg.seed)
        model = RecurrentLM(model_cfg)
        if start_from is not None:
            checkpoint.load_model_tensors(model, grown_tensors(start_from.tensors, start_from.config.model,
                                                               model_cfg.vocab_size), start_from.folder)
            log(start_text(start_from, prepared))
        task = LanguageModelTask(prepared, objective, train_cfg)  # checks the corpus fits the batch shape
        run_dir.mkdir(parents=True, exist_ok=True)
        checkpoint.save_text_atomic(run_dir / "config.json", config.to_json())
        checkpoint.save_text_atomic(run_dir / ("tokenizer.json" if prepared.level == "word" else "vocab.json"),
                                    prepared.vocab.to_json())
        summary = (f"{model_cfg.cell} {'x'.join(map(str, model_cfg.hidden_sizes))}, "
                   f"{sum(p.numel() for p in model.parameters()):,} parameters, vocabulary {model_cfg.vocab_size}"
                   + output_text(model_cfg) + dropout_text(model_cfg) + objective_text(objective))
        held_out = (prepared.data_config.val_source or
                    f"the last {prepared.data_config.val_fraction:g} of {prepared.data_config.source}")
        log(task.describe_validation(held_out))
        return Setup(model, task, train_cfg, summary)

    def reopen(self, run_dir: Path, log) -> Setup:
        config = RunConfig.load(run_dir / "config.json")
        prepared = PreparedCorpus.open(corpus_folder(run_dir, config))
        task = LanguageModelTask(prepared, config.objective, config.train)
        if config.model.input == "scaled-id":
            log(SCALED_ID_NOTE)
        return Setup(RecurrentLM(config.model), task, config.train)

    def finish(self, trainer: Trainer, setup: Setup, log) -> LanguageModel:
        return load(trainer.run_dir)


def settings_from_run(start_from: SourceRun, settings: dict[str, Any], prepared_already: bool) -> dict[str, Any]:
    """The settings of a run that starts from `start_from`'s weights (--init-from): its level,
    tokenizer and case (the vocabulary is the run's, extended), its cleaning unless given, and no
    --max-vocab cap unless given. Settings that would change the network's shape are refused."""
    if prepared_already:
        raise LstmlabError("--init-from extends the run's vocabulary with the new text's, so it needs the raw text, "
                           "not a prepared folder; give the text itself")
    check_level(start_from, settings.get("level"), "this run")
    model = start_from.config.model
    clashes = [name for name in ARCHITECTURE if name in settings and settings[name] != getattr(model, name)]
    if clashes:
        flags = ", ".join(flag_text(name, settings[name]) for name in clashes)
        raise LstmlabError(f"--init-from {start_from.folder} takes the network from the run, so {flags} cannot "
                           f"change it; drop {'it' if len(clashes) == 1 else 'them'} (dropouts and the training "
                           "settings may change)")
    data = start_from.config.data
    fixed = {"level": data.level, "lowercase": data.lowercase}
    if data.level == "word":
        fixed["tokenizer"] = data.tokenizer
    for name, value in fixed.items():
        if settings.get(name, value) != value:
            raise LstmlabError(f"--init-from {start_from.folder} reads text with {data_flag(name, value)}, and its "
                               f"vocabulary only means that; drop {data_flag(name, settings[name])}")
    settings = {**settings, **fixed}
    settings.setdefault("collapse_whitespace", data.collapse_whitespace)
    if data.level == "word":
        settings.setdefault("max_vocab", 0)
    return settings


def data_flag(name: str, value: Any) -> str:
    """A data setting as its flag (--keep-case is --lowercase's opposite)."""
    if name == "lowercase":
        return "--lowercase" if value else "--keep-case"
    return flag_text(name, value)


def start_text(start_from: SourceRun, prepared: PreparedCorpus) -> str:
    """The log line of a run that starts from another's weights: what it kept, what it added."""
    old = start_from.config.model.vocab_size
    added = len(prepared.vocab) - old
    word = prepared.level == "word"
    unit = "words" if word else "characters"
    share = known_share(np.asarray(prepared.train), old, UNK_ID if word else 0)
    data = prepared.data_config
    seen = f"--min-freq {data.min_freq}" if word else f"--min-count {data.min_count}"
    return (f"starting from {start_from.folder}'s weights: its {old:,} symbols kept, {added:,} new {unit} added "
            f"(each seen in the training part {seen} times or more; their rows start at the mean of the known "
            f"ones); the run already knew {share:.1%} of the new training {unit}")


def dropout_text(model: ModelConfig) -> str:
    """The dropouts in use, for the model's log line: ", dropout 0.2, recurrent dropout 0.25"."""
    locked = " locked" if model.locked_dropout else ""  # one mask per sequence
    rates = {f"dropout{locked}": model.dropout, f"embedding dropout{locked}": model.embed_dropout,
             "recurrent dropout": model.recurrent_dropout, "input dropout": model.input_dropout,
             "weight drop": model.weight_drop, "word dropout": model.word_dropout}
    return "".join(f", {name} {rate:g}" for name, rate in rates.items() if rate > 0)


def output_text(model: ModelConfig) -> str:
    """The output layer, for the model's log line, when it is not a plain softmax."""
    if model.adaptive_softmax:
        return f", adaptive softmax (cutoffs {','.join(map(str, model.adaptive_softmax))})"
    return ", output tied to the embedding" if model.tie_embeddings else ""


def objective_text(objective: ObjectiveConfig) -> str:
    """AWD-LSTM's objective settings in use, for the log."""
    parts = [f"AR {objective.ar:g}" if objective.ar else "", f"TAR {objective.tar:g}" if objective.tar else "",
             "variable back-propagation length" if objective.variable_seq_len else ""]
    return "".join(f", {part}" for part in parts if part)


def corpus_folder(run_dir: Path, config: RunConfig) -> Path:
    """The prepared corpus a run reads. Runs made before data_dir was saved relative to the
    run folder hold an absolute path; if the run has moved since, its own RUN/data is used."""
    folder = Path(config.data_dir)
    if not folder.is_absolute():
        return run_dir / folder
    if not folder.is_dir() and is_prepared(run_dir / DATA_FOLDER):
        return run_dir / DATA_FOLDER
    return folder

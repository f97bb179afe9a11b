"""Training a language model: lstmlab.prepare and lstmlab.train. The CLI is a thin shell over them.

    import lstmlab
    lm = lstmlab.train("builtin:shakespeare", "runs/demo", minutes=2)
    print(lm.generate("ROMEO:", length=300, temperature=0.7, seed=1))
    lm = lstmlab.train(out="runs/demo", resume=True, minutes=5)   # five more minutes
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import torch
from tqdm import tqdm

from .. import checkpoint
from ..checkpoint import PathLike
from ..config import MAX_VOCAB_SIZE, TrainConfig, field_names, split_settings, task_train_config
from ..errors import LstmlabError
from ..runs import Setup, train_run
from ..trainer import Trainer
from ..version import __version__
from .config import (SCALED_ID_NOTE, DataConfig, ModelConfig, ObjectiveConfig, RunConfig, check_input_settings,
                     check_level_settings)
from .data import PreparedCorpus, is_prepared
from .model import RecurrentLM
from .prepare import prepare as prepare_corpus
from .prepare import split_settings_of
from .presets import choose_defaults
from .task import LanguageModelTask
from .trained import LanguageModel, load

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
        prepared_already = is_prepared(source)
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
            prepared = prepare_corpus(DataConfig(source=source, **parts["data"]), run_dir / DATA_FOLDER, report=log)
            data_dir = DATA_FOLDER  # relative to the run folder, so a moved run still resumes
        settings, choice = choose_defaults(given, level, prepared.train_chars, preset=preset)
        log(choice.log_line())
        parts = split_settings(settings, OWNERS)
        train_cfg = task_train_config({}, parts["train"])
        objective = ObjectiveConfig(**parts["objective"])
        model_cfg = ModelConfig(vocab_size=len(prepared.vocab), **parts["model"])
        if model_cfg.input == "scaled-id":
            log(SCALED_ID_NOTE)
        config = RunConfig(data=prepared.data_config, model=model_cfg, train=train_cfg, objective=objective,
                           data_dir=data_dir, version=__version__, preset=choice.preset)
        torch.manual_seed(train_cfg.seed)
        model = RecurrentLM(model_cfg)
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

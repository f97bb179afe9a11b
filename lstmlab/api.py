"""The Python API. The CLI (cli.py) is a thin shell over these functions.

    import lstmlab
    lm = lstmlab.train("builtin:shakespeare", "runs/demo", minutes=2)
    print(lm.generate("ROMEO:", length=300, temperature=0.7, seed=1))
    lm = lstmlab.load("runs/demo")
    print(lm.evaluate("To be, or not to be, that is the question."))
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np
import torch
from tqdm import tqdm

from . import checkpoint, corpus
from .config import DataConfig, ModelConfig, RunConfig, TrainConfig, check_resume_settings
from .data import PreparedCorpus, is_prepared, prepare as prepare_corpus
from .errors import LstmlabError
from .inspection import Inspection
from .lm import LN2, LanguageModelTask, score_tokens
from .model import RecurrentLM
from .plots import plot_losses
from .tokenizers import load_tokenizer
from .trainer import Trainer, read_metrics
from .vocab import CharVocab

PathLike = Union[str, Path]


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _split_settings(settings: dict[str, Any]) -> tuple[dict, dict, dict]:
    """Route keyword settings to the config that owns them; unknown names are errors."""
    owners = {
        "data": {f.name for f in fields(DataConfig)} - {"source"},
        "model": {f.name for f in fields(ModelConfig)} - {"vocab_size"},
        "train": {f.name for f in fields(TrainConfig)},
    }
    parts: dict[str, dict] = {name: {} for name in owners}
    for key, value in settings.items():
        owner = next((name for name, names in owners.items() if key in names), None)
        if owner is None:
            known = sorted(set().union(*owners.values()))
            raise LstmlabError(f"unknown setting {key!r}; known settings: {', '.join(known)}")
        parts[owner][key] = value
    return parts["data"], parts["model"], parts["train"]


def prepare(source: str, out: PathLike, report: Optional[Callable[[str], None]] = print, **data_settings) -> PreparedCorpus:
    """Clean and encode a corpus into a folder that `train` can read."""
    data_kw, model_kw, train_kw = _split_settings(data_settings)
    if model_kw or train_kw:
        raise LstmlabError(f"prepare only takes data settings, not {', '.join([*model_kw, *train_kw])}")
    from .words import check_level_settings

    check_level_settings(data_kw)
    return prepare_corpus(DataConfig(source=source, **data_kw), Path(out), report)


def train(
    corpus_source: Optional[str] = None,
    out: PathLike = "runs/run",
    *,
    resume: bool = False,
    log: Callable[[str], None] = tqdm.write,
    show_progress: Optional[bool] = None,
    **settings: Any,
) -> "LanguageModel":
    """Train a character (or, with level="word", word) language model and return it (best weights loaded).

    `corpus_source` is a text source (see corpus.load_text) or a folder made by
    `prepare`. Settings are the fields of DataConfig, ModelConfig and
    TrainConfig, e.g. cell="gru", hidden_sizes=(256, 128), minutes=2.
    With resume=True, `out` is continued; budget settings then mean "this much more".
    """
    run_dir = Path(out)
    if resume:
        return _resume(run_dir, log, show_progress, settings)
    if corpus_source is None:
        raise LstmlabError("give a corpus to train on, e.g. builtin:shakespeare or a .txt file")
    checkpoint.check_fresh_run_dir(run_dir, reusable=("data",))
    data_kw, model_kw, train_kw = _split_settings(settings)
    if "minutes" not in train_kw and ("max_steps" in train_kw or "epochs" in train_kw):
        train_kw["minutes"] = None  # an explicit step/epoch budget replaces the default time budget
    from .words import check_level_settings, with_word_defaults

    if is_prepared(corpus_source):
        level = PreparedCorpus.open(Path(corpus_source)).level
    else:
        level = data_kw.get("level", "char")
        check_level_settings(data_kw)
    if level == "word":  # word-level defaults (embedding, dropout, seq_len, lr) where not given
        model_kw, train_kw = with_word_defaults(model_kw, train_kw)
    # Build every config before the (possibly slow) prepare step, so a bad flag fails at once.
    train_cfg = TrainConfig(**train_kw)
    ModelConfig(vocab_size=2, **model_kw)

    if is_prepared(corpus_source):
        if data_kw:
            raise LstmlabError(f"{corpus_source} is already prepared; cleaning options ({', '.join(data_kw)}) apply only to raw text")
        prepared = PreparedCorpus.open(Path(corpus_source))
    else:
        log(f"preparing {corpus_source} into {run_dir / 'data'}")
        prepared = prepare_corpus(DataConfig(source=corpus_source, **data_kw), run_dir / "data", report=log)
    model_cfg = ModelConfig(vocab_size=len(prepared.vocab), **model_kw)
    config = RunConfig(data=prepared.data_config, model=model_cfg, train=train_cfg,
                       data_dir=str(prepared.folder.resolve()), version=_version())
    torch.manual_seed(train_cfg.seed)
    model = RecurrentLM(model_cfg)
    task = LanguageModelTask(prepared, train_cfg)  # checks the corpus fits the batch shape
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.save_text_atomic(run_dir / "config.json", config.to_json())
    checkpoint.save_text_atomic(run_dir / ("tokenizer.json" if prepared.level == "word" else "vocab.json"),
                                prepared.vocab.to_json())
    log(f"model: {model_cfg.cell} {'x'.join(map(str, model_cfg.hidden_sizes))}, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters, vocabulary {model_cfg.vocab_size}; "
        f"{task.steps_per_epoch:,} steps per epoch; budget: {_budget_text(train_cfg)}")
    trainer = Trainer(model, task, train_cfg, run_dir, log=log, show_progress=show_progress)
    return _fit(trainer, run_dir, log)


def _resume(run_dir: Path, log, show_progress, settings: dict[str, Any]) -> "LanguageModel":
    check_resume_settings(settings)
    config = RunConfig.load(run_dir / "config.json")
    prepared = PreparedCorpus.open(Path(config.data_dir))
    model = RecurrentLM(config.model)
    task = LanguageModelTask(prepared, config.train)
    trainer = Trainer(model, task, config.train, run_dir, log=log, show_progress=show_progress)
    trainer.resume()
    trainer.extend_budget(steps=settings.get("max_steps"), minutes=settings.get("minutes"), epochs=settings.get("epochs"))
    log(f"resuming {run_dir} at step {trainer.progress.step:,}; budget: {_budget_text(trainer.cfg)}")
    return _fit(trainer, run_dir, log)


def _fit(trainer: Trainer, run_dir: Path, log) -> "LanguageModel":
    unit = getattr(trainer.task, "unit", "char")
    try:
        progress = trainer.fit()
    finally:
        metrics = read_metrics(run_dir)
        if metrics:
            plot_losses(metrics, run_dir / "loss.png", unit=unit)
    if unit == "word":
        best = f"{progress.best_val:.4f} nats/word (perplexity {math.exp(progress.best_val):,.1f})"
    else:
        best = f"{progress.best_val:.4f} nats/char ({progress.best_val / LN2:.3f} bits/char)"
    log(f"stopped after {progress.step:,} steps ({progress.stop_reason}); best validation loss "
        f"{best} at step {progress.best_step:,}; saved in {run_dir}")
    return load(run_dir)


def _budget_text(cfg: TrainConfig) -> str:
    parts = []
    if cfg.max_steps:
        parts.append(f"{cfg.max_steps:,} steps")
    if cfg.epochs:
        parts.append(f"{cfg.epochs:g} epochs")
    if cfg.minutes:
        parts.append(f"{cfg.minutes:g} minutes")
    return " or ".join(parts) + (", whichever comes first" if len(parts) > 1 else "")


def _version() -> str:
    from . import __version__

    return __version__


# ---------------------------------------------------------------------------
# A trained model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    nats_per_char: float
    chars: int

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / LN2

    def __str__(self) -> str:
        return f"{self.bits_per_char:.3f} bits/char ({self.nats_per_char:.3f} nats/char) over {self.chars:,} characters"


class LanguageModel:
    """A trained run: its config, vocabulary and best weights."""

    def __init__(self, run_dir: Path, config: RunConfig, vocab: CharVocab, model: RecurrentLM):
        self.run_dir, self.config, self.vocab, self.model = run_dir, config, vocab, model

    def normalize(self, text: str) -> str:
        """Clean text the way the training text was (lowercase, whitespace), minus Gutenberg stripping."""
        data = self.config.data
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return corpus.clean_text(text, strip_gutenberg_boilerplate=False, lowercase=data.lowercase,
                                 collapse_whitespace=data.collapse_whitespace)

    def prompt_text(self, prompt: str) -> str:
        """What generated text continues: the prompt, normalised."""
        return self.normalize(prompt)

    def encode(self, text: str, warn: Optional[Callable[[str], None]] = _warn) -> np.ndarray:
        unknown = self.vocab.unknown_chars(text)
        if unknown and warn:
            shown = " ".join(repr(ch) for ch in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            warn(f"{len(unknown)} character(s) not in the model's vocabulary are read as unknown: {shown}")
        return self.vocab.encode(text)

    def stream(self, prompt: str = "", length: int = 400, temperature: float = 0.7, top_k: Optional[int] = None,
               top_p: Optional[float] = None, num_samples: int = 1, seed: Optional[int] = None,
               warn: Optional[Callable[[str], None]] = _warn) -> Iterator[list[str]]:
        """Yield one list of `num_samples` characters per generated step."""
        _check_sampling(length, temperature, top_k, top_p, num_samples)
        ids = torch.from_numpy(self.encode(self.normalize(prompt), warn)).long()
        batch = ids.unsqueeze(0).expand(num_samples, -1).contiguous()  # (N, P)
        symbols = self.vocab.symbols
        # The unknown symbol stands for characters the model cannot name, so never write it.
        for next_ids in self.model.generate(batch, length, temperature, top_k, top_p, seed, suppress=(0,)):
            yield [symbols[i] for i in next_ids.tolist()]

    def generate(self, prompt: str = "", length: int = 400, temperature: float = 0.7, top_k: Optional[int] = None,
                 top_p: Optional[float] = None, num_samples: int = 1, seed: Optional[int] = None) -> Union[str, list[str]]:
        """The (normalised) prompt followed by `length` generated characters.
        Returns a string, or a list of strings when num_samples > 1."""
        pieces = [[] for _ in range(num_samples)]
        for step in self.stream(prompt, length, temperature, top_k, top_p, num_samples, seed):
            for sample, ch in zip(pieces, step):
                sample.append(ch)
        head = self.normalize(prompt)
        texts = [head + "".join(p) for p in pieces]
        return texts[0] if num_samples == 1 else texts

    def next_char_probs(self, text: str, warn: Optional[Callable[[str], None]] = _warn) -> dict[str, float]:
        """Every vocabulary symbol's probability of coming next after `text` (normalised first)."""
        probs = self._read(self.normalize(text), warn)[1][-1]
        return {symbol: float(p) for symbol, p in zip(self.vocab.symbols, probs)}

    def inspect(self, text: str, warn: Optional[Callable[[str], None]] = _warn) -> Inspection:
        """Read `text` and keep every gate, cell state and prediction along the way (see inspection.py)."""
        text = self.normalize(text)
        if not text:
            raise LstmlabError("there is no text to inspect; give some with --text or --file")
        ids, probs, gates = self._read(text, warn)
        numpy_gates = [{name: values[0].double().numpy() for name, values in layer.items()} for layer in gates]
        return Inspection(text, ids, self.vocab.symbols, self.config.model.cell, numpy_gates, probs)

    def _read(self, text: str, warn) -> tuple[np.ndarray, np.ndarray, list]:
        """ids (T,), next-symbol probabilities (T + 1, V) from the empty state onwards, per-layer gates."""
        ids = self.encode(text, warn)
        logits, _, gates = self.model.trace(torch.from_numpy(ids).long()[None])
        with torch.inference_mode():
            # Before the first character the state is all zeros, so the head sees h = 0.
            start = self.model.head(torch.zeros(1, 1, self.config.model.hidden_sizes[-1]))
            logits = torch.cat([start, logits], dim=1)[0].double()
            return ids, torch.softmax(logits, dim=-1).numpy(), gates

    def evaluate(self, text: str, warn: Optional[Callable[[str], None]] = _warn) -> Score:
        """Average negative log-likelihood of `text` under the model, each character given all before it."""
        nll, count, _ = self._score(text, warn, "characters")
        return Score(nll / count, count)

    def _score(self, text: str, warn, units: str) -> tuple[float, int, np.ndarray]:
        """Clean `text` like the training text and score it: total nats, tokens scored, the ids."""
        data = self.config.data
        text = corpus.clean_text(text, strip_gutenberg_boilerplate=data.strip_gutenberg,
                                 lowercase=data.lowercase, collapse_whitespace=data.collapse_whitespace)
        ids = self.encode(text, warn)
        if len(ids) < 2:
            raise LstmlabError(f"the text to evaluate has fewer than 2 {units} after cleaning; give a longer text")
        nll, count = score_tokens(self.model, ids, self.config.train.seq_len)
        return nll, count, ids

    def evaluate_file(self, path: PathLike, encoding: str = "utf-8") -> Score:
        return self.evaluate(corpus.load_text(str(path), encoding=encoding))


def _check_sampling(length, temperature, top_k, top_p, num_samples) -> None:
    if length < 0:
        raise LstmlabError(f"--length must be >= 0, got {length}")
    if temperature < 0:
        raise LstmlabError(f"--temperature must be >= 0 (0 means greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise LstmlabError(f"--top-k must be at least 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise LstmlabError(f"--top-p must be in (0, 1], got {top_p}")
    if num_samples < 1:
        raise LstmlabError(f"--num-samples must be at least 1, got {num_samples}")


def load(run_dir: PathLike) -> LanguageModel:
    """Load a trained run folder (config.json, vocab.json or, for a word-level
    run, tokenizer.json, model.safetensors)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LstmlabError(f"no such run folder: {run_dir}; train one with: lstmlab train CORPUS --out {run_dir}")
    config = RunConfig.load(run_dir / "config.json")
    word = config.data.level == "word"
    vocab_file = "tokenizer.json" if word else "vocab.json"
    vocab = load_tokenizer(run_dir / vocab_file) if word else CharVocab.load(run_dir / vocab_file)
    if len(vocab) != config.model.vocab_size:
        raise LstmlabError(f"{run_dir}/{vocab_file} has {len(vocab)} symbols but config.json expects {config.model.vocab_size}; restore the run's files")
    model = RecurrentLM(config.model)
    checkpoint.load_weights(model, run_dir / checkpoint.BEST)
    model.eval()
    if word:
        from .words import WordLanguageModel

        return WordLanguageModel(run_dir, config, vocab, model)
    return LanguageModel(run_dir, config, vocab, model)

"""Presets: the settings a language model's run gets from its level, its --minutes budget and
the size of its training text, as named sets of settings and one table that picks one.

The table (RULES) is read from the top: the first row that fits the run chooses its preset, and
every setting given wins over the preset's (settings that only work together, a preset's
`groups`, are held back together). --preset NAME (preset= in the Python API) skips the table.
At word level the level's own defaults (WORD_MODEL_DEFAULTS, WORD_TRAIN_DEFAULTS) lie beneath
every preset. The measurements behind each preset are in BENCHMARKS.md, in the section its
`measured` names (and "Presets (issue 23)" lists them all).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Optional

from ..config import TrainConfig
from ..errors import LstmlabError

# The word level's defaults where they differ from the dataclasses' (which are the character
# level's), beneath every preset: BENCHMARKS.md §7 (benchmarks/word_lm.py, Crime and Punishment).
WORD_MODEL_DEFAULTS: dict[str, Any] = {"embed_dim": 256, "dropout": 0.3}
WORD_TRAIN_DEFAULTS: dict[str, Any] = {"seq_len": 64, "lr": 2e-3, "eval_every": 100}


@dataclass(frozen=True)
class Preset:
    """A named set of settings; those given win. `groups` are settings that only work together:
    a group is held back whole when any of it is given (each other setting given wins alone)."""

    name: str
    description: str
    settings: Mapping[str, Any]
    measured: str  # where the measurements behind it are: a section of BENCHMARKS.md
    groups: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))  # shared: read only

    def under(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The preset's settings that `given` leaves to it."""
        held_back = {name for group in self.groups if set(group) & set(given) for name in group}
        return {k: v for k, v in self.settings.items() if k not in given and k not in held_back}


# The two-layer model (also the settings whose rows a run passes over when it gives any of them),
# and PyTorch's word_language_model recipe.
MEDIUM: dict[str, Any] = {"hidden_sizes": (512, 512), "dropout": 0.25, "lr": 5e-3}
LARGE_CORPUS: dict[str, Any] = {
    "hidden_sizes": (200, 200), "embed_dim": 200, "tie_embeddings": True, "dropout": 0.2,
    "optimizer": "sgd", "lr": 20.0, "momentum": 0.0, "clip_grad_norm": 0.25, "warmup_steps": 0,
    "seq_len": 35, "batch_size": 20, "ema_decay": 0.0, "eval_every": 1000, "eval_chars": 50_000,
}

# The same recipe with an output layer of its own, an adaptive softmax (its cutoffs chosen from the
# vocabulary's size: config.default_cutoffs): three times the words a second over WikiText-2's
# 33,279 symbols, which won at 5, 10 and 30 minutes (BENCHMARKS.md §20), so the table picks it
# for every large word corpus; large-corpus (tied, full softmax) is there by name.
ADAPTIVE: dict[str, Any] = {**LARGE_CORPUS, "tie_embeddings": False, "adaptive_softmax": "auto"}
# ... with AWD-LSTM's regularisers (Merity et al. 2017): locked dropout, weight drop, word dropout,
# AR/TAR, variable back-propagation length and averaged weights. On the 2x200 they lost to ADAPTIVE
# at 30 minutes (the model underfits: §20), so no row of the table picks it; --preset awd does.
AWD: dict[str, Any] = {
    **ADAPTIVE, "dropout": 0.25, "embed_dropout": 0.25, "locked_dropout": True, "weight_drop": 0.2,
    "word_dropout": 0.05, "ar": 2.0, "tar": 1.0, "variable_seq_len": True, "ema_decay": 0.998,
}
GROUPS = (("hidden_sizes", "embed_dim", "tie_embeddings"), ("optimizer", "lr", "momentum", "clip_grad_norm", "warmup_steps"))

PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("seconds", "A budget of seconds: 16 streams, a high peak rate and a short warm-up make more and "
                      "larger steps", {"batch_size": 16, "warmup_steps": 20, "lr": 2e-2}, "§1b"),
    Preset("minute", "A budget under a minute: the same with a rate between the 0.02 of seconds and the "
                     "usual 3e-3", {"batch_size": 16, "warmup_steps": 20, "lr": 1e-2}, "§1b, §19"),
    Preset("base", "The level defaults alone (characters: 1x512, Adam 3e-3, 32 streams of 128 steps)", {},
           "§5, §7"),
    Preset("medium", "Two layers of 512 with dropout, for a long budget or a small book", MEDIUM, "§5c, §5d"),
    Preset("heavy-dropout", "More dropout, for a small book of words", {"dropout": 0.5}, "§5d"),
    Preset("large-corpus", "PyTorch's word_language_model recipe (tied 2x200, plain SGD at rate 20, tight "
                           "clip), annealed over the budget, for PTB or WikiText", LARGE_CORPUS, "§17", groups=GROUPS),
    Preset("adaptive", "The large-corpus recipe with an output layer of its own, an adaptive softmax: three times "
                       "the words a second over a large vocabulary", ADAPTIVE, "§20", groups=GROUPS),
    Preset("awd", "The adaptive preset with AWD-LSTM's regularisers (locked dropout, weight drop, word dropout, "
                  "AR/TAR, variable length, averaged weights), for larger models: the 2x200 underfits with them",
           AWD, "§20", groups=GROUPS),
)}


@dataclass(frozen=True)
class Rule:
    """A row of the table: the preset for runs of `level` whose --minutes budget lies in
    `minutes` and whose training text's size (characters, or words at word level) lies in
    `tokens`, each [low, high); None fits any budget (steps and epochs too) or any size (known or
    not). The row is passed over when any setting of `unless` is given."""

    level: str
    preset: str
    why: str  # for the log; {tokens} is the training text's size
    minutes: Optional[tuple[float, float]] = None
    tokens: Optional[tuple[float, float]] = None
    unless: tuple[str, ...] = ()

    def fits(self, level: str, minutes: Optional[float], tokens: Optional[int], given: Mapping[str, Any]) -> bool:
        if level != self.level or set(self.unless) & set(given):
            return False
        if self.minutes is not None and (minutes is None or not self.minutes[0] <= minutes < self.minutes[1]):
            return False
        return self.tokens is None or (tokens is not None and self.tokens[0] <= tokens < self.tokens[1])


SHORT = "more and larger steps learn more in seconds"
SMALL = "the usual model would learn it by heart long before its budget ends"
RULES: tuple[Rule, ...] = (
    Rule("char", "seconds", f"a budget under 0.25 minutes ({SHORT})", minutes=(0.0, 0.25)),
    Rule("char", "minute", f"a budget under a minute ({SHORT})", minutes=(0.25, 1.0)),
    Rule("char", "medium", "a small book ({tokens:,} training characters, under 500,000: " + SMALL + ")",
         tokens=(0, 500_000), unless=tuple(MEDIUM)),
    Rule("char", "medium", "a budget of 5 minutes or more (a larger, regularised model uses it)",
         minutes=(5.0, math.inf), unless=tuple(MEDIUM)),
    Rule("char", "base", "no other row of the preset table fits"),
    Rule("word", "heavy-dropout", "a small book ({tokens:,} training words, under 100,000: " + SMALL + ")",
         tokens=(0, 100_000), unless=("dropout",)),
    Rule("word", "adaptive", "a large word corpus ({tokens:,} training tokens, 500,000 or more: PyTorch's "
                             "word_language_model recipe with an adaptive softmax, which trains three times the "
                             "words a second and learns most in minutes)", tokens=(500_000, math.inf)),
    Rule("word", "base", "no other row of the preset table fits"),
)


def small_book_settings() -> dict[str, dict[str, Any]]:
    """What a small book gets at each level (its first size row), when none of it is given."""
    found: dict[str, dict[str, Any]] = {}
    for rule in RULES:
        if rule.tokens is not None and rule.tokens[0] == 0:
            found.setdefault(rule.level, dict(PRESETS[rule.preset].settings))
    return found


SMALL_BOOK_DEFAULTS = small_book_settings()


def budget_minutes(settings: Mapping[str, Any]) -> Optional[float]:
    """The run's --minutes budget (default 10), or None for a budget in steps or epochs (or a bad one)."""
    if "max_steps" in settings or "epochs" in settings:
        return None
    minutes = settings.get("minutes", TrainConfig.minutes)
    return minutes if minutes is not None and minutes > 0 else None


def preset_named(name: str) -> Preset:
    if name not in PRESETS:
        raise LstmlabError(f"unknown --preset {name!r}; choose one of {', '.join(PRESETS)} (lstmlab presets lists them)")
    return PRESETS[name]


@dataclass(frozen=True)
class Choice:
    """The preset a run got, why, and what it set (the settings given left out)."""

    preset: str
    why: str
    picked: dict[str, Any]
    by_hand: bool = False

    def log_line(self) -> str:
        """The log's line: "a budget under a minute (...): preset minute, --batch-size 16, ...; give ..."."""
        head = (f"--preset {self.preset} (chosen by hand): " if self.by_hand
                else f"{self.why}: preset {self.preset}, ")
        if self.picked:
            flags = ", ".join(flag_text(k, v) for k, v in self.picked.items())
            return f"{head}{flags}; give any of them, or another --preset, to choose otherwise"
        if PRESETS[self.preset].settings:
            return f"{head}every setting of it given"
        return f"{head}the level's own defaults; --preset NAME chooses another (lstmlab presets lists them)"


def choose_defaults(settings: Mapping[str, Any], level: str = "char", train_tokens: Optional[int] = None,
                    preset: Optional[str] = None) -> tuple[dict[str, Any], Choice]:
    """Every default that depends on the run, under the settings given (which win): the preset
    named by `preset`, or else by the first row of RULES that fits the level, the budget and
    train_tokens (the training text's size; None before the text is read, which no size row
    fits), then at word level the level's own defaults (with_word_defaults). Also the choice,
    to be logged and saved."""
    if preset is not None:
        chosen, why = preset_named(preset), f"--preset {preset} given"
    else:
        minutes = budget_minutes(settings)
        rule = next(r for r in RULES if r.fits(level, minutes, train_tokens, settings))
        chosen, why = PRESETS[rule.preset], rule.why.format(tokens=train_tokens)
    picked = chosen.under(settings)
    merged = {**picked, **settings}
    if level == "word":
        merged = with_word_defaults(merged)
    return merged, Choice(chosen.name, why, picked, by_hand=preset is not None)


def with_word_defaults(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Word-level defaults under the settings given (which win). The embedding's output is
    dropped at --dropout's rate unless --embed-dropout says otherwise, as in Zaremba et al."""
    merged = {**WORD_MODEL_DEFAULTS, **WORD_TRAIN_DEFAULTS, **settings}
    merged.setdefault("embed_dropout", merged.get("dropout", 0.0))
    return merged


# -- the table in words: `lstmlab presets`, train --help and the README ------------------------

FLAG_NAMES = {"hidden_sizes": "hidden", "clip_grad_norm": "clip", "max_steps": "steps"}  # flags not named as settings
UNITS = {"char": "characters", "word": "words"}


def flag_text(name: str, value: Any) -> str:
    """A setting as a command-line flag: --hidden 512,512, --lr 0.005, --tie-embeddings."""
    flag = "--" + FLAG_NAMES.get(name, name).replace("_", "-")
    if isinstance(value, bool):
        return flag if value else "--no-" + flag[2:]
    return f"{flag} {flag_value(value)}"


def flag_value(value: Any) -> str:
    """A setting as it is written on the command line: 0.005, 512,512, sgd."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return value if isinstance(value, str) else f"{value:g}"


def flags_text(settings: Mapping[str, Any]) -> str:
    return " ".join(flag_text(k, v) for k, v in settings.items())


def range_text(bounds: Optional[tuple[float, float]], unit: str) -> str:
    if bounds is None:
        return "any"
    low, high = bounds
    if low == 0:
        return f"under {high:,g} {unit}"
    if high == math.inf:
        return f"{low:,g} {unit} or more"
    return f"{low:,g} to {high:,g} {unit}"


def table_text() -> str:
    """RULES as a table, one row each."""
    rows = [("level", "budget", "training text", "preset", "unless given")]
    for rule in RULES:
        rows.append((rule.level, range_text(rule.minutes, "min"), range_text(rule.tokens, UNITS[rule.level]),
                     rule.preset, ", ".join(flag_text(name, True) for name in rule.unless)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


TABLE_INTRO = ("The first row that fits the run chooses its preset; a row is passed over when a flag it names "
               "under 'unless given' is given, and a budget in --steps or --epochs fits only the rows whose "
               "budget is 'any'. Any flag given wins over the preset, --preset NAME picks one by hand, the log "
               "names the preset and why, and config.json keeps its name.")


def presets_text(width: int = 100) -> str:
    """What `lstmlab presets` prints: the table, then each preset's settings and why."""
    name_width = max(map(len, PRESETS)) + 2
    lines = [table_text(), "", textwrap.fill(TABLE_INTRO, width), ""]
    for p in PRESETS.values():
        # A flag and its value stay on one line: joined by a no-break space while wrapping.
        flags = " ".join(flag_text(k, v).replace(" ", "\xa0") for k, v in p.settings.items()) or "(no settings)"
        text = f"{flags}. {p.description} (BENCHMARKS.md {p.measured})."
        lines.append(textwrap.fill(text, width, initial_indent=p.name.ljust(name_width),
                                   subsequent_indent=" " * name_width, break_on_hyphens=False).replace("\xa0", " "))
    word = flags_text({**WORD_MODEL_DEFAULTS, **WORD_TRAIN_DEFAULTS})
    lines += ["", textwrap.fill(f"The level defaults: the dataclasses' at --level char; at --level word {word}, and "
                                "--embed-dropout at --dropout's rate (BENCHMARKS.md §7).", width,
                                break_on_hyphens=False)]
    return "\n".join(lines)

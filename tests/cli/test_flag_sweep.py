"""Every numeric flag of every command, swept at 0, at negative values and at an absurd size.

Each value goes through the real parser and then through the check that the command runs
on it (a config dataclass, check_sampling, a CLI check); nothing trains. A value is either
accepted or refused up front with a one-line LstmlabError that names the flag, never a
traceback, a MemoryError or an endless run later. The table must cover every numeric flag:
a new one fails test_the_table_covers_every_numeric_flag until it has a row here.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pytest

from lstmlab import forecast
from lstmlab.classify.config import ClassifierConfig, LabelledDataConfig, TransferConfig
from lstmlab.cli.classify import stats_max_length
from lstmlab.cli.flags import check_seed, check_threads, layer_sizes, subcommands
from lstmlab.cli.forecast import check_backtest_flags, check_predict_steps
from lstmlab.cli.launch import check_nproc
from lstmlab.cli.lm import described_model, parse_temperatures
from lstmlab.cli.main import build_parser
from lstmlab.cli.serve import check_port
from lstmlab.config import TrainConfig
from lstmlab.errors import LstmlabError
from lstmlab.forecast.config import BacktestConfig, ForecasterConfig, SeriesDataConfig
from lstmlab.inspect.inspection import Inspection
from lstmlab.inspect.page import check_length, choose_view, parse_units
from lstmlab.lm.config import DataConfig, ModelConfig, ObjectiveConfig
from lstmlab.lm.trained import check_sampling
from lstmlab.serve.limits import Limits

LEGACY_FORECASTER = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_runs" / "forecaster"

HUGE = str(10**12)
# The values each kind of flag is swept at, as typed on the command line.
SWEEP = {"int": ("0", "-1", HUGE), "float": ("0", "-1", "-0.5", "1e12")}
# Flags read as text and turned into numbers by the command itself.
TEXT_NUMBERS = {("generate", "--temperature"), ("inspect", "--units")}
# The command line that reaches each command's parser (its required arguments), the flag goes last.
COMMAND_LINES = {
    "": ["corpora"],  # the top-level --threads goes before the command
    "prepare": ["prepare", "CORPUS", "--out", "PREPARED"],
    "summary": ["summary"],
    "train": ["train"],
    "generate": ["generate", "RUN"],
    "inspect": ["inspect", "RUN", "--out", "PAGE.html"],
    "classify stats": ["classify", "stats", "DATA"],
    "classify train": ["classify", "train"],
    "forecast train": ["forecast", "train"],
    "forecast backtest": ["forecast", "backtest", "RUN"],
    "forecast predict": ["forecast", "predict", "RUN", "--out", "FORECAST.csv"],
    "serve": ["serve", "RUN"],
}


def numeric_flags() -> dict[tuple[str, str], argparse.Action]:
    """(command, flag) -> argparse action, for every flag that takes a number, in every
    command and sub-command (walked as tests/cli/test_docs.py's help_markdown walks them)."""
    found: dict[tuple[str, str], argparse.Action] = {}

    def walk(parser: argparse.ArgumentParser, command: str) -> None:
        for action in parser._actions:
            flag = action.option_strings[-1] if action.option_strings else None
            if flag and (action.type in (int, float, layer_sizes) or (command, flag) in TEXT_NUMBERS):
                found[(command, flag)] = action
        for name, sub in subcommands(parser).items():
            walk(sub, f"{command} {name}".strip())

    walk(build_parser(), "")
    return found


def sweep_kind(action: argparse.Action) -> str:
    return "float" if action.type is float or action.option_strings[-1] == "--temperature" else "int"


# -- the checks each command runs on a flag: check(dest, value) ----------------------------
Check = Callable[[str, Any], Any]


def config(cls: type, **fixed: Any) -> Check:
    """Build `cls` with the flag's value (and `fixed` settings), as the command does."""
    return lambda dest, value: cls(**fixed, **{dest: value})


def call(function: Callable[[Any], Any]) -> Check:
    return lambda dest, value: function(value)


def each(*checks: Check) -> Check:
    """A flag that feeds several settings (--horizon: the data and the model): every check runs."""
    return lambda dest, value: [check(dest, value) for check in checks]


def sampling(option: str) -> Check:
    """generate's options as check_sampling sees them, with `option` given."""
    defaults = dict(length=400, temperature=0.7, top_k=None, top_p=None, num_samples=1)
    return lambda dest, value: check_sampling(**{**defaults, option: value})


def small_inspection() -> Inspection:
    """Two characters read by a one-layer, four-unit LSTM: enough for the page's unit checks."""
    gates = [{name: np.zeros((2, 4)) for name in ("input", "forget", "cell", "output", "hidden")}]
    return Inspection("ab", np.array([1, 2]), ("?", "a", "b"), "lstm", gates, np.full((3, 3), 1 / 3))


def temperatures(text: str) -> None:
    """generate --temperature: the list is parsed, then each is checked with the other options."""
    for temperature in parse_temperatures(text):
        check_sampling(400, temperature, None, None, 1)


def inspect_view(option: str) -> Check:
    """The page's choice of layer and units (choose_view), with `option` given."""
    return lambda dest, value: choose_view(small_inspection(), **{option: value})


@pytest.fixture(scope="module")
def legacy_forecaster(tmp_path_factory):
    """A copy of the small forecaster the legacy-run tests keep (never trained here)."""
    run = tmp_path_factory.mktemp("forecaster") / "run"
    shutil.copytree(LEGACY_FORECASTER, run)
    return forecast.load(run)


@dataclass(frozen=True)
class Row:
    check: Check
    typical: str  # a value real use gives, which must be accepted
    accepted: tuple[str, ...] = ()  # the swept values that are allowed; every other one is refused
    names: Optional[str] = None  # what a refusal names, if not the flag itself


def train_rows(objective: bool = True) -> dict[str, Row]:
    """The optimisation, budget and process flags that every `train` command shares."""
    t = config(TrainConfig)
    rows = {
        "--momentum": Row(t, "0.9", ("0",)),  # 0 is plain SGD
        # A huge rate or decay is allowed: the run stops at the first non-finite loss, in one line.
        "--lr": Row(t, "0.003", ("1e12",)),
        "--weight-decay": Row(t, "0.01", ("0", "1e12")),
        "--batch-size": Row(t, "32"),
        "--warmup-steps": Row(t, "50", ("0", HUGE)),  # huge: the rate never finishes rising
        "--clip": Row(t, "1.0", ("0", "1e12")),  # 0 turns clipping off; huge never clips
        "--ema-decay": Row(t, "0.998", ("0",)),  # 0 turns averaging off
        "--seed": Row(call(check_seed), "1", ("0",)),
        # Budgets and intervals: huge means "never", which the user asked for (Ctrl-C saves the run).
        "--minutes": Row(t, "10", ("1e12",)),
        "--epochs": Row(t, "3", ("1e12",)),
        "--steps": Row(t, "1000", (HUGE,)),
        "--eval-every": Row(t, "250", (HUGE,)),
        "--patience": Row(t, "5", ("0", HUGE)),  # 0 never stops early
        "--log-every": Row(t, "10", (HUGE,)),
        "--nproc": Row(call(check_nproc), "2"),
    }
    if objective:  # the language model's own schedule flags
        rows.update({
            "--min-lr-ratio": Row(t, "0.1", ("0",)),
            "--gamma": Row(t, "0.5"),
            "--decay-every": Row(t, "1000", (HUGE,)),
            # 0 is refused only with --schedule plateau: runs saved with other schedules may hold it
            # (test_plateau_patience_zero_stays_allowed_with_other_schedules).
            "--plateau-patience": Row(config(TrainConfig, schedule="plateau"), "2", (HUGE,)),
        })
    return rows


def lm_data_rows() -> dict[str, Row]:
    word = config(DataConfig, level="word")
    return {
        "--min-count": Row(config(DataConfig), "2", (HUGE,)),  # huge: prepare refuses a text with < 2 characters left
        "--max-vocab": Row(word, "20000", ("0", HUGE)),  # a cap: 0 is none, huge is above any vocabulary
        "--min-freq": Row(word, "2", (HUGE,)),  # huge: "no word appears N times", in one line
        "--val-fraction": Row(config(DataConfig), "0.1"),
    }


def lm_model_rows() -> dict[str, Row]:
    model = config(ModelConfig, vocab_size=65)
    return {"--hidden": Row(model, "256,128"), "--embed-dim": Row(model, "64", ("0",))}  # 0: one-hot inputs


def lm_train_rows() -> dict[str, Row]:
    model, objective = config(ModelConfig, vocab_size=65), config(ObjectiveConfig)
    return {
        **lm_data_rows(), **lm_model_rows(), **train_rows(),
        **{flag: Row(model, "0.2", ("0",)) for flag in ("--dropout", "--embed-dropout", "--recurrent-dropout",
                                                         "--input-dropout", "--weight-drop", "--word-dropout")},
        "--ar": Row(objective, "2", ("0", "1e12")),  # penalty weights: any size is a valid (if poor) choice
        "--tar": Row(objective, "1", ("0", "1e12")),
        "--nt-asgd": Row(config(TrainConfig), "5", ("0", HUGE)),  # 0 turns it off; huge never triggers
        "--seq-len": Row(objective, "128"),
        "--window": Row(objective, "50"),
        "--step": Row(objective, "3", (HUGE,)),  # a distance between windows: huge leaves one window
        "--eval-chars": Row(objective, "200000", ("0", HUGE)),  # 0 validates on all of it; so does huge
    }


def described(dest: str, value: Any) -> ModelConfig:
    """The model `summary --vocab-size 65` describes, with this flag given."""
    return described_model(65, {dest: value})


def summary_rows() -> dict[str, Row]:
    return {
        "--vocab-size": Row(call(lambda value: described_model(value, {})), "65"),
        "--hidden": Row(described, "256,128"),
        "--embed-dim": Row(described, "64", ("0",)),
    }


def classify_train_rows() -> dict[str, Row]:
    data, model = config(LabelledDataConfig), config(ClassifierConfig, vocab_size=100, classes=("neg", "pos"))
    return {
        **train_rows(objective=False),
        "--val-fraction": Row(data, "0.1", ("0",)),  # 0: the split then says the validation set is empty
        "--test-fraction": Row(data, "0.1", ("0",)),  # 0: report on validation
        "--folds": Row(data, "5", ("0",)),  # 0: no folds
        "--fold": Row(config(LabelledDataConfig, folds=5), "2", ("0",)),
        "--split-seed": Row(data, "1", ("0", HUGE)),  # NumPy takes seeds of any size
        "--max-vocab": Row(data, "50000", (HUGE,)),  # caps: huge is no cap
        "--min-freq": Row(data, "2", (HUGE,)),  # huge: "the vocabulary has 2 symbols", in one line
        "--max-length": Row(data, "400", (HUGE,)),
        "--hidden": Row(model, "128,64"),
        "--embed-dim": Row(model, "128"),
        "--dropout": Row(model, "0.5", ("0",)),
        "--word-dropout": Row(model, "0.2", ("0",)),
        "--head-hidden": Row(model, "50", ("0",)),  # 0: no hidden layer
        "--weight-drop": Row(model, "0.25", ("0",)),
        # 0 reads in one pass; huge too (one chunk). Chunks read one way only.
        "--chunk-length": Row(config(ClassifierConfig, vocab_size=100, classes=("neg", "pos"), bidirectional=False),
                              "70", ("0", HUGE)),
        "--lm-finetune": Row(config(TransferConfig, init_from="LM_RUN"), "5", ("0", "1e12")),  # minutes: huge is Ctrl-C
        "--layer-lr-decay": Row(config(TransferConfig), "2.6", ("1e12",)),  # huge: the lower layers barely move
        "--unfreeze-epochs": Row(config(TransferConfig), "1", ("0", "1e12")),  # 0: all at once; huge: the head only
    }


def forecast_train_rows() -> dict[str, Row]:
    data, backtest = config(SeriesDataConfig), config(BacktestConfig)
    model = config(ForecasterConfig, input_size=1, horizon=12)
    return {
        **train_rows(objective=False),
        "--lookback": Row(data, "48"),
        "--horizon": Row(each(data, config(ForecasterConfig, input_size=1)), "12"),
        # 0 is allowed here; the series then refuses it in one line (no validation window, no test part).
        "--val-fraction": Row(data, "0.1", ("0",)),
        "--test-fraction": Row(data, "0.1", ("0",)),
        "--hidden": Row(model, "64,32"),
        "--dropout": Row(model, "0.1", ("0",)),
        # Huge: the backtest refuses a season longer than the history, in one line naming --season.
        "--season": Row(backtest, "12", (HUGE,)),
        "--stride": Row(backtest, "1", (HUGE,)),  # huge: one origin
    }


def serve_rows() -> dict[str, Row]:
    limits = config(Limits)
    # The limits are caps on what a request may ask: huge means no cap, except where the server
    # holds that much for one request (the body, the samples' state rows).
    return {
        "--port": Row(call(check_port), "8000", ("0",)),  # 0: the system picks a free port
        "--max-body-bytes": Row(limits, "1000000"),
        "--max-prompt-chars": Row(limits, "10000", (HUGE,)),
        "--max-inspect-chars": Row(limits, "2000", (HUGE,)),
        "--max-length": Row(limits, "10000", (HUGE,)),
        "--max-samples": Row(limits, "16"),
        "--max-texts": Row(limits, "256", (HUGE,)),
        "--max-streams": Row(limits, "64", (HUGE,)),
        "--time-limit": Row(limits, "300", ("1e12",)),
    }


def prefixed(command: str, rows: dict[str, Row]) -> dict[tuple[str, str], Row]:
    return {(command, flag): row for flag, row in rows.items()}


def interval_check(forecaster) -> Check:
    return lambda dest, value: forecaster.predict(steps=1, interval=value)


def table(forecaster=None) -> dict[tuple[str, str], Row]:
    """(command, flag) -> how the command checks it and which swept values it accepts."""
    return {
        ("", "--threads"): Row(call(check_threads), "4"),
        **prefixed("prepare", lm_data_rows()),
        **prefixed("summary", summary_rows()),
        **prefixed("train", lm_train_rows()),
        **prefixed("generate", {
            "--length": Row(sampling("length"), "400", ("0",)),  # 0: the prompt alone
            "--temperature": Row(call(temperatures), "0.2,0.5,1.0", ("0", "1e12")),  # 0 is greedy; huge is uniform
            "--top-k": Row(sampling("top_k"), "40", (HUGE,)),  # above the vocabulary: keeps all
            "--top-p": Row(sampling("top_p"), "0.9"),
            "--seed": Row(call(check_seed), "3", ("0",)),
            "--num-samples": Row(sampling("num_samples"), "4"),
        }),
        **prefixed("inspect", {
            # Checked against the model read: this one has one layer of four units.
            "--layer": Row(inspect_view("layer"), "0", ("0",), names="layer"),
            "--unit": Row(inspect_view("colour_unit"), "3", ("0",), names="unit"),
            "--units": Row(call(lambda text: choose_view(small_inspection(), units=parse_units(text))), "1,3", ("0",),
                           names="unit"),
            "--max-chars": Row(call(lambda value: check_length("some text", value)), "5000", (HUGE,)),  # a cap
        }),
        ("classify stats", "--max-length"): Row(call(stats_max_length), "40", (HUGE,)),
        **prefixed("classify train", classify_train_rows()),
        **prefixed("forecast train", forecast_train_rows()),
        ("forecast backtest", "--season"): Row(call(lambda value: check_backtest_flags(value, None)), "12", (HUGE,)),
        ("forecast backtest", "--stride"): Row(call(lambda value: check_backtest_flags(None, value)), "1", (HUGE,)),
        ("forecast predict", "--steps"): Row(call(check_predict_steps), "24"),
        ("forecast predict", "--interval"): Row(interval_check(forecaster), "0.8"),
        **prefixed("serve", serve_rows()),
    }


FLAGS = numeric_flags()
CASES = [(command, flag, text) for (command, flag), action in sorted(FLAGS.items())
         for text in SWEEP[sweep_kind(action)] + ("typical",)]


def test_the_table_covers_every_numeric_flag():
    rows = table()
    assert sorted(set(FLAGS) - set(rows)) == [], "numeric flags without a row in this table: add one"
    assert sorted(set(rows) - set(FLAGS)) == [], "rows for flags that no longer exist (or are no longer numeric)"
    for key, row in rows.items():
        assert set(row.accepted) <= set(SWEEP[sweep_kind(FLAGS[key])]), key


def parsed(command: str, flag: str, text: str) -> Any:
    """The flag's value as the command receives it from the real parser."""
    argv = [flag, text, *COMMAND_LINES[command]] if not command else [*COMMAND_LINES[command], flag, text]
    return vars(build_parser().parse_args(argv))[FLAGS[(command, flag)].dest]


@pytest.mark.parametrize("command, flag, text", CASES, ids=[f"{c or 'lstmlab'} {f} {t}" for c, f, t in CASES])
def test_each_value_is_accepted_or_refused_in_one_line(command, flag, text, request):
    forecaster = request.getfixturevalue("legacy_forecaster") if flag == "--interval" else None
    row = table(forecaster)[(command, flag)]
    if text == "typical":
        text = row.typical
    value = parsed(command, flag, text)
    if text == row.typical or text in row.accepted:
        row.check(FLAGS[(command, flag)].dest, value)
        return
    with pytest.raises(LstmlabError) as refused:
        row.check(FLAGS[(command, flag)].dest, value)
    message = str(refused.value)
    assert "\n" not in message and message.strip() == message, message
    assert (row.names or flag) in message, f"the message should name {row.names or flag}: {message}"


def test_plateau_patience_zero_stays_allowed_with_other_schedules():
    """Runs saved before --plateau-patience was checked may hold 0; it means nothing without plateau."""
    TrainConfig(plateau_patience=0)
    with pytest.raises(LstmlabError, match="--plateau-patience"):
        TrainConfig(plateau_patience=0, schedule="plateau")


def test_generating_many_long_samples_is_refused_before_any_work():
    """Each of --length and --num-samples may be large, but not both at once: generate() holds every symbol."""
    check_sampling(10_000_000, 0.7, None, None, 1)
    check_sampling(100, 0.7, None, None, 10_000)
    with pytest.raises(LstmlabError, match="--length 10,000,000 x --num-samples 1,000"):
        check_sampling(10_000_000, 0.7, None, None, 1_000)


def test_fold_is_refused_negative_even_without_folds():
    LabelledDataConfig(fold=0)
    with pytest.raises(LstmlabError, match="--fold"):
        LabelledDataConfig(fold=-1)

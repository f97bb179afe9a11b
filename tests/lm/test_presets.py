"""Presets (lm/presets.py, issue 23): the table resolves the measured runs exactly as the rules
before it did, --preset picks one by hand, config.json names it, and `lstmlab presets` prints it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lstmlab
from lstmlab.config import TrainConfig
from lstmlab.errors import LstmlabError
from lstmlab.lm.config import DataConfig, ModelConfig, ObjectiveConfig, RunConfig
from lstmlab.lm.presets import PRESETS, RULES, choose_defaults, presets_text, table_text

ROOT = Path(__file__).resolve().parents[2]
LEGACY_CHAR_RUN = ROOT / "tests" / "fixtures" / "legacy_runs" / "char_lm"
QUIET = dict(log=lambda line: None, show_progress=False)
FAST = ["--hidden", "32", "--embed-dim", "8", "--seq-len", "16", "--steps", "2", "--eval-every", "2",
        "--eval-chars", "2000", "--no-progress"]


# -- the four measured runs resolve exactly as before the table (BENCHMARKS.md §1b, §5, §5c, §17) --

def test_the_six_second_seed_race_resolves_as_before():
    # benchmarks/seed_vs_lstmlab.py: --minutes 0.1 --hidden 128 on 1.13M characters of Crime and Punishment.
    given = {"minutes": 0.1, "hidden_sizes": (128,), "eval_every": 20, "eval_chars": 0, "seed": 0}
    chosen, choice = choose_defaults(given, "char")  # before the text is read
    assert chosen == {"minutes": 0.1, "hidden_sizes": (128,), "eval_every": 20, "eval_chars": 0, "seed": 0,
                      "batch_size": 16, "warmup_steps": 20, "lr": 0.02}
    assert choose_defaults(given, "char", 1_130_000) == (chosen, choice)
    assert choice.preset == "seconds"


def test_ten_minutes_on_tiny_shakespeare_resolves_as_before():
    chosen, choice = choose_defaults({"minutes": 10.0}, "char", 1_003_855)
    assert chosen == {"minutes": 10.0, "hidden_sizes": (512, 512), "dropout": 0.25, "lr": 0.005}
    assert choice.preset == "medium" and choice.why.startswith("a budget of 5 minutes or more")


def test_the_two_minute_demo_resolves_as_before():
    # builtin:shakespeare: more than 500,000 training characters, so no small-book row fits.
    chosen, choice = choose_defaults({"minutes": 2.0}, "char", 1_003_854)
    assert chosen == {"minutes": 2.0}
    assert (choice.preset, choice.picked) == ("base", {})


def test_wikitext_2_for_ten_minutes_resolves_as_before():
    # `lstmlab train wikitext-2/ --level word --minutes 10`: a split folder, read as whitespace tokens.
    given = {"level": "word", "minutes": 10.0, "val_source": "wikitext-2/valid.txt", "tokenizer": "whitespace"}
    chosen, choice = choose_defaults(given, "word", 2_088_628)
    assert chosen == {
        "level": "word", "minutes": 10.0, "val_source": "wikitext-2/valid.txt", "tokenizer": "whitespace",
        "hidden_sizes": (200, 200), "embed_dim": 200, "tie_embeddings": False, "adaptive_softmax": "auto",
        "dropout": 0.2, "embed_dropout": 0.2,
        "optimizer": "sgd", "lr": 20.0, "momentum": 0.0, "clip_grad_norm": 0.25, "warmup_steps": 0,
        "seq_len": 35, "batch_size": 20, "ema_decay": 0.0, "eval_every": 1000, "eval_chars": 50_000}
    assert choice.preset == "adaptive"


def test_the_builtin_demo_text_is_large_enough_for_no_small_book_row(tmp_path):
    prepared = lstmlab.prepare("builtin:shakespeare", tmp_path / "data", report=None)
    assert prepared.train_chars >= 500_000
    assert choose_defaults({"minutes": 2.0}, "char", prepared.train_chars)[0] == {"minutes": 2.0}


# -- the table -----------------------------------------------------------------------------

def test_every_row_names_a_preset_and_each_level_ends_with_a_row_that_always_fits():
    assert {rule.preset for rule in RULES} <= set(PRESETS)
    for level in ("char", "word"):
        last = [rule for rule in RULES if rule.level == level][-1]
        assert last.minutes is None and last.tokens is None and not last.unless
    # The presets' settings are settings a run takes.
    names = {f for config in (ModelConfig, ObjectiveConfig, TrainConfig) for f in config.__dataclass_fields__}
    for preset in PRESETS.values():
        assert set(preset.settings) <= names, preset.name


def test_the_large_corpus_keeps_settings_that_only_work_together_together():
    chosen, choice = choose_defaults({"optimizer": "adam"}, "word", 2_088_628)
    assert "clip_grad_norm" not in chosen and chosen["lr"] == 2e-3 and chosen["adaptive_softmax"] == "auto"
    # By hand too: a width of one's own keeps the model's defaults (1x512, untied), and the SGD recipe.
    chosen, _ = choose_defaults({"embed_dim": 128}, "char", preset="large-corpus")
    assert "hidden_sizes" not in chosen and "tie_embeddings" not in chosen and chosen["optimizer"] == "sgd"


# -- --preset by hand ----------------------------------------------------------------------

def test_a_preset_given_by_hand_replaces_the_table_and_settings_given_still_win():
    chosen, choice = choose_defaults({"minutes": 2.0, "lr": 1e-3}, "char", 1_003_855, preset="medium")
    assert chosen == {"minutes": 2.0, "hidden_sizes": (512, 512), "dropout": 0.25, "lr": 1e-3}
    assert choice.by_hand and choice.preset == "medium"
    assert choice.log_line() == ("--preset medium (chosen by hand): --hidden 512,512, --dropout 0.25; give any of "
                                 "them, or another --preset, to choose otherwise")
    # base by hand: nothing but the level's defaults, even where a row would choose more.
    chosen, choice = choose_defaults({"minutes": 10.0}, "word", 2_088_628, preset="base")
    assert chosen == {"minutes": 10.0, "embed_dim": 256, "dropout": 0.3, "embed_dropout": 0.3, "seq_len": 64,
                      "lr": 2e-3, "eval_every": 100}


def test_an_unknown_preset_is_one_line_naming_the_choices(cli, shakespeare_slice, tmp_path):
    with pytest.raises(LstmlabError, match="unknown --preset 'huge'; choose one of seconds, minute, base, medium, "
                                           "heavy-dropout, large-corpus"):
        choose_defaults({}, "char", preset="huge")
    code, out, err = cli("train", shakespeare_slice, "--out", tmp_path / "run", "--preset", "huge", *FAST)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "choose one of seconds" in err
    assert not (tmp_path / "run").exists()


def test_the_cli_logs_a_preset_given_by_hand_and_saves_its_name(cli, shakespeare_slice, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("train", shakespeare_slice, "--out", run, "--preset", "seconds", "--lr", "0.01", *FAST)
    assert code == 0, err
    assert ("--preset seconds (chosen by hand): --batch-size 16, --warmup-steps 20; give any of them, or another "
            "--preset, to choose otherwise") in out
    config = json.loads((run / "config.json").read_text())
    assert config["preset"] == "seconds"
    assert (config["train"]["batch_size"], config["train"]["warmup_steps"], config["train"]["lr"]) == (16, 20, 0.01)
    assert RunConfig.load(run / "config.json").preset == "seconds"


def test_the_api_takes_preset_and_resume_keeps_the_saved_settings(shakespeare_slice, tmp_path):
    lstmlab.train(str(shakespeare_slice), tmp_path / "run", preset="base", max_steps=1, hidden_sizes=(8,),
                  embed_dim=4, batch_size=2, seq_len=8, **QUIET)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["preset"] == "base"
    with pytest.raises(LstmlabError, match="only the budget"):
        lstmlab.train(out=tmp_path / "run", resume=True, preset="medium", **QUIET)


def test_a_config_json_without_a_preset_still_loads():
    raw = json.loads((LEGACY_CHAR_RUN / "config.json").read_text())
    assert "preset" not in raw
    assert RunConfig.from_dict(raw).preset is None
    saved = json.loads(RunConfig(data=DataConfig(), model=ModelConfig(vocab_size=5), train=TrainConfig()).to_json())
    assert saved["preset"] is None


# -- the table in words --------------------------------------------------------------------

def test_lstmlab_presets_prints_the_table_and_every_preset(cli):
    code, out, err = cli("presets")
    assert code == 0, err
    assert out == presets_text() + "\n"
    assert out.startswith("level  budget") and "char   under 0.25 min" in out
    for name, preset in PRESETS.items():
        assert f"\n{name} " in out and preset.measured in out


def test_train_help_and_the_readme_show_the_table(cli):
    code, out, _ = cli("train", "--help")
    assert code == 0 and table_text() in out
    assert table_text() in (ROOT / "README.md").read_text(encoding="utf-8")

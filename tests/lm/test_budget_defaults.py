"""Training defaults chosen from the time budget (lm/presets.py: the seconds, minute and medium presets)."""

from __future__ import annotations

import json

from lstmlab.lm.presets import choose_defaults


def budget(settings: dict) -> tuple[dict, str]:
    """A character model's defaults for `settings` on a text too large for the small-book row."""
    chosen, choice = choose_defaults(settings, "char", 1_003_855)
    return chosen, (choice.why if choice.picked else "")


def test_a_budget_of_seconds_gets_smaller_batches_a_higher_rate_and_a_short_warm_up():
    chosen, why = budget({"minutes": 0.1})
    assert chosen == {"minutes": 0.1, "batch_size": 16, "warmup_steps": 20, "lr": 0.02}
    assert "under 0.25 minutes" in why
    # Under a minute the rate is lower than in seconds, and above the usual 3e-3 at a minute.
    chosen, why = budget({"minutes": 0.5})
    assert chosen == {"minutes": 0.5, "batch_size": 16, "warmup_steps": 20, "lr": 0.01}
    assert "under a minute" in why
    rates = [budget({"minutes": m})[0]["lr"] for m in (0.1, 0.2, 0.25, 0.5, 0.9)]
    assert rates == [0.02, 0.02, 0.01, 0.01, 0.01]


def test_a_long_budget_gets_two_layers_with_dropout_unless_the_model_is_chosen():
    long = {"hidden_sizes": (512, 512), "dropout": 0.25, "lr": 5e-3}
    assert budget({})[0] == long  # the default budget is 10 minutes
    assert budget({"minutes": 5})[0] == {"minutes": 5, **long}
    for chosen in ({"hidden_sizes": (256,)}, {"dropout": 0.0}, {"lr": 1e-3}):
        assert budget({"minutes": 10, **chosen}) == ({"minutes": 10, **chosen}, "")


def test_settings_given_win_and_other_budgets_keep_the_usual_defaults():
    assert budget({"minutes": 0.1, "lr": 1e-3})[0]["lr"] == 1e-3
    assert budget({"minutes": 0.1, "batch_size": 64})[0]["batch_size"] == 64
    for settings in ({"minutes": 2}, {"minutes": 4.9}, {"minutes": 0.1, "max_steps": 50}, {"epochs": 1.0}):
        assert budget(settings) == (settings, "")
        assert choose_defaults(settings, "char", 1_003_855)[1].preset == "base"


def test_the_cli_says_what_it_chose_and_saves_it(cli, shakespeare_slice, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("train", shakespeare_slice, "--out", run, "--minutes", "0.05", "--hidden", "32",
                         "--eval-every", "50", "--no-progress")
    assert code == 0, err
    assert "a budget under 0.25 minutes (more and larger steps learn more in seconds): preset seconds, " \
           "--batch-size 16, --warmup-steps 20, --lr 0.02; give any of them, or another --preset, to choose " \
           "otherwise" in out
    config = json.loads((run / "config.json").read_text())
    train = config["train"]
    assert (train["batch_size"], train["warmup_steps"], train["lr"]) == (16, 20, 0.02)
    assert config["preset"] == "seconds"


def test_fp16_on_a_cpu_is_refused_before_anything_is_written(cli, shakespeare_slice, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("train", shakespeare_slice, "--out", run, "--precision", "fp16", "--device", "cpu", "--steps", "2",
                      "--no-progress")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "fp16 needs a CUDA GPU" in err
    assert not run.exists()

"""Training defaults chosen from the time budget (lm/config.with_budget_defaults)."""

from __future__ import annotations

import json

from lstmlab.lm.config import with_budget_defaults


def test_a_budget_of_seconds_gets_smaller_batches_a_higher_rate_and_a_short_warm_up():
    chosen, why = with_budget_defaults({"minutes": 0.1})
    assert chosen == {"minutes": 0.1, "batch_size": 16, "warmup_steps": 20, "lr": 0.02}
    assert "under a minute" in why
    # The rate falls as the budget grows, down to the usual 3e-3 at a minute.
    rates = [with_budget_defaults({"minutes": m})[0]["lr"] for m in (0.1, 0.25, 0.5, 0.9)]
    assert rates == sorted(rates, reverse=True) and 0.003 <= rates[-1] < 0.004


def test_a_long_budget_gets_two_layers_with_dropout_unless_the_model_is_chosen():
    long = {"hidden_sizes": (512, 512), "dropout": 0.25, "lr": 5e-3}
    assert with_budget_defaults({})[0] == long  # the default budget is 10 minutes
    assert with_budget_defaults({"minutes": 5})[0] == {"minutes": 5, **long}
    for chosen in ({"hidden_sizes": (256,)}, {"dropout": 0.0}, {"lr": 1e-3}):
        assert with_budget_defaults({"minutes": 10, **chosen}) == ({"minutes": 10, **chosen}, "")


def test_settings_given_win_and_other_budgets_keep_the_usual_defaults():
    assert with_budget_defaults({"minutes": 0.1, "lr": 1e-3})[0]["lr"] == 1e-3
    assert with_budget_defaults({"minutes": 0.1, "batch_size": 64})[0]["batch_size"] == 64
    for settings in ({"minutes": 2}, {"minutes": 4.9}, {"minutes": 0.1, "max_steps": 50}, {"epochs": 1.0}):
        assert with_budget_defaults(settings) == (settings, "")


def test_the_cli_says_what_it_chose_and_saves_it(cli, shakespeare_slice, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("train", shakespeare_slice, "--out", run, "--minutes", "0.05", "--hidden", "32",
                         "--eval-every", "50", "--no-progress")
    assert code == 0, err
    assert "a budget under a minute (more and larger steps learn more in seconds): --batch-size 16, " \
           "--warmup-steps 20, --lr 0.02; give any of them to choose otherwise" in out
    train = json.loads((run / "config.json").read_text())["train"]
    assert (train["batch_size"], train["warmup_steps"], train["lr"]) == (16, 20, 0.02)


def test_fp16_on_a_cpu_is_refused_before_anything_is_written(cli, shakespeare_slice, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("train", shakespeare_slice, "--out", run, "--precision", "fp16", "--device", "cpu", "--steps", "2",
                      "--no-progress")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "fp16 needs a CUDA GPU" in err
    assert not run.exists()

"""Watching a run: the training loss every few steps in metrics.jsonl, and TensorBoard event files."""

from __future__ import annotations

import json

from tests.helpers import TINY


def test_metrics_record_the_training_loss_every_few_steps_and_tensorboard_gets_the_same(cli, shakespeare_slice, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, board = tmp_path / "run", tmp_path / "board"
    code, _, err = cli("train", shakespeare_slice, "--out", run, "--steps", "40", "--log-every", "5",
                       "--tensorboard", board, *TINY)
    assert code == 0, err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    training = [row for row in rows if "val_loss" not in row]
    assert [row["step"] for row in training] == list(range(5, 41, 5))
    for row in training:
        assert row["train_loss"] > 0 and row["lr"] > 0 and row["grad_norm"] > 0 and row["chars_per_s"] > 0
    assert training[-1]["train_loss"] < training[0]["train_loss"]  # it learns
    assert [row["step"] for row in rows if "val_loss" in row] == [0, 20, 40]

    events = EventAccumulator(str(board))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/chars_per_s", "train/grad_norm", "val/loss", "val/bpc"} <= tags
    board_losses = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert [step for step, _ in board_losses] == list(range(5, 41, 5))
    for (_, value), row in zip(board_losses, training):
        assert abs(value - row["train_loss"]) < 1e-5

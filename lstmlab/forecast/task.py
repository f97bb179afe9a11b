"""Forecasting as the Trainer sees it: shuffled batches of windows, the forecast's loss, validation scores."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from ..config import TrainConfig
from ..distributed import Group
from .model import Forecaster


class ForecastTask:
    """Shuffled batches of training windows; the validation windows' loss and error."""

    unit = "window"  # the Trainer reports windows/s
    resume_command = "lstmlab forecast train"
    monitor = "val_loss"
    loss_label = "loss (scaled units: MSE, or Gaussian NLL in nats)"

    def __init__(self, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], config: TrainConfig):
        self.x, self.y = (torch.from_numpy(a) for a in train)  # (N, L, F), (N, H)
        self.val_x, self.val_y = (torch.from_numpy(a) for a in val)
        self.config = config
        self.batch_size = min(config.batch_size, len(self.x))
        self.steps_per_epoch = max(1, math.ceil(len(self.x) / self.batch_size))
        self.units_per_step = self.batch_size
        self._epoch: Optional[int] = None
        self._order = torch.zeros(0, dtype=torch.int64)

    def batch(self, epoch: int, index: int):
        if epoch != self._epoch:  # a fixed order per epoch, so a resumed run sees the same batches
            generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(len(self.x), generator=generator)
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def training_loss(self, model: Forecaster, batch, carry):
        x, y = batch
        return model.loss(x, y), None

    @torch.inference_mode()
    def evaluate(self, model: Forecaster, group: Group = Group()) -> dict[str, float]:
        """The validation windows' mean loss and absolute error; each rank scores its share."""
        rows = group.share(len(self.val_x))
        x, y = self.val_x[rows], self.val_y[rows]
        loss_sum = error_sum = 0.0
        if len(x):
            was_training = model.training
            model.eval()
            device = next(model.parameters()).device
            try:
                loss_sum = float(model.loss(x.to(device), y.to(device))) * len(x)
                mean = model.predict(x)["mean"]
            finally:
                model.train(was_training)
            error_sum = float((mean.cpu() - y).abs().mean()) * len(x)
        loss_sum, error_sum = group.sum([loss_sum, error_sum])
        return {"val_loss": loss_sum / len(self.val_x), "val_mae": error_sum / len(self.val_x)}

    @staticmethod
    def describe(metrics: dict[str, float]) -> str:
        return f"val loss {metrics['val_loss']:.4f} | MAE {metrics['val_mae']:.4f} (scaled units)"

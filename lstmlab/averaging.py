"""An exponential moving average of the weights, which validation scores and the best
checkpoint keeps (Polyak averaging; AWD-LSTM's averaged SGD is its best-known use for
recurrent language models).

At the learning rates that train fast, the weights of one step sit somewhere in a
cloud that the optimiser keeps stirring: consecutive validations of a character model
moved by up to 0.1 nats here. Their average over the last few hundred steps is a
better model than any one of them (on tiny_shakespeare, 10 minutes, 2x512 with dropout:
1.486 nats/char without it, 1.435 with it; BENCHMARKS.md §5c), and costs one lerp per
parameter per step.

Early on, a fixed decay of 0.998 would keep the random initial weights for hundreds of
steps, so the decay grows with the step as (1 + t) / (10 + t) until it reaches the
configured value (as TensorFlow's ExponentialMovingAverage with num_updates does).
"""

from __future__ import annotations

import copy
from typing import Optional, Sequence

import torch
from torch import nn


class WeightAverage:
    """Keeps `average`, a copy of `model` whose parameters follow the model's with `decay`; or,
    given `start`, the plain mean of the model's weights after every step from `start` on
    (averaged SGD: AWD-LSTM's NT-ASGD, whose trigger is `nt_asgd_triggered`)."""

    def __init__(self, model: nn.Module, decay: float, start: Optional[int] = None):
        self.decay, self.start = decay, start
        self.average = copy.deepcopy(model).eval()
        for parameter in self.average.parameters():
            parameter.requires_grad_(False)

    def update(self, model: nn.Module, step: int) -> None:
        """Blend in the model's weights after optimiser step number `step` (0-based)."""
        if self.start is not None:
            # The n-th weights since the start weigh 1/n: the running mean of them all.
            decay = (step - self.start) / (step - self.start + 1)
        else:
            decay = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for averaged, current in zip(self.average.parameters(), model.parameters()):
                averaged.lerp_(current.detach(), 1.0 - decay)
            for averaged, current in zip(self.average.buffers(), model.buffers()):
                averaged.copy_(current)


def nt_asgd_triggered(val_losses: Sequence[float], patience: int) -> bool:
    """AWD-LSTM's non-monotone trigger for averaged SGD (Merity et al. 2017): the newest validation
    loss is no better than the best of all those before the last `patience` ones."""
    return len(val_losses) > patience and val_losses[-1] > min(val_losses[:-patience])

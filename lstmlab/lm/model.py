"""One recurrent language model for every cell type.

Shapes (one legend for the whole package):
    B batch, T time steps, E embedding size, H hidden size, V vocabulary size.

    ids (B, T) -> Embedding -> (B, T, E) -> layer 1 -> (B, T, H1) -> ... -> (B, T, Hn) -> Linear -> (B, T, V)

The recurrent state is a list with one entry per layer; each entry is a tuple
of tensors shaped (1, B, H): (h, c) for an LSTM layer, (h,) for GRU and RNN.
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..cells import Gates
from ..errors import LstmlabError
from ..recurrence import drop, dropout_mask
from ..stack import RecurrentStack, State
from .config import ModelConfig
from .generation import NumpyStepper, TorchStepper, folded_head, numpy_steps_faster

STEPPERS = {"numpy": NumpyStepper, "torch": TorchStepper}
# A tied embedding (and output layer) starts uniform in +-this.
TIED_INIT_RANGE = 0.1


class RecurrentLM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        if config.one_hot:
            # The seeds' one-hot inputs: a fixed identity table, nothing to learn.
            self.embedding = nn.Embedding.from_pretrained(torch.eye(config.vocab_size), freeze=True)
        elif config.input == "scaled-id":
            # Seeds 003/004's one number per character; fixed, as it was in Keras.
            self.embedding = nn.Embedding.from_pretrained(scaled_id_table(config.vocab_size), freeze=True)
        else:
            self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        self.rnn = RecurrentStack(config.cell, config.input_size, config.hidden_sizes, config.dropout,
                                  config.recurrent_dropout, config.input_dropout, config.weight_drop,
                                  config.locked_dropout)
        top = config.hidden_sizes[-1]
        if config.adaptive_softmax:
            # Its head holds the frequent ids and one entry per cluster; each cluster projects the
            # output down by div_value (4) per cluster before its own softmax.
            self.head = nn.AdaptiveLogSoftmaxWithLoss(top, config.vocab_size, list(config.adaptive_softmax),
                                                      div_value=4.0, head_bias=True)
        else:
            self.head = nn.Linear(top, config.vocab_size)
        if config.tie_embeddings:
            # The shared matrix is an output layer too, and an output layer must start small: drawn
            # from nn.Embedding's N(0, 1), its logits start so spread that the first perplexity is
            # 2.5 times the vocabulary (25,228 on PTB's 10,000 words) and plain SGD never recovers
            # the lost ground. PyTorch's word_language_model starts both at U(-0.1, 0.1), bias 0.
            nn.init.uniform_(self.embedding.weight, -TIED_INIT_RANGE, TIED_INIT_RANGE)
            nn.init.zeros_(self.head.bias)
            self.head.weight = self.embedding.weight

    @property
    def device(self) -> torch.device:
        """Where the weights are; the inference methods move their inputs here."""
        return self.embedding.weight.device

    @property
    def adaptive(self) -> bool:
        return bool(self.config.adaptive_softmax)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) -> (B, T, E), with the embedding's dropouts in training: whole words
        (--word-dropout: one draw per vocabulary entry for the batch), then single numbers
        (--embed-dropout, locked or not)."""
        x = self.embedding(ids)
        cfg = self.config
        if self.training and cfg.word_dropout > 0:
            keep = dropout_mask(cfg.vocab_size, 1, cfg.word_dropout, x.device, torch.promote_types(x.dtype, torch.float32))
            x = x * keep[ids]
        return drop(x, cfg.embed_dropout, self.training, cfg.locked_dropout)

    def features(self, ids: torch.Tensor, state: Optional[State] = None) -> tuple[torch.Tensor, State]:
        """ids (B, T) -> top-layer outputs (B, T, H), before dropout and head."""
        return self.rnn(self.embed(ids), state)

    def drop_output(self, hidden: torch.Tensor) -> torch.Tensor:
        """The dropout before the output layer (training only)."""
        return drop(hidden, self.config.dropout, self.training, self.config.locked_dropout)

    def output(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., V) scores whose softmax is the next-symbol distribution: logits of the
        full softmax, or the adaptive softmax's exact log-probabilities (every cluster computed)."""
        if not self.adaptive:
            return self.head(hidden)
        flat = hidden.reshape(-1, hidden.shape[-1])
        with torch.autocast(flat.device.type, enabled=False):  # see loss(): the head runs in float32
            return self.head.log_prob(flat.float()).reshape(*hidden.shape[:-1], -1)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., V), after the output dropout."""
        return self.output(self.drop_output(hidden))

    def loss(self, hidden: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean cross entropy of `targets` (...) given top-layer outputs (..., H), and the
        outputs after dropout (AR reads them). The adaptive softmax computes only the clusters
        the targets fall in, which is where its speed comes from."""
        dropped = self.drop_output(hidden)
        if not self.adaptive:
            logits = self.head(dropped)
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)), dropped
        # In float32: under bf16 autocast the module's per-target log-probabilities (and its
        # loss) would be rounded to bf16, and it copies float32 values into a bf16 buffer.
        with torch.autocast(dropped.device.type, enabled=False):
            flat = dropped.reshape(-1, dropped.shape[-1]).float()
            return self.head(flat, targets.reshape(-1)).loss, dropped

    def forward(self, ids: torch.Tensor, state: Optional[State] = None) -> tuple[torch.Tensor, State]:
        """ids (B, T) -> logits (B, T, V), new state."""
        hidden, state = self.features(ids, state)
        return self.logits(hidden), state

    def trace(self, ids: torch.Tensor, state: Optional[State] = None) -> tuple[torch.Tensor, State, list[Gates]]:
        """ids (B, T) -> logits (B, T, V), new state, and per layer the gate values
        {name: (B, T, H)} that the cells computed on the way (each cell's declared signals, cells.py).
        Runs on the model's device; returns CPU tensors."""
        self.eval()
        with torch.inference_mode():
            hidden, state, gates = self.rnn.trace(self.embedding(ids.to(self.device)), to_device(state, self.device))
            cpu = torch.device("cpu")
            return self.output(hidden).cpu(), to_device(state, cpu), [{k: v.cpu() for k, v in g.items()} for g in gates]

    def next_logits(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) -> the logits (B, V) of the symbol after each row, on the CPU. With T = 0
        nothing has been read: the head sees the all-zero state."""
        self.eval()
        with torch.inference_mode():
            if ids.shape[1] == 0:
                hidden = torch.zeros(ids.shape[0], self.config.hidden_sizes[-1], device=self.device)
            else:
                hidden = self.features(ids.to(self.device))[0][:, -1]
            return self.output(hidden).cpu()

    def generate(
        self,
        prompt: torch.Tensor,
        length: int,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        top_p: Optional[float] = None,
        seed: Optional[int] = None,
        suppress: Sequence[int] = (),
        stepper: Optional[str] = None,
    ) -> Iterator[np.ndarray]:
        """Yield `length` arrays of next-symbol ids, each (N,), for N prompts (N, P) at once.

        The prompt is read in one pass; after that each new symbol costs a
        single recurrent step, because the state is carried (the seeds re-read a
        50-character window for every character instead). An empty prompt
        (P = 0) starts from a fresh, all-zero state. Ids in `suppress` (the
        unknown symbol) are never produced. The same seed gives the same text,
        on whichever device and stepper (generation.py) runs the steps:
        `stepper` "numpy" or "torch", or None for the faster one on this device
        at this batch size.
        """
        if stepper is not None and stepper not in STEPPERS:
            raise LstmlabError(f"unknown stepper {stepper!r}; choose numpy, torch or None (the faster here)")
        self.eval()
        batch = prompt.shape[0]
        with torch.inference_mode():
            if prompt.shape[1] > 0:
                hidden, state = self.features(prompt.to(self.device))
                hidden = hidden[:, -1]
            else:
                hidden = torch.zeros(batch, self.config.hidden_sizes[-1], device=self.device)
                state = None
            if stepper is None:
                stepper = "numpy" if numpy_steps_faster(self.device, batch) else "torch"
            steps = STEPPERS[stepper](self, state, batch, folded_head(self.head, temperature, suppress))
            hidden = steps.start(hidden)
        rng = np.random.default_rng(seed)
        yield from steps.sample(hidden, length, temperature, top_k, top_p, rng)


def scaled_id_table(vocab_size: int) -> torch.Tensor:
    """(V, 1): what the first layer reads for each id with --input scaled-id, as seeds 003 and
    004 feed a character: its index k among the n sorted characters, divided by n.

    lstmlab's id i is the seeds' k = i - 1, so id i reads (i - 1) / n. The unknown symbol
    (id 0) reads n / n = 1: the value the next, (n+1)-th symbol would get, as an extra Keras
    symbol n becomes lstmlab's unknown one on import. 0 would make it read like the first
    character (the newline or space, usually); 1 keeps it apart from every character, next
    to the last one. Divided in float32, which gives the same numbers as the seeds' float64
    division cast to float32 (a correctly rounded quotient either way)."""
    n = vocab_size - 1
    k = torch.arange(-1, n, dtype=torch.float32)
    k[0] = n
    return (k / torch.tensor(n, dtype=torch.float32))[:, None]


def to_device(state: Optional[State], device: torch.device) -> Optional[State]:
    """A recurrent state (one tuple of tensors per layer) moved to `device`."""
    if state is None:
        return None
    return [tuple(t.to(device) for t in layer) for layer in state]

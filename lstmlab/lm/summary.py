"""A per-layer parameter table, in the spirit of Keras' model.summary().

Keras gives each gate one bias vector. PyTorch's nn.LSTM and nn.RNN keep two
(b_ih and b_hh) that only ever act as their sum, so the same model has 4H more
parameters per LSTM layer (H per RNN layer) in PyTorch. The table shows the
Keras count, which is what the seeds print and what the model can express,
and PyTorch's where it differs. GRU layers count the same in both: the reset
gate multiplies the recurrent bias of the candidate, so both of its biases
matter (Keras 3's reset_after=True stores them too).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..cells import cell_class
from .config import ModelConfig
from .model import RecurrentLM


@dataclass(frozen=True)
class LayerCount:
    name: str
    kind: str
    output_width: int
    params: int  # one bias per gate, as Keras counts
    torch_params: int  # what the PyTorch module holds
    note: str = ""


def _trainable(module: nn.Module, skip: frozenset = frozenset()) -> int:
    return sum(p.numel() for name, p in module.named_parameters() if p.requires_grad and name not in skip)


def count_layers(config: ModelConfig) -> list[LayerCount]:
    model = RecurrentLM(config)
    rows = []
    if config.one_hot:
        rows.append(LayerCount("one_hot", "OneHot", config.vocab_size, 0, 0, "fixed identity, nothing to learn"))
    elif config.input == "scaled-id":
        rows.append(LayerCount("scaled_id", "ScaledId", 1, 0, 0, "fixed id / n (seeds 003, 004), nothing to learn"))
    else:
        rows.append(LayerCount("embedding", "Embedding", config.embed_dim, *[_trainable(model.embedding)] * 2))
    for index, layer in enumerate(model.rnn.layers, start=1):
        held = _trainable(layer)
        # Parameters that act only in a sum with another (PyTorch's second bias), which Keras does not count.
        extra = sum(p.numel() for name, p in layer.named_parameters() if name in layer.keras_count_excludes)
        rows.append(LayerCount(f"{config.cell}_{index}", layer.title, layer.hidden_size, held - extra, held,
                               "PyTorch adds a second bias vector" if extra else ""))
    if config.adaptive_softmax:
        cutoffs = ",".join(map(str, config.adaptive_softmax))
        rows.append(LayerCount("head", "AdaptiveSoftmax", config.vocab_size, *[_trainable(model.head)] * 2,
                               f"adaptive softmax: a head over the first {config.adaptive_softmax[0]:,} ids and "
                               f"{len(config.adaptive_softmax)} clusters (cutoffs {cutoffs})"))
    elif config.tie_embeddings:
        head = _trainable(model.head, frozenset({"weight"}))
        rows.append(LayerCount("head", "Dense", config.vocab_size, head, head, "weight shared with the embedding"))
    else:
        rows.append(LayerCount("head", "Dense", config.vocab_size, *[_trainable(model.head)] * 2))
    return rows


def format_summary(config: ModelConfig, title: str = "") -> str:
    rows = count_layers(config)
    total, torch_total = sum(r.params for r in rows), sum(r.torch_params for r in rows)
    header = ("Layer (type)", "Output shape", "Param #", "PyTorch holds")
    table = [header]
    for r in rows:
        table.append((f"{r.name} ({r.kind})", f"(batch, time, {r.output_width})", f"{r.params:,}",
                      f"{r.torch_params:,}" if r.torch_params != r.params else ""))
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    rule = "-" * (sum(widths) + 6)

    def fmt(line):
        return f"{line[0]:<{widths[0]}}  {line[1]:<{widths[1]}}  {line[2]:>{widths[2]}}  {line[3]:>{widths[3]}}".rstrip()

    lines = [title] if title else []
    lines += [rule, fmt(header), rule, *(fmt(line) for line in table[1:]), rule,
              f"Total params: {total:,} (one bias per gate, as Keras counts)"]
    if torch_total != total:
        torch_class = next((base.__name__ for base in cell_class(config.cell).__mro__
                            if base.__module__.startswith("torch.nn")), "Module")
        lines.append(f"PyTorch holds {torch_total:,}: nn.{torch_class} keeps two bias "
                     f"vectors (b_ih, b_hh) that act only as their sum, {torch_total - total:,} more numbers for the same model.")
    notes = sorted({r.note for r in rows if r.note and r.torch_params == r.params})
    lines += [f"Note: {note}." for note in notes]
    return "\n".join(lines)

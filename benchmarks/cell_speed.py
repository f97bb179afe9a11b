"""Training and generation speed of every cell, side by side with nn.LSTM.

    .venv/bin/python benchmarks/cell_speed.py --out bench-results/cell_speed.json

Training: lstmlab's own training step (RecurrentLM + LM task + Adam +
clipping, through Trainer) on tiny_shakespeare, 1 layer of 512, 32 streams x
128 characters, in fp32 and in bf16 autocast. Generation: one stream, one
character per step, through the NumPy stepper that `lstmlab generate` uses.
Every cell is measured in the same invocation, so the ratios to `lstm` (the
fused oneDNN kernel) compare like with like.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from common import machine_info, markdown_table, set_threads, write_json
from lstmlab.cells import RecurrentProduct
from lstmlab.config import CELLS
from lstmlab.lm.config import DataConfig, ModelConfig
from lstmlab.lm.prepare import prepare
from lstmlab.lm.model import RecurrentLM
from throughput import TEXT, measure

HIDDEN = (512,)


def recurrent_product_ms(batch: int = 32, hidden: int = 512, reps: int = 500) -> dict[str, float]:
    """One step's h U^T in float32: plain matmul against the packed oneDNN path the stepped cells use."""
    weight, h = torch.randn(4 * hidden, hidden), torch.randn(batch, hidden)
    packed = RecurrentProduct(weight, torch.float32, batch)
    times = {}
    for name, product in (("matmul", lambda: h @ weight.T), ("packed", lambda: packed(h))):
        for _ in range(20):
            product()
        start = time.perf_counter()
        for _ in range(reps):
            product()
        times[name] = (time.perf_counter() - start) / reps * 1e3
    return times


def generation_chars_per_s(vocab_size: int, cell: str, chars: int) -> float:
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=vocab_size, cell=cell, hidden_sizes=HIDDEN))
    prompt = torch.zeros(1, 1, dtype=torch.long)
    for _ in model.generate(prompt, 50, seed=0):  # warm-up
        pass
    start = time.perf_counter()
    for _ in model.generate(prompt, chars, seed=0):
        pass
    return chars / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench-results/cell_speed.json")
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per configuration")
    parser.add_argument("--chars", type=int, default=3000, help="generated characters per cell")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    set_threads(args.threads)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare(DataConfig(source=str(TEXT)), Path(tmp) / "data", report=None)
        for cell in CELLS:
            row = {"cell": cell}
            for precision in ("fp32", "bf16"):
                result = measure(prepared, cell, HIDDEN, 32, 128, args.steps, Path(tmp), precision)
                row[f"train_{precision}_chars_per_s"] = result["chars_per_s"]
            row["generate_chars_per_s"] = generation_chars_per_s(len(prepared.vocab), cell, args.chars)
            rows.append(row)
            print(row, flush=True)
    base = rows[0]
    assert base["cell"] == "lstm"
    for row in rows:
        for key in ("train_fp32_chars_per_s", "train_bf16_chars_per_s", "generate_chars_per_s"):
            row[key.replace("chars_per_s", "vs_lstm")] = row[key] / base[key]
    products = recurrent_product_ms()
    write_json(args.out, {"machine": machine_info(), "hidden": HIDDEN, "rows": rows, "recurrent_product_ms": products})
    print(markdown_table(
        ["cell", "train fp32 chars/s", "vs lstm", "train bf16 chars/s", "vs lstm", "generate chars/s", "vs lstm"],
        [[r["cell"], f"{r['train_fp32_chars_per_s']:,.0f}", f"{r['train_fp32_vs_lstm']:.2f}",
          f"{r['train_bf16_chars_per_s']:,.0f}", f"{r['train_bf16_vs_lstm']:.2f}",
          f"{r['generate_chars_per_s']:,.0f}", f"{r['generate_vs_lstm']:.2f}"] for r in rows]))
    print(f"one recurrent product (32 x 512 -> 2048, float32): matmul {products['matmul']:.3f} ms, "
          f"packed oneDNN {products['packed']:.3f} ms ({products['matmul'] / products['packed']:.2f}x)")


if __name__ == "__main__":
    main()

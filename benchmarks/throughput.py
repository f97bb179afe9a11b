"""Training throughput: characters/s and achieved GFLOP/s of lstmlab's own
training step (RecurrentLM + the LM task + Adam + clipping, through Trainer),
next to this machine's fp32 matmul rate measured in the same invocation.

    .venv/bin/python benchmarks/throughput.py --out bench-results/throughput.json
    python3 benchmarks/throughput.py --device cuda     (on a GPU: 1x512 and 2x1024, cuDNN)

FLOPs counted per character: for each LSTM layer 2 * 4H * (I + H) for the gate
products, plus 2 * H * V for the head, times 3 for forward + backward (the
usual 1:2 split). Elementwise gate maths, the embedding and the optimiser are
not counted, so the figure is a lower bound on the work done.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from common import REPO, machine_info, markdown_table, set_threads, write_json
from lstmlab.config import TrainConfig
from lstmlab.devices import describe_device, resolve_device
from lstmlab.lm.config import DataConfig, ModelConfig, ObjectiveConfig
from lstmlab.lm.prepare import prepare
from lstmlab.lm.task import LanguageModelTask
from lstmlab.lm.model import RecurrentLM
from lstmlab.trainer import Trainer

TEXT = REPO.parent / "shared" / "data" / "text" / "tiny_shakespeare.txt"
GATES = {"lstm": 4, "gru": 3, "rnn": 1, "peephole": 4, "layernorm-lstm": 4}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(sizes=(1024, 2048, 4096), seconds: float = 2.0, device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """Best-of fp32 square matmul rates: the machine's practical peak."""
    rates = {}
    for n in sizes:
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        a @ b
        synchronize(device)
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a @ b
            reps += 1
        synchronize(device)
        rates[str(n)] = 2 * n**3 * reps / (time.perf_counter() - start) / 1e9
    return rates


def flops_per_char(cell: str, embed: int, hidden: tuple[int, ...], vocab: int) -> float:
    total, inputs = 0, embed
    for h in hidden:
        total += 2 * GATES[cell] * h * (inputs + h)
        inputs = h
    total += 2 * inputs * vocab
    return 3.0 * total


def measure(prepared, cell: str, hidden: tuple[int, ...], batch: int, seq_len: int, steps: int, run_dir: Path,
            precision: str = "auto", device: torch.device = torch.device("cpu")) -> dict:
    cfg = TrainConfig(batch_size=batch, max_steps=steps + 2, minutes=None, precision=precision)
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=len(prepared.vocab), cell=cell, hidden_sizes=hidden))
    task = LanguageModelTask(prepared, ObjectiveConfig(seq_len=seq_len), cfg)
    trainer = Trainer(model, task, cfg, run_dir, show_progress=False, device=device)
    for index in range(2):  # warm-up: first calls allocate and pick kernels
        trainer.train_step(0, index)
    synchronize(device)
    start = time.perf_counter()
    for index in range(2, steps + 2):
        trainer.train_step(0, index % task.steps_per_epoch)
    synchronize(device)
    seconds = time.perf_counter() - start
    chars_per_s = steps * batch * seq_len / seconds
    gflops = chars_per_s * flops_per_char(cell, model.config.embed_dim, hidden, model.config.vocab_size) / 1e9
    return {"cell": cell, "hidden": ",".join(map(str, hidden)), "batch": batch, "seq_len": seq_len, "precision": precision,
            "steps": steps, "seconds": seconds, "chars_per_s": chars_per_s, "gflops": gflops}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench-results/throughput.json")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per configuration")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU table (1x512 and 2x1024)")
    args = parser.parse_args()
    set_threads(args.threads)
    device = resolve_device(args.device)

    configs = [("lstm", (128,), 32, 128), ("lstm", (512, 512), 32, 128), ("lstm", (512, 512), 64, 128),
               ("lstm", (512, 512), 128, 128), ("lstm", (1024,), 64, 128)]
    if device.type == "cuda":  # a GPU wants wide batches to fill it
        configs = [("lstm", (512,), 64, 128), ("lstm", (512,), 256, 128), ("lstm", (1024, 1024), 64, 128),
                   ("lstm", (1024, 1024), 256, 128)]
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare(DataConfig(source=str(TEXT)), Path(tmp) / "data", report=None)
        before = matmul_gflops(device=device)
        # fp32 is the like-for-like comparison with the fp32 matmul rate; bf16 is
        # what training uses by default on CPUs with native bf16 (this one) and on GPUs.
        rows = [measure(prepared, *cfg, steps=args.steps, run_dir=Path(tmp), precision=precision, device=device)
                for cfg in configs for precision in ("fp32", "bf16")]
        after = matmul_gflops(device=device)
    peak = max(*before.values(), *after.values())
    for row in rows:
        row["share_of_matmul"] = row["gflops"] / peak
    result = {"machine": machine_info(), "matmul_gflops_before": before, "matmul_gflops_after": after,
              "matmul_peak_gflops": peak, "rows": rows}
    write_json(args.out, result)
    print(f"{describe_device(device)}; fp32 matmul peak (best square size, measured before and after): {peak:.1f} GFLOP/s")
    print(markdown_table(
        ["cell", "hidden", "batch x seq", "precision", "chars/s", "GFLOP/s", "share of fp32 matmul peak"],
        [[r["cell"], r["hidden"], f"{r['batch']}x{r['seq_len']}", r["precision"], f"{r['chars_per_s']:,.0f}",
          f"{r['gflops']:.1f}", f"{r['share_of_matmul']:.0%}"] for r in rows]))


if __name__ == "__main__":
    main()

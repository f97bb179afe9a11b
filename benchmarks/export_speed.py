"""How long `lstmlab export` takes for a 2x512 character model (the issue's target: under 30
seconds, the onnxruntime check included), beside PyTorch's word_language_model recipe for ONNX
(`main.py --onnx-export`: torch.onnx.export of its RNNModel, here with torch 2.13's default
exporter) on a model of the same size in the same invocation, and what each file is.

    flock /tmp/lstmlab-bench.lock .venv/bin/python -u benchmarks/export_speed.py \\
        --out bench-results/export_speed.json

Each row is the median of --repeats exports (alternating). lstmlab's time covers all of
`export()`: loading the run, tracing, writing, and running the probe in onnxruntime; the
example's covers its torch.onnx.export call only (it checks nothing). Both files are then run
by onnxruntime on 1 and on 300 steps: a graph unrolled to the traced length fails on the other.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine_info, set_threads, write_json  # noqa: E402

CORPUS = REPO.parent / "shared" / "data" / "text" / "tiny_shakespeare.txt"


class ExampleRNNModel:
    """word_language_model's RNNModel (embedding, nn.LSTM, decoder) in eval mode, as main.py exports it."""

    @staticmethod
    def build(vocab: int, hidden: int, layers: int):
        import torch
        from torch import nn

        class RNNModel(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = nn.Embedding(vocab, hidden)
                self.rnn = nn.LSTM(hidden, hidden, layers)
                self.decoder = nn.Linear(hidden, vocab)

            def forward(self, ids, h, c):
                out, (h, c) = self.rnn(self.encoder(ids), (h, c))
                return torch.log_softmax(self.decoder(out), dim=-1), h, c

        return RNNModel().eval()


def export_example(path: Path, vocab: int, hidden: int, layers: int) -> float:
    import torch

    model = ExampleRNNModel.build(vocab, hidden, layers)
    ids = torch.zeros(35, 2, dtype=torch.long)  # main.py: seq_len x batch, time first
    h = torch.zeros(layers, 2, hidden)
    started = time.perf_counter()
    torch.onnx.export(model, (ids, h, h.clone()), str(path), input_names=["ids", "h", "c"], verbose=False)
    return time.perf_counter() - started


def runs_at_lengths(path: Path, time_first: bool, state: dict) -> dict[str, str]:
    import numpy as np
    import onnxruntime

    runner = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    results = {}
    for steps in (1, 300):
        ids = np.zeros((steps, 2) if time_first else (2, steps), dtype=np.int64)
        try:
            runner.run(None, {"ids": ids, **state})
            results[str(steps)] = "runs"
        except Exception as exc:  # onnxruntime's own error: the graph's shape is fixed
            results[str(steps)] = f"fails ({type(exc).__name__})"
    return results


def op_types(path: Path) -> list[str]:
    import onnx

    return sorted({node.op_type for node in onnx.load(str(path)).graph.node if node.op_type in ("Scan", "Loop", "LSTM")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    set_threads(args.threads)
    import numpy as np

    import lstmlab
    from lstmlab.export import export

    work = Path(tempfile.mkdtemp(prefix="export-speed-"))
    run = work / "run"
    lstmlab.train(str(CORPUS), run, hidden_sizes=(args.hidden,) * args.layers, max_steps=2, eval_every=2,
                  show_progress=False, log=lambda line: None)
    vocab = lstmlab.load(run, device="cpu").config.model.vocab_size
    ours, theirs, difference = [], [], None
    for _ in range(args.repeats):
        result = export(run, work / "lstmlab.onnx")
        ours.append(result.seconds)
        difference = result.difference
        theirs.append(export_example(work / "example.onnx", vocab, args.hidden, args.layers))
        print(f"lstmlab {ours[-1]:.1f}s, example {theirs[-1]:.1f}s", flush=True)
    zeros = {f"{p}_{i}": np.zeros((2, args.hidden), np.float32) for i in range(args.layers) for p in "hc"}
    example_state = {name: np.zeros((args.layers, 2, args.hidden), np.float32) for name in ("h", "c")}
    rows = {
        "lstmlab export (check included)": {
            "seconds": statistics.median(ours), "largest_difference": difference,
            "loops": op_types(work / "lstmlab.onnx"), "lengths": runs_at_lengths(work / "lstmlab.onnx", False, zeros),
            "megabytes": (work / "lstmlab.onnx").stat().st_size / 1e6},
        "word_language_model --onnx-export (no check)": {
            "seconds": statistics.median(theirs), "loops": op_types(work / "example.onnx"),
            "lengths": runs_at_lengths(work / "example.onnx", True, example_state),
            "megabytes": (work / "example.onnx").stat().st_size / 1e6},
    }
    for name, row in rows.items():
        print(f"{name}: {row}")
    if args.out:
        write_json(args.out, {"machine": machine_info(), "hidden": args.hidden, "layers": args.layers,
                              "vocab": vocab, "rows": rows})


if __name__ == "__main__":
    main()

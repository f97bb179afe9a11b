"""Single-stream generation speed: the seeds' loop (Keras) vs lstmlab's stateful generate().

The seeds' loop (seed 000's generateText) re-reads a 50-character window for
every new character: predict() on a (1, 50) batch, sample with nextSample at a
temperature, slide the window by one. lstmlab's RecurrentLM.generate() reads the
prompt once, then carries the recurrent state, so each character costs one step.

Weights are untrained (speed does not depend on them). Keras runs on its torch
backend, as in seed_recipe.py.

--compare-steppers times lstmlab's two ways of taking a generation step on this
CPU instead (lstmlab/lm/generation.py): NumPy on copies of the weights, and the
model's own PyTorch layers, at each --batches size; their crossing point sets
generation.NUMPY_MAX_BATCH_ON_CPU.

--baseline REF times generation before and after a change in one invocation
(issue 23: generation speed must not drop). REF is checked out with
`git worktree add --detach` in a temporary folder (removed at the end); one
child process per tree (REF's and this working tree, uncommitted changes
included) imports that tree's lstmlab (PYTHONPATH, cwd outside the repository;
each child checks lstmlab.__file__) and runs this file's same timing code.
Every cell kind each tree offers (lstmlab.config.CELLS), a --sizes model
(default 2x512; untrained, seeded), --batches streams (default 1 and 32), the
stepper generate() picks by itself: characters/s = streams x characters /
seconds of the steps after an untimed warm-up (prompt read and stepper set-up
included in the warm-up, not in the timing). The two trees take turns on every
(size, cell, batch) cell of the table, --repeats times (default 3; the order
flips each repeat) and the median counts, so the machine's drift hits both
alike; the children start once, so their start-up is never timed.

    flock /tmp/lstmlab-bench.lock .venv/bin/python benchmarks/generation_speed.py \
        --baseline 1558dc7 --out bench-results/generation-ab.json

prints cell, batch, baseline chars/s, current chars/s and current/baseline,
and writes both commits, the machine and every raw timing to --out.
--chars (characters per timing, all streams together) shrinks a trial run.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # must be set before keras is imported

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from common import MAXLEN, REPO, machine_info, markdown_table, set_threads, write_json

SIZES = {"1x128": (128,), "2x512": (512, 512)}
KERAS_VOCAB = 65  # seed 000: 64 characters + 1
LSTMLAB_VOCAB = 66  # Crime and Punishment cleaned: 65 characters + lstmlab's unknown symbol
# From the dev guide: the seeds' 1x128 loop measured on this machine.
REFERENCE_CPS = 110.0
# --baseline's defaults: the shapes, stream counts and characters per timing (all streams together).
AB_SIZES = ("2x512",)
AB_BATCHES = (1, 32)
AB_CHARS = 20000
AB_TAG = "@@generation_speed "  # marks the child's answer lines on its stdout


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", choices=list(SIZES),
                   help="model shapes (default: both; 2x512 for --baseline)")
    p.add_argument("--keras-chars", type=int, default=200, help="characters timed per Keras loop (default 200)")
    p.add_argument("--lstmlab-chars", type=int, default=5000, help="characters timed for lstmlab (default 5000)")
    p.add_argument("--warmup", type=int, default=5, help="untimed characters before each timing (default 5)")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--reference-cps", type=float, default=REFERENCE_CPS,
                   help=f"fixed reference for the seeds' 1x128 loop, chars/s (default {REFERENCE_CPS:g}, from the dev guide)")
    p.add_argument("--skip-keras", action="store_true", help="time lstmlab only (no Keras import)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's own, one per core); 1 on a shared machine")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compare-steppers", action="store_true",
                   help="time lstmlab's NumPy and PyTorch generation steps against each other (no Keras)")
    p.add_argument("--cell", default="lstm", help="the model's cell, for --compare-steppers (default lstm)")
    p.add_argument("--batches", type=int, nargs="+",
                   help="streams generated together, for --compare-steppers (default 1 8 64) and --baseline (default 1 32)")
    p.add_argument("--stepper-steps", type=int, default=300,
                   help="steps timed per stepper and batch size, for --compare-steppers (default 300)")
    p.add_argument("--repeats", type=int, default=3,
                   help="timings per stepper and batch size, for --compare-steppers, the fastest counts; "
                        "per tree and table cell, for --baseline, the median counts (default 3)")
    p.add_argument("--baseline", metavar="REF",
                   help="time generation of every cell kind in a git worktree of REF and in this working tree, "
                        "taking turns (no Keras)")
    p.add_argument("--chars", type=int, default=AB_CHARS,
                   help=f"characters per timing for --baseline, all streams together (default {AB_CHARS:,})")
    p.add_argument("--child", metavar="TREE", help=argparse.SUPPRESS)  # internal: --baseline's timing process
    p.add_argument("--out", help="JSON result file (required)")
    args = p.parse_args()
    if args.out is None and args.child is None:
        p.error("the following arguments are required: --out")
    if args.sizes is None:
        args.sizes = list(AB_SIZES if args.baseline else SIZES)
    if args.batches is None:
        args.batches = list(AB_BATCHES if args.baseline else (1, 8, 64))
    if args.baseline and (args.warmup < 1 or args.chars < 1 or args.repeats < 1):
        p.error("--baseline needs --warmup, --chars and --repeats of 1 or more")
    return args


def next_sample(preds: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Seed 000's nextSample: log(p + 1e-8) / T, renormalise, draw one 0-based id."""
    logits = np.log(preds.astype(np.float64) + 1e-8) / temperature
    probs = np.exp(logits) / np.sum(np.exp(logits))
    return int(rng.choice(len(probs), p=probs))


def keras_model(keras, hidden: tuple[int, ...]):
    layers = [keras.Input(shape=(MAXLEN,), dtype="int32"), keras.layers.Embedding(KERAS_VOCAB, 64)]
    layers += [keras.layers.LSTM(h, return_sequences=i < len(hidden) - 1) for i, h in enumerate(hidden)]
    layers.append(keras.layers.Dense(KERAS_VOCAB, activation="softmax"))
    return keras.Sequential(layers)


def time_seed_loop(predict, n: int, warmup: int, temperature: float, seed: int) -> float:
    """chars/s of generateText's loop; `predict` maps a (1, 50) int array to (1, V) probabilities."""
    rng = np.random.default_rng(seed)
    alphabet = [chr(ord("!") + i) for i in range(KERAS_VOCAB)]  # stand-in for index2char
    window = rng.integers(0, KERAS_VOCAB, MAXLEN).astype(np.int32)
    generated = []
    for i in range(warmup + n):
        if i == warmup:
            t = time.perf_counter()
        preds = predict(window[None])
        next_id = next_sample(preds[0], temperature, rng)
        generated.append(alphabet[next_id])
        window = np.append(window[1:], np.int32(next_id))  # slide the window
    return n / (time.perf_counter() - t)


def time_lstmlab(hidden: tuple[int, ...], n: int, warmup: int, temperature: float, seed: int) -> float:
    """chars/s of RecurrentLM.generate(), ids turned back into characters, prompt read included."""
    import torch

    from lstmlab.lm.config import ModelConfig
    from lstmlab.lm.model import RecurrentLM

    torch.manual_seed(seed)
    model = RecurrentLM(ModelConfig(vocab_size=LSTMLAB_VOCAB, cell="lstm", hidden_sizes=hidden, embed_dim=64)).eval()
    itos = [chr(ord("!") + i) for i in range(LSTMLAB_VOCAB)]
    prompt = torch.randint(1, LSTMLAB_VOCAB, (1, MAXLEN))

    def run(length: int) -> str:
        # Through the public method only, so this measures whatever generate() becomes.
        stream = model.generate(prompt, length=length, temperature=temperature, seed=seed)
        return "".join(itos[ids.tolist()[0]] for ids in stream)

    run(warmup)
    t = time.perf_counter()
    text = run(n)
    elapsed = time.perf_counter() - t
    assert len(text) == n
    return n / elapsed


def time_steppers(cell: str, hidden: tuple[int, ...], batches: list[int], steps: int, warmup: int,
                  temperature: float, seed: int, repeats: int) -> list[dict]:
    """Steps/s and chars/s (steps x streams) of each stepper at each batch size, prompt read excluded;
    the fastest of `repeats` timings, the two steppers taking turns (so a busy moment hurts both)."""
    import torch

    from lstmlab.lm.config import ModelConfig
    from lstmlab.lm.generation import numpy_steps_faster
    from lstmlab.lm.model import STEPPERS, RecurrentLM

    torch.manual_seed(seed)
    model = RecurrentLM(ModelConfig(vocab_size=LSTMLAB_VOCAB, cell=cell, hidden_sizes=hidden, embed_dim=64)).eval()
    results = []
    for batch in batches:
        prompt = torch.randint(1, LSTMLAB_VOCAB, (batch, MAXLEN))
        entry = {"batch": batch, "chosen": "numpy" if numpy_steps_faster(model.device, batch) else "torch"}
        best = {stepper: float("inf") for stepper in STEPPERS}
        for _ in range(repeats):
            for stepper in STEPPERS:
                stream = model.generate(prompt, length=warmup + steps, temperature=temperature, seed=seed,
                                        stepper=stepper)
                for _ in range(warmup):  # the prompt is read before the first of these
                    next(stream)
                t = time.perf_counter()
                for _ in stream:
                    pass
                best[stepper] = min(best[stepper], time.perf_counter() - t)
        for stepper, elapsed in best.items():
            entry[f"{stepper}_steps_per_s"] = steps / elapsed
            entry[f"{stepper}_chars_per_s"] = steps * batch / elapsed
        results.append(entry)
    return results


def compare_steppers(args) -> None:
    rows, results = [], []
    for size in args.sizes:
        timings = time_steppers(args.cell, SIZES[size], args.batches, args.stepper_steps, args.warmup,
                                args.temperature, args.seed, args.repeats)
        for entry in timings:
            entry["size"], entry["cell"] = size, args.cell
            results.append(entry)
            numpy_cps, torch_cps = entry["numpy_chars_per_s"], entry["torch_chars_per_s"]
            rows.append([f"{args.cell} {size}", entry["batch"], f"{numpy_cps:,.0f}", f"{torch_cps:,.0f}",
                         f"{numpy_cps / torch_cps:.2f}x", "numpy" if numpy_cps > torch_cps else "torch", entry["chosen"]])
    table = markdown_table(["model", "streams", "NumPy chars/s", "PyTorch chars/s", "NumPy / PyTorch", "faster",
                            "generate() picks"], rows)
    write_json(args.out, {"benchmark": "generation_steppers", "machine": machine_info(), "temperature": args.temperature,
                          "warmup": args.warmup, "steps": args.stepper_steps, "repeats": args.repeats,
                          "results": results, "table_markdown": table})
    print(table)
    print(f"wrote {args.out}")


# --- --baseline: the same timing code in a worktree of REF and in this tree -------------------------------


def ab_child(args) -> None:
    """Timing process for one tree: answers JSON requests from stdin, one line each, on stdout."""
    tree = Path(args.child).resolve()
    import lstmlab

    where = Path(lstmlab.__file__).resolve()
    if tree not in where.parents:
        sys.exit(f"generation_speed child: imported lstmlab from {where}, not from the tree {tree}; "
                 f"sys.path = {sys.path}")
    import torch

    from lstmlab.config import CELLS
    from lstmlab.lm.config import ModelConfig
    from lstmlab.lm.model import RecurrentLM

    try:  # which stepper generate() picks; informative only, so a renamed helper costs nothing
        from lstmlab.lm.generation import numpy_steps_faster
    except ImportError:
        numpy_steps_faster = None

    def answer(obj: dict) -> None:
        print(AB_TAG + json.dumps(obj), flush=True)

    answer({"lstmlab_file": str(where), "cells": list(CELLS), "torch_threads": torch.get_num_threads(),
            "numpy": np.__version__, "torch": torch.__version__})
    models = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            key = (req["cell"], req["size"])
            if key not in models:
                torch.manual_seed(args.seed)
                models[key] = RecurrentLM(ModelConfig(vocab_size=LSTMLAB_VOCAB, cell=req["cell"],
                                                      hidden_sizes=SIZES[req["size"]], embed_dim=64)).eval()
            model, batch, steps, warmup = models[key], req["batch"], req["steps"], req["warmup"]
            prompt = torch.randint(1, LSTMLAB_VOCAB, (batch, MAXLEN),
                                   generator=torch.Generator().manual_seed(args.seed + batch))
            # Through the public method only, so this times whatever generate() is in this tree.
            stream = model.generate(prompt, length=warmup + steps, temperature=args.temperature, seed=args.seed)
            for _ in range(warmup):  # the prompt is read and the stepper set up before the first of these
                next(stream)
            n = 0
            t = time.perf_counter()
            for _ in stream:
                n += 1
            elapsed = time.perf_counter() - t
            if n != steps:
                raise RuntimeError(f"generate() yielded {n} steps after the warm-up, not {steps}")
            stepper = None
            if numpy_steps_faster is not None:
                try:
                    stepper = "numpy" if numpy_steps_faster(model.device, batch) else "torch"
                except Exception:  # noqa: BLE001 - informative only
                    pass
            answer({"seconds": elapsed, "chars_per_s": steps * batch / elapsed, "stepper": stepper})
        except Exception:  # noqa: BLE001 - reported to the parent, which stops
            answer({"error": traceback.format_exc()})


class AbChild:
    """One tree's timing process, started once and kept for every timing."""

    def __init__(self, name: str, tree: Path, cwd: Path, args):
        self.name, self.tree = name, tree
        env = dict(os.environ, PYTHONPATH=str(tree))
        cmd = [sys.executable, "-u", str(Path(__file__).resolve()), "--child", str(tree),
               "--seed", str(args.seed), "--temperature", repr(args.temperature)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.info = self.read()

    def read(self) -> dict:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                code = self.proc.wait()
                raise SystemExit(f"{self.name} child ({self.tree}) exited with status {code} before answering")
            if line.startswith(AB_TAG):
                reply = json.loads(line[len(AB_TAG):])
                if "error" in reply:
                    raise SystemExit(f"{self.name} child ({self.tree}) failed:\n{reply['error']}")
                return reply
            sys.stderr.write(f"[{self.name}] {line}")  # anything else the tree prints

    def time(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def git(*argv: str) -> str:
    out = subprocess.run(["git", "-C", str(REPO), *argv], check=True, capture_output=True, text=True).stdout
    return out.rstrip("\n")  # not strip(): a porcelain status line may start with a space


def compare_with_baseline(args) -> None:
    try:
        base_commit = git("rev-parse", "--short", f"{args.baseline}^{{commit}}")
    except subprocess.CalledProcessError as e:
        sys.exit(f"--baseline {args.baseline}: not a commit here ({e.stderr.strip()})")
    head_commit = git("rev-parse", "--short", "HEAD")
    uncommitted = git("status", "--porcelain", "--", "lstmlab").splitlines()
    tmp = Path(tempfile.mkdtemp(prefix="lstmlab-generation-ab-"))
    tree, cwd = tmp / "tree", tmp / "cwd"
    cwd.mkdir()
    children: dict[str, AbChild] = {}
    added = False
    raw = []
    try:
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), base_commit],
                       check=True, capture_output=True, text=True)
        added = True
        for name, path in (("baseline", tree), ("current", REPO)):
            children[name] = AbChild(name, path, cwd, args)
        base_cells, cur_cells = children["baseline"].info["cells"], children["current"].info["cells"]
        cells = base_cells + [c for c in cur_cells if c not in base_cells]
        offers = {"baseline": set(base_cells), "current": set(cur_cells)}
        order = ("baseline", "current")
        t0 = time.perf_counter()
        for size in args.sizes:
            for cell in cells:
                for batch in args.batches:
                    steps = max(1, math.ceil(args.chars / batch))
                    for repeat in range(args.repeats):
                        for name in order if repeat % 2 == 0 else order[::-1]:  # who goes first flips
                            if cell not in offers[name]:
                                continue
                            reply = children[name].time(cell=cell, size=size, batch=batch, steps=steps,
                                                        warmup=args.warmup)
                            raw.append({"tree": name, "size": size, "cell": cell, "batch": batch, "repeat": repeat,
                                        "steps": steps, **reply})
                    done = [r for r in raw if (r["size"], r["cell"], r["batch"]) == (size, cell, batch)]
                    print(f"  {size} {cell} batch {batch}: " + ", ".join(
                        f"{r['tree']} {r['chars_per_s']:,.0f}" for r in done) + f"  ({time.perf_counter() - t0:.0f} s)",
                        file=sys.stderr, flush=True)
    finally:
        for child in children.values():
            child.close()
        if added:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                           capture_output=True, text=True)
        shutil.rmtree(tmp, ignore_errors=True)

    rows, summary, ratios = [], [], []
    for size in args.sizes:
        for cell in cells:
            for batch in args.batches:
                entry = {"size": size, "cell": cell, "batch": batch}
                for name in order:
                    cps = [r["chars_per_s"] for r in raw
                           if (r["tree"], r["size"], r["cell"], r["batch"]) == (name, size, cell, batch)]
                    entry[f"{name}_chars_per_s"] = statistics.median(cps) if cps else None
                    entry[f"{name}_stepper"] = next((r["stepper"] for r in raw if (r["tree"], r["size"], r["cell"],
                                                     r["batch"]) == (name, size, cell, batch)), None)
                b, c = entry["baseline_chars_per_s"], entry["current_chars_per_s"]
                entry["ratio"] = c / b if b and c else None
                if entry["ratio"]:
                    ratios.append(entry["ratio"])
                summary.append(entry)
                rows.append([cell if len(args.sizes) == 1 else f"{cell} {size}", batch,
                             f"{b:,.0f}" if b else "-", f"{c:,.0f}" if c else "-",
                             f"{entry['ratio']:.3f}" if entry["ratio"] else "-"])
    geomean = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None
    table = markdown_table(["cell", "batch", f"baseline {base_commit} chars/s",
                            f"current {head_commit}{'+changes' if uncommitted else ''} chars/s",
                            "current / baseline"], rows)
    write_json(args.out, {
        "benchmark": "generation_speed_ab", "machine": machine_info(),
        "baseline": {"ref": args.baseline, "commit": base_commit, **children["baseline"].info},
        "current": {"commit": head_commit, "uncommitted_lstmlab_files": uncommitted, **children["current"].info},
        "sizes": args.sizes, "batches": args.batches, "chars_per_timing": args.chars, "warmup": args.warmup,
        "repeats": args.repeats, "temperature": args.temperature, "seed": args.seed,
        "statistic": "median of repeats", "geometric_mean_ratio": geomean,
        "results": summary, "raw": raw, "table_markdown": table,
    })
    print(table)
    if geomean is not None:
        print(f"geometric mean of current / baseline: {geomean:.3f}")
    print(f"wrote {args.out}")


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    if args.child is not None:
        ab_child(args)
        return
    if args.baseline:
        compare_with_baseline(args)
        return
    if args.compare_steppers:
        compare_steppers(args)
        return
    rows, results = [], []
    keras = None
    if not args.skip_keras:
        t = time.perf_counter()
        import keras

        import_s = time.perf_counter() - t
        keras.utils.set_random_seed(args.seed)
    for size in args.sizes:
        hidden = SIZES[size]
        entry = {"size": size}
        if keras is not None:
            model = keras_model(keras, hidden)
            # What the seeds call: predict() builds a data pipeline and callbacks for every single character.
            entry["seeds_predict_cps"] = time_seed_loop(lambda x: model.predict(x, verbose=0), args.keras_chars,
                                                        args.warmup, args.temperature, args.seed)
            # The same loop calling the model directly (no predict() overhead, still 50 steps per character).
            entry["seeds_direct_call_cps"] = time_seed_loop(
                lambda x: keras.ops.convert_to_numpy(model(x, training=False)), args.keras_chars,
                args.warmup, args.temperature, args.seed)
            entry["keras_parameters"] = model.count_params()
        entry["lstmlab_cps"] = time_lstmlab(hidden, args.lstmlab_chars, args.warmup, args.temperature, args.seed)
        if keras is not None:
            entry["lstmlab_vs_seeds_predict"] = entry["lstmlab_cps"] / entry["seeds_predict_cps"]
            entry["lstmlab_vs_seeds_direct_call"] = entry["lstmlab_cps"] / entry["seeds_direct_call_cps"]
        entry["lstmlab_vs_reference"] = entry["lstmlab_cps"] / args.reference_cps
        results.append(entry)

        def ratio(key):
            return f"{entry[key]:.1f}x" if key in entry else "-"

        if keras is not None:
            rows.append([size, "seeds' loop, model.predict()", args.keras_chars, f"{entry['seeds_predict_cps']:,.1f}",
                         "1.0x", f"{entry['seeds_predict_cps'] / args.reference_cps:.2f}x"])
            rows.append([size, "seeds' loop, model(x) direct", args.keras_chars, f"{entry['seeds_direct_call_cps']:,.1f}",
                         f"{entry['seeds_direct_call_cps'] / entry['seeds_predict_cps']:.1f}x",
                         f"{entry['seeds_direct_call_cps'] / args.reference_cps:.2f}x"])
        rows.append([size, "lstmlab generate()", args.lstmlab_chars, f"{entry['lstmlab_cps']:,.1f}",
                     ratio("lstmlab_vs_seeds_predict"), ratio("lstmlab_vs_reference")])

    table = markdown_table(["model", "method", "chars timed", "chars/s", "vs seeds' predict loop (same model)",
                            f"vs reference {args.reference_cps:g} chars/s (seeds' 1x128)"], rows)
    write_json(args.out, {
        "benchmark": "generation_speed",
        "keras": getattr(keras, "__version__", None),
        "backend": keras.backend.backend() if keras is not None else None,
        "keras_import_seconds": round(import_s, 2) if keras is not None else None,
        "machine": machine_info(),
        "temperature": args.temperature, "warmup": args.warmup,
        "keras_chars": args.keras_chars, "lstmlab_chars": args.lstmlab_chars,
        "reference_cps": args.reference_cps,
        "results": results,
        "table_markdown": table,
    })
    print(table)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

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
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # must be set before keras is imported

import argparse
import time

import numpy as np

from common import MAXLEN, machine_info, markdown_table, set_threads, write_json

SIZES = {"1x128": (128,), "2x512": (512, 512)}
KERAS_VOCAB = 65  # seed 000: 64 characters + 1
LSTMLAB_VOCAB = 66  # Crime and Punishment cleaned: 65 characters + lstmlab's unknown symbol
# From the dev guide: the seeds' 1x128 loop measured on this machine.
REFERENCE_CPS = 110.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES), help="model shapes (default: both)")
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
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64],
                   help="streams generated together, for --compare-steppers (default 1 8 64)")
    p.add_argument("--stepper-steps", type=int, default=300,
                   help="steps timed per stepper and batch size, for --compare-steppers (default 300)")
    p.add_argument("--repeats", type=int, default=3,
                   help="timings per stepper and batch size, for --compare-steppers; the fastest counts (default 3)")
    p.add_argument("--out", required=True, help="JSON result file")
    return p.parse_args()


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


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
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

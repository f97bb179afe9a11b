"""The seeds' Keras recipe (seed 000) on Crime and Punishment, under a wall-clock budget.

    Embedding(V, 64) -> LSTM(128, dropout=0.2) -> Dense(V, softmax), V = len(chars) + 1
    windows of 50 characters every 3, target = the next character
    sparse categorical cross-entropy, RMSprop (Keras default lr 0.001), batch 128
    validation = the last 10% of the windows, unshuffled (Keras' validation_split)

Keras 3 runs on its torch backend here (the seeds used R keras3, whose default
backend is TensorFlow; TensorFlow is not installed on these machines).

The budget counts training time only: validation runs every
--eval-every-seconds and its time is taken off the clock, so the curve's
train_seconds axis is comparable with any other trainer's pure training time.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # must be set before keras is imported

import argparse
import time
from pathlib import Path

from common import (BATCH_SIZE, DEFAULT_TEXT, MAXLEN, STEP, VALIDATION_SPLIT, clean_corpus, machine_info,
                    seed_windows, set_threads, validation_split_at, write_json)

EVAL_BATCH = 1024


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, required=True, help="training budget in minutes (validation time not counted)")
    p.add_argument("--out", required=True, help="JSON result file; the trained model is saved beside it as .keras")
    p.add_argument("--eval-every-seconds", type=float, default=60.0, help="training seconds between validations (default 60)")
    p.add_argument("--text", default=DEFAULT_TEXT, help=f"the corpus (default {DEFAULT_TEXT})")
    p.add_argument("--seed", type=int, default=0, help="seed for Keras, numpy and Python (default 0)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's own, one per core); 1 on a shared machine")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    t_start = time.perf_counter()
    import keras  # noqa: E402  (imported late so --help is instant; its import time is recorded)

    import_seconds = time.perf_counter() - t_start
    set_threads(args.threads)

    class BudgetAndValidation(keras.callbacks.Callback):
        """Stops fit() once `budget_s` of training time is spent; every
        `every_s` training seconds it scores all validation windows, off the clock."""

        def __init__(self, budget_s, every_s, x_val, y_val, n_train):
            super().__init__()
            self.budget_s, self.every_s = budget_s, every_s
            self.x_val, self.y_val, self.n_train = x_val, y_val, n_train
            self.curve, self.eval_seconds, self.epoch, self.windows_seen = [], 0.0, 0, 0

        def train_seconds(self) -> float:
            return time.perf_counter() - self.t0 - self.eval_seconds

        def validate(self) -> None:
            t = time.perf_counter()
            train_s = t - self.t0 - self.eval_seconds
            loss = float(self.model.evaluate(self.x_val, self.y_val, batch_size=EVAL_BATCH, verbose=0))
            self.model.train()  # evaluate() leaves the torch module in eval mode
            self.eval_seconds += time.perf_counter() - t
            self.curve.append({"train_seconds": round(train_s, 3), "windows_seen": self.windows_seen,
                               "epoch": round(self.windows_seen / self.n_train, 4), "val_loss": loss})
            print(f"  {train_s:8.1f}s train | {self.windows_seen:>10,} windows | val loss {loss:.4f}", flush=True)

        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()
            self.validate()  # the untrained starting point of the curve
            self.next_eval = self.every_s

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            # `batch` is the index within this epoch; the epoch's last batch may be short.
            self.windows_seen = self.epoch * self.n_train + min((batch + 1) * BATCH_SIZE, self.n_train)
            spent = self.train_seconds()
            if spent >= self.budget_s:
                self.model.stop_training = True
            elif spent >= self.next_eval:
                self.validate()
                while self.next_eval <= spent:
                    self.next_eval += self.every_s

        def on_train_end(self, logs=None):
            self.final_train_seconds = self.train_seconds()
            self.validate()

    keras.utils.set_random_seed(args.seed)
    text = clean_corpus(args.text)
    chars, X, y, starts = seed_windows(text)
    split = validation_split_at(len(X))
    # Keras would cut here itself with validation_split=0.1; cutting by hand lets the
    # callback score the same windows on its own schedule.
    x_train, y_train, x_val, y_val = X[:split], y[:split], X[split:], y[split:]
    vocab = len(chars) + 1  # the seed's input_dim = length(chars) + 1

    model = keras.Sequential([
        keras.Input(shape=(MAXLEN,), dtype="int32"),
        keras.layers.Embedding(vocab, 64),
        keras.layers.LSTM(128, dropout=0.2),
        keras.layers.Dense(vocab, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="rmsprop")

    callback = BudgetAndValidation(args.minutes * 60, args.eval_every_seconds, x_val, y_val, len(x_train))
    print(f"keras {keras.__version__} ({keras.backend.backend()} backend): {model.count_params():,} parameters, "
          f"{len(x_train):,} training / {len(x_val):,} validation windows, budget {args.minutes:g} min", flush=True)
    t_fit = time.perf_counter()
    # epochs is only a ceiling: the callback's budget ends training.
    model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=10_000, shuffle=True, verbose=0, callbacks=[callback])
    fit_wall = time.perf_counter() - t_fit

    out = Path(args.out)
    model_path = out.with_suffix(".keras")
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(model_path)

    train_s = callback.final_train_seconds
    result = {
        "benchmark": "seed_recipe",
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "machine": machine_info(),
        "keras_import_seconds": round(import_seconds, 2),
        "text": args.text,
        "text_chars": len(text),
        "vocab_size": vocab,
        "chars": "".join(chars),
        "maxlen": MAXLEN, "step": STEP, "batch_size": BATCH_SIZE, "validation_split": VALIDATION_SPLIT,
        "n_train": len(x_train),
        "n_val": len(x_val),
        # Validation windows read text[val_start_char:] and nothing before it.
        "val_start_char": int(starts[split]),
        "parameters": model.count_params(),
        "budget_minutes": args.minutes,
        "eval_every_seconds": args.eval_every_seconds,
        "train_seconds": round(train_s, 3),
        "eval_seconds": round(callback.eval_seconds, 3),
        "fit_wall_seconds": round(fit_wall, 3),
        "windows_seen": callback.windows_seen,
        "epochs_seen": round(callback.windows_seen / len(x_train), 4),
        "windows_per_s": round(callback.windows_seen / max(train_s, 1e-9), 1),
        "final_val_loss": callback.curve[-1]["val_loss"],
        "curve": callback.curve,
        "model_file": str(model_path),
        "seed": args.seed,
    }
    write_json(out, result)
    print(f"final val loss {result['final_val_loss']:.4f} nats/char after {train_s:.1f}s of training "
          f"({result['windows_per_s']:,.0f} windows/s, {result['epochs_seen']:.3f} epochs; "
          f"validation took {callback.eval_seconds:.1f}s more)\nwrote {out} and {model_path}")


if __name__ == "__main__":
    main()

"""Does a change leave training where it was? The same short runs with this tree and with a git
ref, compared by a hash of the trained weights.

    .venv/bin/python benchmarks/same_weights.py --baseline ce0984a

A git worktree of the ref is made in a temporary folder and imported in a fresh process, so
both sides run with the same Python and torch. Runs (each a few steps, a minute or two in all):
the character defaults, the 5-minute-or-more defaults (two layers of 512, dropout 0.25), the
6-second budget's (the seed race's), and the word-level defaults. Equal hashes mean bit-identical weights after the same steps, so every figure a
longer run of that path reached still holds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO  # noqa: E402

TEXT = REPO.parent / "shared" / "data" / "text" / "tiny_shakespeare.txt"
WORDS = REPO.parent / "shared" / "data" / "text" / "crime_and_punishment.txt"
# A budget in steps fits only the preset table's rows whose budget is "any" (lm/presets.py), so
# the presets that minutes choose (medium, seconds) are given as their settings.
RUNS = {  # name: (corpus, settings)
    "char, plain defaults": (TEXT, dict(max_steps=30, eval_every=10)),
    "char, 5 minutes or more": (TEXT, dict(hidden_sizes=(512, 512), dropout=0.25, lr=5e-3, max_steps=12,
                                           eval_every=6)),
    "char, 6 seconds": (TEXT, dict(batch_size=16, warmup_steps=20, lr=0.02, max_steps=40, eval_every=20)),
    "word, defaults": (WORDS, dict(level="word", max_steps=12, eval_every=6)),
}

CHILD = """
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
import lstmlab
from safetensors.torch import load_file
from pathlib import Path
runs = json.loads(sys.argv[3])
for i, (name, (corpus, settings)) in enumerate(runs.items()):
    out = Path(sys.argv[2]) / str(i)
    lstmlab.train(corpus, out, log=lambda s: None, show_progress=False, **settings)
    w = load_file(str(out / "model.safetensors"))
    print(json.dumps([name, hashlib.sha256(b"".join(w[k].numpy().tobytes() for k in sorted(w))).hexdigest()[:16]]))
"""


def hashes(tree: Path, work: Path) -> dict[str, str]:
    import json

    runs = {name: (str(corpus), {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()})
            for name, (corpus, settings) in RUNS.items()}
    out = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(work), json.dumps(runs)], check=True,
                         capture_output=True, text=True, cwd=work).stdout
    return dict(json.loads(line) for line in out.splitlines() if line.startswith("["))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", required=True, help="a git ref to compare with (e.g. the main branch's last landing)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(tmp / "baseline"),
                        args.baseline], check=True)
        try:
            (tmp / "a").mkdir()
            (tmp / "b").mkdir()
            before = hashes(tmp / "baseline", tmp / "a")
            after = hashes(REPO, tmp / "b")
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp / "baseline")])
    print(f"{'run':<28} {args.baseline[:12]:<18} {'this tree':<18} same")
    for name in RUNS:
        print(f"{name:<28} {before[name]:<18} {after[name]:<18} {'yes' if before[name] == after[name] else 'NO'}")


if __name__ == "__main__":
    main()

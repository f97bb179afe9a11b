"""Peak memory (RSS) of preparing and training on a 100 MB corpus.

    .venv/bin/python benchmarks/memory.py --out bench-results/memory.json

The corpus is the shared texts concatenated over and over until it reaches
--megabytes. Each stage runs as its own process under GNU time (/usr/bin/time -v),
whose "Maximum resident set size" is the peak RSS of that process:
  1. lstmlab prepare BIG.txt          (read, clean, count, encode, write)
  2. lstmlab train PREPARED --steps N (memory-mapped batches, the default 1x512 model)
  3. lstmlab train BIG.txt --steps N  (both in one process, what a user usually runs)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, machine_info, markdown_table, write_json

TEXTS = REPO.parent / "shared" / "data" / "text"
TIME = "/usr/bin/time"


def build_corpus(path: Path, megabytes: float) -> int:
    pieces = [p.read_text(encoding="utf-8-sig") for p in sorted(TEXTS.glob("*.txt"))]
    target, written = int(megabytes * 1e6), 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < target:
            for piece in pieces:
                fh.write(piece)
                written += len(piece.encode("utf-8"))
    return path.stat().st_size


def peak_rss_mb(cmd: list[str]) -> tuple[float, str]:
    proc = subprocess.run([TIME, "-v", *cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)[1])
    return kb / 1024, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench-results/memory.json")
    parser.add_argument("--megabytes", type=float, default=100.0)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    lstmlab = str(Path(sys.executable).parent / "lstmlab")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        size = build_corpus(tmp / "big.txt", args.megabytes)
        # The concatenation holds many Gutenberg headers; cutting at the first
        # START and last END would keep it all anyway, so skip that step.
        common = ["--no-strip-gutenberg"]
        train = ["--steps", str(args.steps), "--eval-every", "10", "--no-progress"]
        stages = [
            ("prepare", [lstmlab, "prepare", str(tmp / "big.txt"), "--out", str(tmp / "prepared"), *common]),
            ("train on the prepared folder", [lstmlab, "train", str(tmp / "prepared"), "--out", str(tmp / "run1"), *train]),
            ("train on the raw file (prepare + train)", [lstmlab, "train", str(tmp / "big.txt"), "--out", str(tmp / "run2"), *common, *train]),
        ]
        for name, cmd in stages:
            mb, _ = peak_rss_mb(cmd)
            rows.append({"stage": name, "command": " ".join(cmd).replace(str(tmp), "TMP"), "peak_rss_mb": round(mb, 1)})
            print(f"{name}: {mb:,.0f} MB peak RSS", flush=True)
    write_json(args.out, {"machine": machine_info(), "corpus_bytes": size, "rows": rows})
    print(f"corpus: {size / 1e6:.1f} MB")
    print(markdown_table(["stage", "peak RSS (MB)"], [[r["stage"], f"{r['peak_rss_mb']:,.0f}"] for r in rows]))


if __name__ == "__main__":
    main()

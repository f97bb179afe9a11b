"""Continuous batching in `lstmlab serve`: total characters/s and time to the first character
at 1, 8 and 32 concurrent streams, beside the same streams served one after another, and
the single-stream overhead of the API against LanguageModel.generate in this process.

One server process (a 1x512 character model) answers every row of one invocation; the
clients are httpx streams in this process, reading server-sent events. On a 2-core
machine the clients share the cores with the server, which the figures include.

    python benchmarks/serve.py                      # trains a 1-step 1x512 run to serve
    python benchmarks/serve.py --run runs/demo      # or serve a run you have
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from common import REPO, machine_info, markdown_table, write_json

TEXT = REPO.parent / "shared" / "data" / "text" / "tiny_shakespeare.txt"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="a character run to serve (default: a 1x512 run trained for one step; "
                                 "speed does not depend on the weights)")
    p.add_argument("--streams", type=int, nargs="+", default=[1, 8, 32], help="concurrent streams (default 1 8 32)")
    p.add_argument("--length", type=int, default=2000, help="characters per stream (default 2000)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of each row; TTFT percentiles pool them (default 3)")
    p.add_argument("--out", default="bench-results/serve.json")
    return p.parse_args()


def make_run(folder: Path) -> Path:
    import lstmlab

    run = folder / "serve-1x512"
    if not (run / "model.safetensors").is_file():
        lstmlab.train(str(TEXT), run, hidden_sizes=(512,), max_steps=1, eval_every=1, show_progress=False,
                      log=lambda line: None)
    return run


def start_server(run: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "lstmlab", "serve", f"bench={run}", "--port", str(port)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"lstmlab serve failed: {proc.stderr.read()}")
            time.sleep(0.1)
    raise SystemExit("lstmlab serve did not start")


async def one_stream(client, length: int, seed: int) -> tuple[float, float, int]:
    """(seconds to the first character, seconds in all, characters) of one streamed request."""
    body = {"model": "bench", "prompt": "ROMEO:", "length": length, "seed": seed, "temperature": 0.8, "stream": True}
    start = time.perf_counter()
    first, chars = None, 0
    async with client.stream("POST", "/v1/generate", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["type"] == "text":
                if first is None:
                    first = time.perf_counter() - start
                chars += len(event["text"])
            elif event["type"] == "error":
                raise RuntimeError(event["message"])
    return first, time.perf_counter() - start, chars


async def concurrent_round(url: str, streams: int, length: int, seed: int) -> tuple[float, list[float], int]:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=600, limits=httpx.Limits(max_connections=streams + 1)) as client:
        start = time.perf_counter()
        results = await asyncio.gather(*(one_stream(client, length, seed + i) for i in range(streams)))
        wall = time.perf_counter() - start
    return wall, [r[0] for r in results], sum(r[2] for r in results)


async def sequential_round(url: str, streams: int, length: int, seed: int) -> tuple[float, list[float], int]:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        start = time.perf_counter()
        results = [await one_stream(client, length, seed + i) for i in range(streams)]
        wall = time.perf_counter() - start
    return wall, [r[0] for r in results], sum(r[2] for r in results)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def in_process_chars_per_s(run: Path, length: int, rounds: int) -> float:
    """LanguageModel.generate in this process, with the server's one BLAS thread (app.py)."""
    from threadpoolctl import threadpool_limits

    import lstmlab

    threadpool_limits(limits=1, user_api="blas")
    lm = lstmlab.load(run, device="cpu")
    lm.generate("ROMEO:", length=200, seed=0)  # warm-up
    best = []
    for r in range(rounds):
        start = time.perf_counter()
        lm.generate("ROMEO:", length=length, temperature=0.8, seed=r)
        best.append(length / (time.perf_counter() - start))
    return statistics.median(best)


def stepper_chars_per_s(run: Path, streams: int, steps: int = 2000) -> float:
    """The ceiling of the server's generation: characters/s of the recurrent step alone
    (NumpyStepper.step on `streams` rows, one BLAS thread), no sampling, no HTTP."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    import lstmlab
    from lstmlab.lm.generation import FoldedHead, NumpyStepper

    threadpool_limits(limits=1, user_api="blas")
    model = lstmlab.load(run, device="cpu").model
    stepper = NumpyStepper(model, None, streams, FoldedHead.of(model.head, 1.0, ()))
    ids = np.zeros(streams, dtype=np.int64)
    for _ in range(100):
        stepper.step(ids)
    start = time.perf_counter()
    for _ in range(steps):
        stepper.step(ids)
    return streams * steps / (time.perf_counter() - start)


def main() -> None:
    args = parse_args()
    out_dir = REPO / "bench-results"
    out_dir.mkdir(exist_ok=True)
    run = Path(args.run) if args.run else make_run(out_dir)
    proc, url = start_server(run)
    rows, result = [], {"machine": machine_info(), "run": str(run), "length": args.length, "rows": []}
    try:
        asyncio.run(concurrent_round(url, 2, 200, 0))  # warm-up
        single = None
        for streams in args.streams:
            measured = {}
            for mode, fn in (("concurrent", concurrent_round), ("one after another", sequential_round)):
                if mode == "one after another" and streams == 1:
                    continue
                walls, ttfts, chars = [], [], 0
                for r in range(args.rounds):
                    wall, firsts, got = asyncio.run(fn(url, streams, args.length, 1000 * r))
                    walls.append(wall)
                    ttfts.extend(firsts)
                    chars = got
                    assert got == streams * args.length, (got, streams * args.length)
                rate = chars / statistics.median(walls)
                measured[mode] = rate
                row = {"streams": streams, "mode": mode, "chars_per_s": round(rate),
                       "ttft_p50_ms": round(1000 * percentile(ttfts, 0.5), 1),
                       "ttft_p99_ms": round(1000 * percentile(ttfts, 0.99), 1)}
                result["rows"].append(row)
                print(json.dumps(row), flush=True)
            if streams == 1:
                single = measured["concurrent"]
        for row in result["rows"]:
            row["vs_single_stream"] = round(row["chars_per_s"] / single, 2) if single else None
            rows.append([row["streams"], row["mode"], f"{row['chars_per_s']:,}", row["vs_single_stream"],
                         row["ttft_p50_ms"], row["ttft_p99_ms"]])
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    in_process = in_process_chars_per_s(run, args.length, args.rounds)
    result["in_process_chars_per_s"] = round(in_process)
    result["api_single_stream_share"] = round(single / in_process, 3) if single else None
    ceiling = {n: stepper_chars_per_s(run, n) for n in args.streams}
    result["stepper_chars_per_s"] = {str(n): round(v) for n, v in ceiling.items()}
    print(markdown_table(["streams", "served", "total chars/s", "x one stream", "TTFT p50 (ms)", "TTFT p99 (ms)"],
                         rows))
    print(f"\nsingle stream through the API: {single:,.0f} chars/s; LanguageModel.generate in this process: "
          f"{in_process:,.0f} chars/s; API/in-process = {single / in_process:.2f}")
    print("\nthe recurrent step alone (NumPy, one BLAS thread, no sampling, no HTTP): " + "; ".join(
        f"{n} rows {v:,.0f} chars/s ({v / ceiling[args.streams[0]]:.2f}x)" for n, v in ceiling.items()))
    print(f"wrote {write_json(args.out, result)}")


if __name__ == "__main__":
    os.chdir(REPO)
    main()

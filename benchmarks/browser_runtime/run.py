"""Which runtime a published page should use: onnxruntime-web (the exported graphs: the
sequence graph, and the step graph) against a plain JavaScript stepper over the same weights, in headless Chromium, beside `lstmlab generate`
in Python, all in one invocation, on a one-layer LSTM character model (the demo's 1x512).

    flock /tmp/lstmlab-bench.lock .venv/bin/python -u benchmarks/browser_runtime/run.py \\
        --out bench-results/browser_runtime.json [--run runs/demo]

Each runtime writes --steps characters greedily from --prompt, one character per step with the
state carried; characters/s leaves out the first step (the prompt). The three texts must be the
same. Page weight is what each page loads, as served with gzip. onnxruntime-web comes from the
npm registry (`npm pack`, into bench-results/npm/), single-threaded wasm.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE.parent))
from common import machine_info, set_threads, write_json  # noqa: E402
from tests.browser import Browser  # noqa: E402  (the tests' CDP client)

ORT_VERSION = "1.31.1"
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")
CORPUS = REPO.parent / "shared" / "data" / "text" / "tiny_shakespeare.txt"


def onnxruntime_web(cache: Path) -> Path:
    """The dist folder of onnxruntime-web ORT_VERSION, fetched once with npm."""
    dist = cache / f"onnxruntime-web-{ORT_VERSION}" / "package" / "dist"
    if not dist.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", f"onnxruntime-web@{ORT_VERSION}", "--silent"], cwd=cache, check=True)
        with tarfile.open(cache / f"onnxruntime-web-{ORT_VERSION}.tgz") as archive:
            archive.extractall(dist.parent.parent, filter="data")
    return dist


def write_weights(lm, folder: Path) -> None:
    """weights.bin (float32) and weights.json: the tensors the JavaScript stepper reads."""
    layer = lm.model.rnn.layers[0]
    tensors = {"embedding": lm.model.embedding.weight, "weight_ih": layer.weight_ih_l0, "weight_hh": layer.weight_hh_l0,
               "bias": layer.bias_ih_l0 + layer.bias_hh_l0, "head_weight": lm.model.head.weight,
               "head_bias": lm.model.head.bias}
    layout, offset, parts = {}, 0, []
    for name, tensor in tensors.items():
        values = tensor.detach().float().contiguous().numpy().ravel()
        layout[name] = [offset, int(values.size)]
        offset += values.size
        parts.append(values)
    (folder / "weights.bin").write_bytes(np.concatenate(parts).astype("<f4").tobytes())
    (folder / "weights.json").write_text(json.dumps({
        "tensors": layout, "symbols": list(lm.vocab.symbols), "hidden": layer.hidden_size,
        "embed": lm.model.embedding.weight.shape[1], "never_generate": list(lm.suppressed)}), encoding="utf-8")


def gzip_bytes(folder: Path, names: list[str]) -> int:
    return sum(len(gzip.compress((folder / name).read_bytes(), 6)) for name in names)


def run_page(url: str, timeout: float = 600) -> dict:
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(Path(profile))
        try:
            browser.open(url)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                text = browser.evaluate("document.getElementById('out').textContent")
                if text != "running":
                    if text.startswith("ERROR"):
                        raise RuntimeError(f"{url}: {text}")
                    hosts = {u.split("/")[2] for u in browser.requested_urls() if u.startswith("http")}
                    return {**json.loads(text), "hosts": sorted(hosts)}
                time.sleep(0.2)
            raise TimeoutError(url)
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a one-layer LSTM character run (default: 1x512 trained for a few steps here)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--prompt", default="ROMEO:")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    set_threads(args.threads)
    import lstmlab
    from lstmlab.export import export

    work = Path(tempfile.mkdtemp(prefix="browser-runtime-"))
    run = Path(args.run) if args.run else work / "run"
    if not args.run:
        lstmlab.train(str(CORPUS), run, hidden_sizes=(512,), max_steps=30, eval_every=30, show_progress=False,
                      log=lambda line: None)
    lm = lstmlab.load(run, device="cpu")
    site = work / "site"
    site.mkdir()
    exported = export(run, site / "model.onnx")
    dist = onnxruntime_web(REPO / "bench-results" / "npm")
    for name in ORT_FILES:
        shutil.copy(dist / name, site / name)
    shutil.copy(HERE / "ort_page.html", site / "ort.html")
    shutil.copy(HERE / "js_page.html", site / "js.html")
    write_weights(lm, site)

    started = time.perf_counter()
    python_text = lm.generate(args.prompt, length=args.steps, temperature=0)
    python_seconds = time.perf_counter() - started

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    query = f"?steps={args.steps}&prompt={args.prompt}"
    try:
        ort_result = run_page(f"{base}/ort.html{query}")
        step_result = run_page(f"{base}/ort.html{query}&graph=step")
        js_result = run_page(f"{base}/js.html{query}")
    finally:
        server.shutdown()
    generated = python_text[len(args.prompt):] if python_text.startswith(args.prompt) else python_text
    rows = {
        "lstmlab generate (Python, this machine's 2 threads)": {"chars_per_s": args.steps / python_seconds},
        f"onnxruntime-web {ORT_VERSION} (wasm, 1 thread), FILE.onnx (Scan)": {
            "chars_per_s": ort_result["chars_per_s"], "same_text": ort_result["text"] == generated,
            "gzip_bytes": gzip_bytes(site, ["ort.html", *ORT_FILES, "model.onnx", "model.json"]),
            "hosts": ort_result["hosts"]},
        f"onnxruntime-web {ORT_VERSION} (wasm, 1 thread), FILE.step.onnx": {
            "chars_per_s": step_result["chars_per_s"], "same_text": step_result["text"] == generated,
            "gzip_bytes": gzip_bytes(site, ["ort.html", *ORT_FILES, "model.step.onnx", "model.json"]),
            "hosts": step_result["hosts"]},
        "JavaScript stepper (plain loops, 1 thread)": {
            "chars_per_s": js_result["chars_per_s"], "same_text": js_result["text"] == generated,
            "gzip_bytes": gzip_bytes(site, ["js.html", "weights.bin", "weights.json"]), "hosts": js_result["hosts"]},
    }
    for name, row in rows.items():
        print(f"{name}: {row}", flush=True)
    print(f"export: {exported}")
    if args.out:
        write_json(args.out, {"machine": machine_info(), "run": str(run), "steps": args.steps, "prompt": args.prompt,
                              "rows": rows, "python_text": generated[:200], "ort_text": ort_result["text"][:200],
                              "ort_step_text": step_result["text"][:200], "js_text": js_result["text"][:200]})


if __name__ == "__main__":
    main()

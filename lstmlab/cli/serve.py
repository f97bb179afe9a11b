"""`lstmlab serve RUN [RUN ...]`: the HTTP API and the playground, on uvicorn."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from ..errors import LstmlabError
from ..serve.limits import Limits
from .flags import add_device_flag

API_KEY_VARIABLE = "LSTMLAB_API_KEY"
LIMIT_HELP = {
    "max_body_bytes": "the largest request body",
    "max_prompt_chars": "the longest prompt, or text to score, classify or continue",
    "max_inspect_chars": "the longest text for /v1/inspect",
    "max_length": "the most symbols one sample may generate (and forecast steps)",
    "max_samples": "the most samples (num_samples, or n) per request",
    "max_texts": "the most texts per /v1/classify request",
    "max_streams": "the most samples generating at once on one model; requests beyond get 429",
    "time_limit": "seconds a request may take, generation included",
}


def add_parser(sub, parser_class) -> None:
    p = sub.add_parser(
        "serve", help="serve runs over HTTP: a JSON API (OpenAI-compatible completions too) and a web playground",
        description="Serve trained runs (language models, classifiers, forecasters) over HTTP with FastAPI and "
                    "uvicorn: the playground at /, the API under /v1, its documentation at /docs. Concurrent "
                    "generation requests on one model share one batched step per symbol.")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="a run folder, served under its folder name, or NAME=RUN to choose the name")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    p.add_argument("--api-key", metavar="KEY",
                   help=f"require 'Authorization: Bearer KEY' on every API request (or set {API_KEY_VARIABLE})")
    add_device_flag(p)
    p.add_argument("--access-log", action="store_true", help="print a line per request")
    g = p.add_argument_group("limits per request")
    for f in fields(Limits):
        g.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), metavar="N",
                       help=f"{LIMIT_HELP[f.name]} (default {f.default:,})")


def check_port(port: int) -> None:
    """--port: 0 lets the system choose a free one."""
    if not 0 <= port <= 65535:
        raise LstmlabError(f"--port must be between 0 and 65535, got {port}; try the default, 8000")


def run(args: argparse.Namespace) -> None:
    import uvicorn  # imported here: the other commands do not need the server's libraries

    from ..serve.app import create_app
    from ..serve.models import load_served
    from ..serve.threads import use_serving_threads

    limits = Limits(**{f.name: getattr(args, f.name) for f in fields(Limits) if getattr(args, f.name) is not None})
    check_port(args.port)
    api_key = args.api_key or os.environ.get(API_KEY_VARIABLE) or None
    served = load_served(args.runs, args.device)  # a bad folder fails here, before the server starts
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host} lets other machines reach this server"
              + ("" if api_key else f"; anyone who can reach it may use it (set --api-key or {API_KEY_VARIABLE})"),
              file=sys.stderr)
    use_serving_threads()  # this process is the server's: one BLAS and one PyTorch thread (serve/threads.py)
    app = create_app(served, limits, api_key)
    where = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}"
    for entry in served.values():
        print(f"  {entry.name}: {entry.summary}")
    print(f"serving {len(served)} model(s) at {where} (playground at /, API under /v1, docs at /docs); Ctrl-C stops")
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=args.access_log,
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    server.run()
    if not server.started:  # e.g. the port is taken: uvicorn has logged why
        raise LstmlabError(f"could not listen on {args.host}:{args.port}; is the port in use? choose another with --port")

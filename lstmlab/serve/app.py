"""The HTTP API and the playground page: a FastAPI app over the served runs.

    GET  /                 the playground        GET  /healthz      is it up
    GET  /v1/models        what is served        POST /v1/generate  text, JSON or server-sent events
    POST /v1/next          next-symbol odds      POST /v1/score     bits/char or perplexity
    POST /v1/inspect       gate traces           POST /v1/classify  labels and probabilities
    POST /v1/forecast      forecast, intervals   POST /v1/completions  OpenAI's completions API

Generation goes through one Engine per language model (engine.py); the other routes
run the model in the thread pool, so the event loop never waits on a forward pass.
Every error is a 4xx whose JSON names the problem and the fix (guard.error_body).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import time
import uuid
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, AsyncIterator, Optional

import numpy as np
import pandas as pd
import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from threadpoolctl import threadpool_limits

from ..classify.trained import Classifier
from ..errors import LstmlabError
from ..forecast.trained import ForecastRun
from ..inspect.page import choose_view, page_data
from ..lm.trained import LanguageModel, WordLanguageModel
from ..version import __version__
from .engine import Engine, Outbox, Sampling
from .guard import Guard, error_body
from .limits import Limits
from .models import ServedModel
from .schemas import (ClassifyRequest, CompletionRequest, ForecastRequest, GenerateRequest, NextRequest,
                      TextRequest)

# How often a request that is not streamed checks whether its client is still there.
DISCONNECT_POLL_S = 0.5
HISTORY_POINTS = 200  # the recent history a forecast answer shows beside the forecast


class ApiError(Exception):
    """A request the server cannot do: a 4xx with a one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def create_app(served: dict[str, ServedModel], limits: Limits = Limits(), api_key: Optional[str] = None) -> FastAPI:
    # One BLAS thread: the engines' matrix products are small, and OpenBLAS's extra
    # threads spin for the cores that the event loop needs (measured here: 32 streams went
    # from 1,300 to 22,000 characters/s). It holds for the whole process, which is the server's.
    threadpool_limits(limits=1, user_api="blas")
    # PyTorch's threads (reading prompts, classifying, forecasting) likewise: a second
    # thread would spin for the core the event loop runs on. Replicas use more cores (README).
    torch.set_num_threads(1)
    engines = {name: Engine(m.loaded, max_rows=limits.max_streams) for name, m in served.items() if m.language_model}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        for engine in engines.values():
            engine.close()

    app = FastAPI(title="lstmlab", version=__version__, lifespan=lifespan,
                  description="Recurrent language models, classifiers and forecasters trained with lstmlab. "
                              "Generation streams as server-sent events; /v1/completions speaks OpenAI's API.")
    app.add_middleware(Guard, max_body_bytes=limits.max_body_bytes, api_key=api_key)
    app.state.engines = engines
    add_error_handlers(app)
    app.mount("/assets/inspect", StaticFiles(packages=[("lstmlab.inspect", "assets")]), name="inspect-assets")
    app.mount("/assets", StaticFiles(packages=[("lstmlab.serve", "assets")]), name="assets")

    # -- helpers over the served runs -------------------------------------------------
    def model_named(name: str, kinds: tuple[str, ...], what: str) -> ServedModel:
        if name not in served:
            raise ApiError(404, f"no model named {name!r}; this server has {', '.join(sorted(served))} "
                                "(GET /v1/models lists them)")
        entry = served[name]
        if entry.kind not in kinds:
            raise ApiError(400, f"{name!r} is a {entry.kind}; {what} needs a {' or '.join(kinds)} model")
        return entry

    def check_text(text: str, field: str, limit: int, flag: str, allow_empty: bool = False) -> None:
        if not text and not allow_empty:
            raise ApiError(422, f"{field} is empty; send some text")
        if len(text) > limit:
            raise ApiError(422, f"{field} has {len(text):,} characters, over this server's limit of {limit:,} "
                                f"(--{flag}); send a shorter one")

    def check_generation(prompt: str, length: int, samples: int) -> None:
        check_text(prompt, "prompt", limits.max_prompt_chars, "max-prompt-chars", allow_empty=True)
        if length > limits.max_length:
            raise ApiError(422, f"length {length:,} is over this server's limit of {limits.max_length:,} symbols "
                                "(--max-length); ask for fewer")
        if samples > limits.max_samples:
            raise ApiError(422, f"{samples} samples is over this server's limit of {limits.max_samples} per request "
                                "(--max-samples); ask for fewer")

    def submit(name: str, prompt: str, sampling: Sampling) -> tuple[Any, Outbox]:
        outbox = Outbox(asyncio.get_running_loop())
        job = engines[name].submit(prompt, sampling, outbox)
        if job is None:
            raise ApiError(429, f"{name!r} is already generating {engines[name].streams} of its "
                                f"{limits.max_streams} streams (--max-streams); try again shortly")
        return job, outbox

    async def events(job, outbox: Outbox, request: Request, poll: bool) -> AsyncIterator[list[dict]]:
        """The engine's items for one request, in the batches they arrive in, until it is done.
        Cancels the request if its client leaves (a streaming response is cancelled by
        Starlette, so finally runs; otherwise `poll` checks now and then)."""
        try:
            while True:
                if poll:
                    try:
                        items = await asyncio.wait_for(outbox.take(), DISCONNECT_POLL_S)
                    except asyncio.TimeoutError:
                        if await request.is_disconnected():
                            return
                        continue
                else:
                    items = await outbox.take()
                yield items
                if items[-1]["type"] in ("done", "error"):
                    return
        finally:
            job.cancel()

    def sampling_of(body: GenerateRequest) -> Sampling:
        return Sampling(length=body.length, temperature=body.temperature, top_k=body.top_k, top_p=body.top_p,
                        num_samples=body.num_samples, seed=body.seed, stop=tuple(body.stop),
                        time_limit=limits.time_limit)

    # -- the page ---------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def playground() -> HTMLResponse:
        page = resources.files("lstmlab.serve") / "assets" / "playground.html"
        return HTMLResponse(page.read_text(encoding="utf-8"))

    @app.get("/healthz", tags=["server"])
    def healthz() -> dict:
        return {"status": "ok", "models": len(served), "streams": sum(e.streams for e in engines.values()),
                "limits": dataclasses.asdict(limits)}

    @app.get("/v1/models", tags=["server"])
    def list_models() -> dict:
        return {"object": "list", "data": [m.describe() for m in served.values()]}

    # -- language models --------------------------------------------------------------
    @app.post("/v1/generate", tags=["language models"])
    async def generate(body: GenerateRequest, request: Request):
        entry = model_named(body.model, ("char-lm", "word-lm"), "generate")
        check_generation(body.prompt, body.length, body.num_samples)
        job, outbox = submit(entry.name, body.prompt, sampling_of(body))
        lm: LanguageModel = entry.loaded
        prompt = lm.prompt_text(body.prompt)
        if body.stream:
            async def stream() -> AsyncIterator[str]:
                yield sse({"type": "start", "prompt": prompt})
                async for items in events(job, outbox, request, poll=False):
                    # One write per batch: under load the worker gets ahead, and a client
                    # then reads several steps' text in one event.
                    yield "".join(sse(event) for event in merge_text_events(items))
            return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)
        texts = [""] * body.num_samples
        surprise: list[list[float]] = [[] for _ in texts]
        reasons = ["length"] * body.num_samples
        async for items in events(job, outbox, request, poll=True):
            for item in items:
                if item["type"] == "text":
                    texts[item["index"]] += item["text"]
                    surprise[item["index"]].extend(item["surprise"])
                elif item["type"] == "done":
                    reasons = item["finish_reasons"]
                else:
                    raise ApiError(503, item["message"])
        return {"model": entry.name, "prompt": prompt,
                "samples": [{"text": t, "finish_reason": r, "surprise": s} for t, r, s in zip(texts, reasons, surprise)]}

    @app.post("/v1/next", tags=["language models"])
    async def next_symbols(body: NextRequest) -> dict:
        entry = model_named(body.model, ("char-lm", "word-lm"), "next")
        check_text(body.text, "text", limits.max_prompt_chars, "max-prompt-chars", allow_empty=True)
        lm: LanguageModel = entry.loaded

        def work() -> dict:
            if isinstance(lm, WordLanguageModel):
                odds = lm.next_word_probs(body.text, top=body.top, warn=None)
            else:
                probs = lm.next_char_probs(body.text, warn=None)
                odds = dict(sorted(probs.items(), key=lambda kv: -kv[1])[: body.top])
            return {"model": entry.name, "text": lm.normalize(body.text),
                    "next": [{"symbol": symbol, "prob": p} for symbol, p in odds.items()]}
        return await run_in_threadpool(work)

    @app.post("/v1/score", tags=["language models"])
    async def score(body: TextRequest) -> dict:
        entry = model_named(body.model, ("char-lm", "word-lm"), "score")
        check_text(body.text, "text", limits.max_prompt_chars, "max-prompt-chars")
        lm: LanguageModel = entry.loaded
        result = await run_in_threadpool(lm.evaluate, body.text)
        if isinstance(lm, WordLanguageModel):
            return {"model": entry.name, "nats_per_word": result.nats_per_word, "bits_per_word": result.bits_per_word,
                    "perplexity": result.perplexity, "words": result.words, "unknown_share": result.unknown_share}
        return {"model": entry.name, "nats_per_char": result.nats_per_char, "bits_per_char": result.bits_per_char,
                "perplexity": math.exp(result.nats_per_char), "chars": result.chars}

    @app.post("/v1/inspect", tags=["language models"])
    async def inspect(body: TextRequest) -> dict:
        entry = model_named(body.model, ("char-lm",), "inspect")
        check_text(body.text, "text", limits.max_inspect_chars, "max-inspect-chars")
        lm: LanguageModel = entry.loaded

        def work() -> dict:
            inspection = lm.inspect(body.text, warn=None)
            return page_data(inspection, choose_view(inspection), title=entry.name)
        return await run_in_threadpool(work)

    # -- classifiers and forecasters --------------------------------------------------
    @app.post("/v1/classify", tags=["classifiers"])
    async def classify(body: ClassifyRequest) -> dict:
        entry = model_named(body.model, ("classifier",), "classify")
        if not body.texts:
            raise ApiError(422, "texts is empty; send a list of one or more texts")
        if len(body.texts) > limits.max_texts:
            raise ApiError(422, f"{len(body.texts)} texts is over this server's limit of {limits.max_texts} per "
                                "request (--max-texts); send them in parts")
        for i, text in enumerate(body.texts):
            check_text(text, f"texts[{i}]", limits.max_prompt_chars, "max-prompt-chars")
        classifier: Classifier = entry.loaded
        probs = await run_in_threadpool(classifier.predict_proba, body.texts)
        classes = classifier.classes
        return {"model": entry.name, "classes": classes,
                "predictions": [{"label": classes[int(row.argmax())],
                                 "probs": {c: float(p) for c, p in zip(classes, row)}} for row in probs]}

    @app.post("/v1/forecast", tags=["forecasters"])
    async def forecast(body: ForecastRequest) -> dict:
        entry = model_named(body.model, ("forecaster",), "forecast")
        if body.steps is not None and body.steps > limits.max_length:
            raise ApiError(422, f"steps {body.steps:,} is over this server's limit of {limits.max_length:,} "
                                "(--max-length); ask for fewer")
        run: ForecastRun = entry.loaded
        frame = await run_in_threadpool(run.predict, body.steps, body.interval)
        history = run.frame.iloc[-HISTORY_POINTS:, 0]
        has_interval = "lower" in frame
        return {"model": entry.name, "target": str(run.frame.columns[0]),
                "history": {"index": index_values(history.index), "values": finite(history.to_numpy())},
                "forecast": {"index": index_values(frame.iloc[:, 0]), "mean": finite(frame["forecast"].to_numpy()),
                             "lower": finite(frame["lower"].to_numpy()) if has_interval else None,
                             "upper": finite(frame["upper"].to_numpy()) if has_interval else None,
                             "interval": body.interval if has_interval else None}}

    # -- OpenAI's completions API -----------------------------------------------------
    @app.post("/v1/completions", tags=["OpenAI compatible"])
    async def completions(body: CompletionRequest, request: Request):
        entry = model_named(body.model, ("char-lm", "word-lm"), "a completion")
        prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
        if not prompts:
            raise ApiError(422, "prompt is an empty list; send a string or a list of strings")
        n = body.n or 1
        length = 16 if body.max_tokens is None else body.max_tokens
        stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        for prompt in prompts:
            check_generation(prompt, length, n * len(prompts))
        temperature = 1.0 if body.temperature is None else body.temperature
        top_p = None if body.top_p in (None, 1.0) else body.top_p
        jobs = [submit(entry.name, prompt, Sampling(length=length, temperature=temperature, top_p=top_p,
                                                    num_samples=n, seed=body.seed, stop=tuple(stops),
                                                    time_limit=limits.time_limit))
                for prompt in prompts]
        prompt_tokens = sum(len(job.prompt_ids) for job, _ in jobs)  # as the engine read them
        head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                "model": entry.name}
        merged = merge_streams([events(job, outbox, request, poll=not body.stream) for job, outbox in jobs], n)
        if body.stream:
            async def stream() -> AsyncIterator[str]:
                async for index, item in merged:
                    if item["type"] == "text":
                        choice = {"text": item["text"], "index": index, "logprobs": None, "finish_reason": None}
                    elif item["type"] == "done":
                        choice = {"text": "", "index": index, "logprobs": None, "finish_reason": item["reason"]}
                    else:
                        yield sse(error_body(item["message"], "server_error"))
                        return
                    yield sse({**head, "choices": [choice]})
                yield "data: [DONE]\n\n"
            return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)
        texts, reasons, symbols = {}, {}, 0
        async for index, item in merged:
            if item["type"] == "text":
                texts[index] = texts.get(index, "") + item["text"]
            elif item["type"] == "done":
                reasons[index], symbols = item["reason"], symbols + item["symbols"]
            else:
                raise ApiError(503, item["message"])
        choices = [{"text": texts.get(i, ""), "index": i, "logprobs": None, "finish_reason": reasons.get(i, "length")}
                   for i in range(n * len(prompts))]
        return {**head, "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": symbols,
                          "total_tokens": prompt_tokens + symbols}}

    return app


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(data: dict) -> str:
    """One server-sent event carrying `data` as JSON."""
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def merge_text_events(items: list[dict]) -> list[dict]:
    """Consecutive text items of the same sample as one event (fewer, larger writes under load)."""
    merged: list[dict] = []
    for item in items:
        last = merged[-1] if merged else None
        if item["type"] == "text" and last is not None and last["type"] == "text" and last["index"] == item["index"]:
            merged[-1] = {**last, "text": last["text"] + item["text"], "surprise": last["surprise"] + item["surprise"]}
        else:
            merged.append(item)
    return merged


async def merge_streams(streams: list[AsyncIterator[list[dict]]], per_prompt: int) -> AsyncIterator[tuple[int, dict]]:
    """One completions request's prompts, each its own engine request, as (choice index, item)
    pairs. Done items become one per choice, with the symbols it generated."""
    queue: asyncio.Queue = asyncio.Queue()

    async def pump(number: int, stream: AsyncIterator[list[dict]]) -> None:
        try:
            async for items in stream:
                for item in items:
                    await queue.put((number, item))
        finally:
            await queue.put((number, None))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        remaining = len(tasks)
        while remaining:
            number, item = await queue.get()
            if item is None:
                remaining -= 1
                continue
            base = number * per_prompt
            if item["type"] == "text":
                yield base + item["index"], item
            elif item["type"] == "done":
                for row, reason in enumerate(item["finish_reasons"]):
                    reason = "length" if reason == "time_limit" else reason
                    yield base + row, {"type": "done", "reason": reason, "symbols": item["symbols"][row]}
            else:
                yield base, item
                return
    finally:
        for task in tasks:
            task.cancel()


def index_values(index) -> list:
    """A pandas index (or column of one) as JSON values: ISO dates, or integers."""
    values = pd.Index(index)
    if isinstance(values, pd.DatetimeIndex):
        return [v.isoformat() for v in values]
    return [int(v) if float(v).is_integer() else float(v) for v in values]


def finite(values: np.ndarray) -> list:
    """Floats for JSON, with NaN (a missing interval) as null."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def first_error(exc: RequestValidationError) -> tuple[int, str]:
    """A validation failure as (status, one line): the field, what is wrong, what was sent."""
    errors = exc.errors()
    error = errors[0] if errors else {"type": "", "loc": (), "msg": "invalid request"}
    if error["type"] == "json_invalid":
        detail = error.get("ctx", {}).get("error", "")
        return 400, f"the request body is not valid JSON ({detail}); send a JSON object" if detail else \
            "the request body is not valid JSON; send a JSON object"
    where = ".".join(str(part) for part in error["loc"] if part != "body")
    if error["type"] == "missing" and not where:
        return 400, "the request needs a JSON body; send a JSON object (see /docs)"
    if error["type"] == "missing":
        return 422, f"{where} is missing; add it (see /docs)"
    if error["type"] == "extra_forbidden":
        return 422, f"unknown field {where!r}; remove it (see /docs for the fields)"
    if error["type"] == "model_attributes_type" or not where:
        return 400, "the request body must be a JSON object with the fields in /docs"
    sent = json.dumps(error.get("input"), default=str)[:60]
    return 422, f"{where}: {error['msg'][0].lower() + error['msg'][1:]}, got {sent}"


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.message), status_code=exc.status)

    @app.exception_handler(LstmlabError)
    async def lstmlab_error(request: Request, exc: LstmlabError) -> JSONResponse:
        # The model's own one-line checks (too short to score, word-level inspect, ...).
        return JSONResponse(error_body(str(exc)), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = first_error(exc)
        return JSONResponse(error_body(message), status_code=status)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        # A bug of ours, not the client's: still one JSON line, and the server goes on.
        return JSONResponse(error_body(f"the server failed on this request ({type(exc).__name__}: {exc}); "
                                       "please report it", "server_error"), status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {404: f"no such path {request.url.path}; the API is under /v1 (see /docs)",
                   405: f"{request.method} is not allowed on {request.url.path} (see /docs)"}.get(exc.status_code,
                                                                                                 str(exc.detail))
        return JSONResponse(error_body(message), status_code=exc.status_code)

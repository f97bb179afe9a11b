"""The language models' routes: generate (JSON, or server-sent events), the next symbols'
odds, a text's score and its gate traces (per character, or per word for a word model).

Generation goes through the model's Engine (engine.py); the others run the model in the
thread pool, so the event loop never waits on a forward pass. OpenAI's completions API,
also over language models, is routes_completions.py.
"""

from __future__ import annotations

import math
from typing import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..inspect.page import choose_view, page_data
from ..lm.trained import LanguageModel, WordLanguageModel
from .engine import Sampling
from .events import DoneEvent, TextEvent
from .http_errors import ApiError
from .limits import Limits
from .schemas import GenerateRequest, NextRequest, TextRequest
from .state import LANGUAGE_MODELS, Server
from .streams import SSE_HEADERS, merge_text_events, outbox_batches, sse

router = APIRouter(tags=["language models"])


def sampling_of(body: GenerateRequest, limits: Limits) -> Sampling:
    return Sampling(length=body.length, temperature=body.temperature, top_k=body.top_k, top_p=body.top_p,
                    num_samples=body.num_samples, seed=body.seed, stop=tuple(body.stop),
                    time_limit=limits.time_limit)


@router.post("/v1/generate")
async def generate(body: GenerateRequest, request: Request, server: Server):
    entry = server.model_named(body.model, LANGUAGE_MODELS, "generate")
    server.check_generation(body.prompt, body.length, body.num_samples)
    job, outbox = server.submit(entry.name, body.prompt, sampling_of(body, server.limits))
    lm: LanguageModel = entry.loaded
    prompt = lm.prompt_text(body.prompt)
    if body.stream:
        async def stream() -> AsyncIterator[str]:
            yield sse({"type": "start", "prompt": prompt})
            async for items in outbox_batches(job, outbox, request, poll=False):
                # One write per batch: under load the worker gets ahead, and a client
                # then reads several steps' text in one event.
                yield "".join(sse(event.to_json()) for event in merge_text_events(items))
        return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)
    texts = [""] * body.num_samples
    surprise: list[list[float]] = [[] for _ in texts]
    reasons = ["length"] * body.num_samples
    async for items in outbox_batches(job, outbox, request, poll=True):
        for item in items:
            if isinstance(item, TextEvent):
                texts[item.index] += item.text
                surprise[item.index].extend(item.surprise)
            elif isinstance(item, DoneEvent):
                reasons = list(item.finish_reasons)
            else:
                raise ApiError(503, item.message)
    return {"model": entry.name, "prompt": prompt,
            "samples": [{"text": t, "finish_reason": r, "surprise": s} for t, r, s in zip(texts, reasons, surprise)]}


@router.post("/v1/next")
async def next_symbols(body: NextRequest, server: Server) -> dict:
    entry = server.model_named(body.model, LANGUAGE_MODELS, "next")
    server.check_text(body.text, "text", server.limits.max_prompt_chars, "max-prompt-chars", allow_empty=True)
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


@router.post("/v1/score")
async def score(body: TextRequest, server: Server) -> dict:
    entry = server.model_named(body.model, LANGUAGE_MODELS, "score")
    server.check_text(body.text, "text", server.limits.max_prompt_chars, "max-prompt-chars")
    lm: LanguageModel = entry.loaded
    result = await run_in_threadpool(lm.evaluate, body.text)
    if isinstance(lm, WordLanguageModel):
        return {"model": entry.name, "nats_per_word": result.nats_per_word, "bits_per_word": result.bits_per_word,
                "perplexity": result.perplexity, "words": result.words, "unknown_share": result.unknown_share}
    return {"model": entry.name, "nats_per_char": result.nats_per_char, "bits_per_char": result.bits_per_char,
            "perplexity": math.exp(result.nats_per_char), "chars": result.chars}


@router.post("/v1/inspect")
async def inspect(body: TextRequest, server: Server) -> dict:
    entry = server.model_named(body.model, LANGUAGE_MODELS, "inspect")
    server.check_text(body.text, "text", server.limits.max_inspect_chars, "max-inspect-chars")
    lm: LanguageModel = entry.loaded

    def work() -> dict:
        inspection = lm.inspect(body.text, warn=None)
        return page_data(inspection, choose_view(inspection), title=entry.name)
    return await run_in_threadpool(work)

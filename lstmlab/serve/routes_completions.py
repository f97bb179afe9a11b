"""OpenAI's completions API (/v1/completions) over the language models, so that OpenAI's
clients can use them: every prompt of a request is its own engine request, and their
samples are the answer's choices, streamed as server-sent events or not."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import AsyncIterator, Union

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from .engine import Sampling
from .events import DoneEvent, EngineEvent, ErrorEvent, TextEvent
from .guard import error_body
from .http_errors import ApiError
from .schemas import CompletionRequest
from .state import LANGUAGE_MODELS, Server
from .streams import SSE_HEADERS, outbox_batches, sse

router = APIRouter(tags=["OpenAI compatible"])


@dataclass(frozen=True)
class ChoiceDone:
    """One choice's end: OpenAI's finish reason, and the symbols its sample generated."""

    reason: str
    symbols: int


ChoiceEvent = Union[TextEvent, ChoiceDone, ErrorEvent]


@router.post("/v1/completions")
async def completions(body: CompletionRequest, request: Request, server: Server):
    entry = server.model_named(body.model, LANGUAGE_MODELS, "a completion")
    prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
    if not prompts:
        raise ApiError(422, "prompt is an empty list; send a string or a list of strings")
    n = body.n or 1
    length = 16 if body.max_tokens is None else body.max_tokens
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    for prompt in prompts:
        server.check_generation(prompt, length, n * len(prompts))
    temperature = 1.0 if body.temperature is None else body.temperature
    top_p = None if body.top_p in (None, 1.0) else body.top_p
    jobs = [server.submit(entry.name, prompt, Sampling(length=length, temperature=temperature, top_p=top_p,
                                                       num_samples=n, seed=body.seed, stop=tuple(stops),
                                                       time_limit=server.limits.time_limit))
            for prompt in prompts]
    prompt_tokens = sum(len(job.prompt_ids) for job, _ in jobs)  # as the engine read them
    head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": entry.name}
    merged = merge_streams([outbox_batches(job, outbox, request, poll=not body.stream) for job, outbox in jobs], n)
    if body.stream:
        async def stream() -> AsyncIterator[str]:
            async for index, item in merged:
                if isinstance(item, TextEvent):
                    choice = {"text": item.text, "index": index, "logprobs": None, "finish_reason": None}
                elif isinstance(item, ChoiceDone):
                    choice = {"text": "", "index": index, "logprobs": None, "finish_reason": item.reason}
                else:
                    yield sse(error_body(item.message, "server_error"))
                    return
                yield sse({**head, "choices": [choice]})
            yield "data: [DONE]\n\n"
        return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)
    texts, reasons, symbols = {}, {}, 0
    async for index, item in merged:
        if isinstance(item, TextEvent):
            texts[index] = texts.get(index, "") + item.text
        elif isinstance(item, ChoiceDone):
            reasons[index], symbols = item.reason, symbols + item.symbols
        else:
            raise ApiError(503, item.message)
    choices = [{"text": texts.get(i, ""), "index": i, "logprobs": None, "finish_reason": reasons.get(i, "length")}
               for i in range(n * len(prompts))]
    return {**head, "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": symbols,
                      "total_tokens": prompt_tokens + symbols}}


async def merge_streams(streams: list[AsyncIterator[list[EngineEvent]]],
                        per_prompt: int) -> AsyncIterator[tuple[int, ChoiceEvent]]:
    """One completions request's prompts, each its own engine request, as (choice index, event)
    pairs. A DoneEvent becomes a ChoiceDone per choice, with the symbols it generated."""
    queue: asyncio.Queue = asyncio.Queue()

    async def pump(number: int, stream: AsyncIterator[list[EngineEvent]]) -> None:
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
            if isinstance(item, TextEvent):
                yield base + item.index, item
            elif isinstance(item, DoneEvent):
                for row, reason in enumerate(item.finish_reasons):
                    yield base + row, ChoiceDone("length" if reason == "time_limit" else reason, item.symbols[row])
            else:
                yield base, item
                return
    finally:
        for task in tasks:
            task.cancel()

"""From an engine's outbox to the client: a request's events in the batches they arrive in,
and server-sent events. The events stay typed (events.py) until a route writes them out."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import AsyncIterator

from fastapi import Request

from .engine import Outbox, Request as EngineRequest
from .events import EngineEvent, TextEvent

# How often a request that is not streamed checks whether its client is still there.
DISCONNECT_POLL_S = 0.5
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(data: dict) -> str:
    """One server-sent event carrying `data` as JSON."""
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def outbox_batches(job: EngineRequest, outbox: Outbox, request: Request,
                         poll: bool) -> AsyncIterator[list[EngineEvent]]:
    """The engine's events for one request, in the batches they arrive in, until the final one.
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
            if items[-1].final:
                return
    finally:
        job.cancel()


def merge_text_events(items: list[EngineEvent]) -> list[EngineEvent]:
    """Consecutive text events of the same sample as one (fewer, larger writes under load)."""
    merged: list[EngineEvent] = []
    for item in items:
        last = merged[-1] if merged else None
        if isinstance(item, TextEvent) and isinstance(last, TextEvent) and last.index == item.index:
            merged[-1] = dataclasses.replace(last, text=last.text + item.text, surprise=last.surprise + item.surprise)
        else:
            merged.append(item)
    return merged

"""What every route shares: the served runs, their engines and the limits, in one object.

create_app builds one ServerState and keeps it at app.state.server; a route asks for it
with a parameter annotated `Server` (a FastAPI dependency), e.g.

    @router.post("/v1/score")
    async def score(body: TextRequest, server: Server) -> dict: ...

The checks that several routes make (a model of the right kind, a text within the
limits, a free stream) are its methods, each raising ApiError with the fix.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Optional

from fastapi import Depends, Request

from .engine import Engine, Outbox, Request as EngineRequest, Sampling
from .http_errors import ApiError
from .limits import Limits
from .models import ServedModel

LANGUAGE_MODELS = ("char-lm", "word-lm")


@dataclass(eq=False)
class ServerState:
    served: dict[str, ServedModel]
    limits: Limits
    engines: dict[str, Engine]  # one per language model, by name
    api_key: Optional[str] = field(default=None, repr=False)  # checked by guard.Guard, before any route

    @classmethod
    def start(cls, served: dict[str, ServedModel], limits: Limits, api_key: Optional[str] = None) -> "ServerState":
        """The state of a server over `served`, with an engine (a worker thread) per language model."""
        engines = {name: Engine(m.loaded, max_rows=limits.max_streams)
                   for name, m in served.items() if m.language_model}
        return cls(served, limits, engines, api_key)

    def close(self) -> None:
        """Stop the engines (their requests end with an error event)."""
        for engine in self.engines.values():
            engine.close()

    @property
    def streams(self) -> int:
        """Samples generating, or about to, on every model."""
        return sum(engine.streams for engine in self.engines.values())

    def model_named(self, name: str, kinds: tuple[str, ...], what: str) -> ServedModel:
        if name not in self.served:
            raise ApiError(404, f"no model named {name!r}; this server has {', '.join(sorted(self.served))} "
                                "(GET /v1/models lists them)")
        entry = self.served[name]
        if entry.kind not in kinds:
            raise ApiError(400, f"{name!r} is a {entry.kind}; {what} needs a {' or '.join(kinds)} model")
        return entry

    def check_text(self, text: str, field: str, limit: int, flag: str, allow_empty: bool = False) -> None:
        if not text and not allow_empty:
            raise ApiError(422, f"{field} is empty; send some text")
        if len(text) > limit:
            raise ApiError(422, f"{field} has {len(text):,} characters, over this server's limit of {limit:,} "
                                f"(--{flag}); send a shorter one")

    def check_generation(self, prompt: str, length: int, samples: int) -> None:
        limits = self.limits
        self.check_text(prompt, "prompt", limits.max_prompt_chars, "max-prompt-chars", allow_empty=True)
        if length > limits.max_length:
            raise ApiError(422, f"length {length:,} is over this server's limit of {limits.max_length:,} symbols "
                                "(--max-length); ask for fewer")
        if samples > limits.max_samples:
            raise ApiError(422, f"{samples} samples is over this server's limit of {limits.max_samples} per request "
                                "(--max-samples); ask for fewer")

    def submit(self, name: str, prompt: str, sampling: Sampling) -> tuple[EngineRequest, Outbox]:
        """Start generating on model `name`: the engine's request, and the outbox its events arrive in."""
        outbox = Outbox(asyncio.get_running_loop())
        engine = self.engines[name]
        job = engine.submit(prompt, sampling, outbox)
        if job is None:
            raise ApiError(429, f"{name!r} is already generating {engine.streams} of its "
                                f"{self.limits.max_streams} streams (--max-streams); try again shortly")
        return job, outbox


async def server_state(request: Request) -> ServerState:
    """The dependency behind `Server` (async, so FastAPI runs it on the event loop, not in a thread)."""
    return request.app.state.server


Server = Annotated[ServerState, Depends(server_state)]

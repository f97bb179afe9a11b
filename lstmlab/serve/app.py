"""The HTTP API and the playground page: a FastAPI app over the served runs.

    GET  /                 the playground        GET  /healthz      is it up
    GET  /v1/models        what is served        POST /v1/generate  text, JSON or server-sent events
    POST /v1/next          next-symbol odds      POST /v1/score     bits/char or perplexity
    POST /v1/inspect       gate traces           POST /v1/classify  labels and probabilities
    POST /v1/forecast      forecast, intervals   POST /v1/completions  OpenAI's completions API

create_app only assembles; the parts are modules of their own:

    routes_common.py       the page and its files, /healthz, /v1/models
    routes_lm.py           /v1/generate, /v1/next, /v1/score, /v1/inspect
    routes_completions.py  /v1/completions (OpenAI's API over the language models)
    routes_classify.py     /v1/classify          routes_forecast.py   /v1/forecast
    state.py               ServerState: the served runs, engines and limits the routes share
    streams.py             an engine's events to the client, server-sent events
    http_errors.py         every error as a 4xx whose JSON names the problem and the fix
    guard.py               the API key and the body-size limit, before any route

Generation goes through one Engine per language model (engine.py), whose typed events
(events.py) become JSON only in the routes; the other routes run the model in the
thread pool, so the event loop never waits on a forward pass.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Optional

from fastapi import FastAPI

from ..version import __version__
from . import routes_classify, routes_common, routes_completions, routes_forecast, routes_lm
from .guard import Guard
from .http_errors import add_error_handlers
from .limits import Limits
from .models import ServedModel
from .state import ServerState


def create_app(served: dict[str, ServedModel], limits: Limits = Limits(), api_key: Optional[str] = None) -> FastAPI:
    """The FastAPI app over `served` (runs by name, e.g. from models.load_served), with an engine
    (a worker thread) per language model, stopped when the app shuts down.

    It leaves the process's thread settings alone. A process that is the server's should
    call lstmlab.serve.use_serving_threads() first, as `lstmlab serve` does: one BLAS and
    one PyTorch thread, many times faster for many streams (threads.py says why)."""
    state = ServerState.start(served, limits, api_key)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        state.close()

    app = FastAPI(title="lstmlab", version=__version__, lifespan=lifespan,
                  description="Recurrent language models, classifiers and forecasters trained with lstmlab. "
                              "Generation streams as server-sent events; /v1/completions speaks OpenAI's API.")
    app.add_middleware(Guard, max_body_bytes=limits.max_body_bytes, api_key=state.api_key)
    app.state.server = state
    add_error_handlers(app)
    routes_common.mount_assets(app)
    # In this order: it is the order of the paths in /openapi.json and of the sections of /docs.
    for module in (routes_common, routes_lm, routes_classify, routes_forecast, routes_completions):
        app.include_router(module.router)
    return app

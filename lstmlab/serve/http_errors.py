"""Every error the API answers, as a 4xx (or 500) whose JSON names the problem and the fix
(guard.error_body): the routes' own refusals (ApiError), the models' one-line checks,
FastAPI's validation failures, unknown paths and our own bugs."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import LstmlabError
from .guard import error_body


class ApiError(Exception):
    """A request the server cannot do: a 4xx with a one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


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

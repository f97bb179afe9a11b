"""The routes every server has, whatever it serves: the playground page and its files,
the health check and the list of models."""

from __future__ import annotations

import dataclasses
from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from .state import Server

router = APIRouter()


def mount_assets(app: FastAPI) -> None:
    """The page's files, and the inspect page's that it reuses (mounts belong to the app, not a router)."""
    app.mount("/assets/inspect", StaticFiles(packages=[("lstmlab.inspect", "assets")]), name="inspect-assets")
    app.mount("/assets", StaticFiles(packages=[("lstmlab.serve", "assets")]), name="assets")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def playground() -> HTMLResponse:
    page = resources.files("lstmlab.serve") / "assets" / "playground.html"
    return HTMLResponse(page.read_text(encoding="utf-8"))


@router.get("/healthz", tags=["server"])
def healthz(server: Server) -> dict:
    return {"status": "ok", "models": len(server.served), "streams": server.streams,
            "limits": dataclasses.asdict(server.limits)}


@router.get("/v1/models", tags=["server"])
def list_models(server: Server) -> dict:
    return {"object": "list", "data": [m.describe() for m in server.served.values()]}

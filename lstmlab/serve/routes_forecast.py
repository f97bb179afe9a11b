"""The forecasters' route: a forecast with its intervals, beside the recent history."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from ..forecast.trained import ForecastRun
from .http_errors import ApiError
from .schemas import ForecastRequest
from .state import Server

HISTORY_POINTS = 200  # the recent history a forecast answer shows beside the forecast

router = APIRouter(tags=["forecasters"])


@router.post("/v1/forecast")
async def forecast(body: ForecastRequest, server: Server) -> dict:
    entry = server.model_named(body.model, ("forecaster",), "forecast")
    if body.steps is not None and body.steps > server.limits.max_length:
        raise ApiError(422, f"steps {body.steps:,} is over this server's limit of {server.limits.max_length:,} "
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


def index_values(index) -> list:
    """A pandas index (or column of one) as JSON values: ISO dates, or integers."""
    values = pd.Index(index)
    if isinstance(values, pd.DatetimeIndex):
        return [v.isoformat() for v in values]
    return [int(v) if float(v).is_integer() else float(v) for v in values]


def finite(values: np.ndarray) -> list:
    """Floats for JSON, with NaN (a missing interval) as null."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]

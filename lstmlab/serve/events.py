"""What an Engine tells a request's coroutine, through its Outbox: typed events, which the
routes turn into JSON (`to_json`) only at the HTTP edge.

    TextEvent   a piece of one sample's text, with the surprise of each character
    DoneEvent   the request is over: each sample's finish reason and symbol count
    ErrorEvent  the request failed (a broken step, the server shutting down)

A request's last event is always a DoneEvent or an ErrorEvent (`final`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Union


@dataclass(frozen=True)
class TextEvent:
    index: int  # the sample (row of the request) that wrote it
    text: str
    surprise: tuple[float, ...]  # -log2 p of the symbol that wrote each character, one per character
    final: ClassVar[bool] = False

    def to_json(self) -> dict:
        return {"type": "text", "index": self.index, "text": self.text, "surprise": list(self.surprise)}


@dataclass(frozen=True)
class DoneEvent:
    finish_reasons: tuple[str, ...]  # per sample: "length", "stop" or "time_limit"
    symbols: tuple[int, ...]  # per sample: the symbols generated before its end
    final: ClassVar[bool] = True

    def to_json(self) -> dict:
        return {"type": "done", "finish_reasons": list(self.finish_reasons), "symbols": list(self.symbols)}


@dataclass(frozen=True)
class ErrorEvent:
    message: str
    final: ClassVar[bool] = True

    def to_json(self) -> dict:
        return {"type": "error", "message": self.message}


EngineEvent = Union[TextEvent, DoneEvent, ErrorEvent]

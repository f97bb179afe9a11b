"""What one request may ask of the server; each limit is a `lstmlab serve` flag."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..config import require


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1_000_000
    max_prompt_chars: int = 10_000  # prompts, texts to score or classify, the text before /v1/next
    max_inspect_chars: int = 2_000  # gate traces grow with the text: a page of it is plenty
    max_length: int = 10_000  # symbols generated per sample
    max_samples: int = 16  # num_samples, or n, per request
    max_texts: int = 256  # texts per /v1/classify request
    max_streams: int = 64  # samples generating at once on one model; more wait for a 429
    time_limit: float = 300.0  # per request, generation included

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            require(value > 0, f"--{f.name.replace('_', '-')} must be positive, got {value}")

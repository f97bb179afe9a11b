"""What one request may ask of the server; each limit is a `lstmlab serve` flag."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..config import require
from ..lm.trained import MAX_NUM_SAMPLES

# The limits are caps, and a huge cap just means "no cap", except where the server holds
# something the size of the cap for one request: the body, read whole before it is parsed,
# and the samples, a state row each (the same most as `lstmlab generate --num-samples`).
LARGEST_ALLOWED = {"max_body_bytes": 1_000_000_000, "max_samples": MAX_NUM_SAMPLES}


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
            flag = "--" + f.name.replace("_", "-")
            require(value > 0, f"{flag} must be positive, got {value}")
            if f.name in LARGEST_ALLOWED:
                largest = LARGEST_ALLOWED[f.name]
                require(value <= largest, f"{flag} must be at most {largest:,}, got {value:,}; the default is {f.default:,}")

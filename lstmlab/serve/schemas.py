"""The JSON bodies the API accepts, as pydantic models (FastAPI checks them and /docs shows them).

Types are strict: "10" is not a length and 2.5 is not a count, so a client's mistake
gets a 422 naming the field instead of a silent conversion. Unknown fields are
errors too (a misspelt "temprature" would otherwise be ignored), except on
/v1/completions, whose OpenAI clients send fields lstmlab has no use for.
Ranges that depend on the server's limits (Limits) are checked by the app.
"""

from __future__ import annotations

from typing import Optional, Union

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class ModelRequest(BaseModel):
    model_config = STRICT
    model: str = Field(description="a name from GET /v1/models")


class SamplingFields(BaseModel):
    """What `lstmlab generate` takes, with the same defaults."""

    model_config = STRICT
    temperature: float = Field(0.7, ge=0, description="0 is greedy; higher is more random")
    top_k: Optional[int] = Field(None, ge=1, description="sample only from the k likeliest symbols")
    top_p: Optional[float] = Field(None, gt=0, le=1, description="sample only from the likeliest symbols covering p")
    seed: Optional[int] = Field(None, ge=0, description="the same seed gives the same text, alone or beside others")
    num_samples: int = Field(1, ge=1, description="independent samples of the same prompt")


class GenerateRequest(ModelRequest, SamplingFields):
    prompt: str = Field("", description="the text to continue (may be empty)")
    length: int = Field(200, ge=0, description="symbols to generate: characters, or words for a word-level model")
    stop: list[str] = Field(default_factory=list, description="end a sample where one of these strings appears")
    stream: bool = Field(False, description="answer with server-sent events as the text is written")


class TextRequest(ModelRequest):
    text: str


class NextRequest(TextRequest):
    top: int = Field(5, ge=1, description="how many of the likeliest next symbols")


class ClassifyRequest(ModelRequest):
    texts: list[str] = Field(description="the texts to label")


class ForecastRequest(ModelRequest):
    steps: Optional[int] = Field(None, ge=1, description="points to forecast (default: the model's horizon)")
    interval: float = Field(0.9, gt=0, lt=1, description="the central share of each step's distribution")


class CompletionRequest(BaseModel):
    """OpenAI's /v1/completions body: the fields lstmlab uses; others are accepted and ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)
    model: str
    prompt: Union[str, list[str]] = ""
    max_tokens: Optional[int] = Field(16, ge=0)
    temperature: Optional[float] = Field(1.0, ge=0)
    top_p: Optional[float] = Field(1.0, gt=0, le=1)
    n: Optional[int] = Field(1, ge=1)
    stop: Optional[Union[str, list[str]]] = None
    seed: Optional[int] = Field(None, ge=0)
    stream: Optional[bool] = False

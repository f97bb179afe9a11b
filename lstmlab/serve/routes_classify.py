"""The classifiers' route: labels and probabilities for a list of texts."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from ..classify.trained import Classifier
from .http_errors import ApiError
from .schemas import ClassifyRequest
from .state import Server

router = APIRouter(tags=["classifiers"])


@router.post("/v1/classify")
async def classify(body: ClassifyRequest, server: Server) -> dict:
    entry = server.model_named(body.model, ("classifier",), "classify")
    limits = server.limits
    if not body.texts:
        raise ApiError(422, "texts is empty; send a list of one or more texts")
    if len(body.texts) > limits.max_texts:
        raise ApiError(422, f"{len(body.texts)} texts is over this server's limit of {limits.max_texts} per "
                            "request (--max-texts); send them in parts")
    for i, text in enumerate(body.texts):
        server.check_text(text, f"texts[{i}]", limits.max_prompt_chars, "max-prompt-chars")
    classifier: Classifier = entry.loaded
    probs = await run_in_threadpool(classifier.predict_proba, body.texts)
    classes = classifier.classes
    return {"model": entry.name, "classes": classes,
            "predictions": [{"label": classes[int(row.argmax())],
                             "probs": {c: float(p) for c, p in zip(classes, row)}} for row in probs]}

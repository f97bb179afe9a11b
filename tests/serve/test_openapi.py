"""/openapi.json is the API's contract with its clients (and what /docs shows): it must not
change by accident, e.g. when the routes move between modules. The document a real
`lstmlab serve` (the session's server, with a run of every kind) gives is compared, as text,
with tests/fixtures/openapi.json, so the order of paths and fields is pinned too.

After a deliberate change to the API, write the fixture anew and review its diff:

    LSTMLAB_WRITE_OPENAPI=1 .venv/bin/python -m pytest -q tests/serve/test_openapi.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "openapi.json"
WRITE_VARIABLE = "LSTMLAB_WRITE_OPENAPI"


def as_text(document: dict) -> str:
    """The document as the fixture holds it, with what changes between releases (the version) normalised."""
    document = {**document, "info": {**document["info"], "version": "VERSION"}}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def test_the_openapi_document_is_the_one_in_the_fixture(server):
    status, document = server.get("/openapi.json")
    assert status == 200
    text = as_text(document)
    if os.environ.get(WRITE_VARIABLE):
        FIXTURE.write_text(text, encoding="utf-8")
    assert text == FIXTURE.read_text(encoding="utf-8")

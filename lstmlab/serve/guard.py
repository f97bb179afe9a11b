"""What every request passes before it reaches a route: the API key and the body-size limit.

It is plain ASGI middleware, so it can answer before FastAPI reads or parses anything:
a body over the limit is refused while it arrives (chunked uploads too), not after the
whole of it has been read into memory.
"""

from __future__ import annotations

import hmac
import json
from typing import Optional

# Paths anyone may fetch: the page, its files, the API description and the health check.
# They hold no model output; the API under /v1 needs the key.
OPEN_PATHS = ("/", "/healthz", "/docs", "/openapi.json", "/favicon.ico")
OPEN_PREFIXES = ("/assets/", "/docs/")
DRAIN_LIMIT = 16  # an over-long body is read (and dropped) up to this many times the limit


def error_body(message: str, kind: str = "invalid_request_error") -> dict:
    """The JSON of every error answer, in OpenAI's shape so that its clients show the message."""
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


async def send_error(send, status: int, message: str, kind: str = "invalid_request_error",
                     headers: Optional[list[tuple[bytes, bytes]]] = None) -> None:
    body = json.dumps(error_body(message, kind)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    def __init__(self, app, max_body_bytes: int, api_key: Optional[str] = None):
        self.app, self.max_body_bytes, self.api_key = app, max_body_bytes, api_key

    def needs_key(self, path: str) -> bool:
        return bool(self.api_key) and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES)

    def authorized(self, headers: dict[bytes, bytes]) -> bool:
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.needs_key(scope["path"]) and not self.authorized(headers):
            return await send_error(send, 401, "this server needs an API key: send the header "
                                    "'Authorization: Bearer KEY' with the key it was started with",
                                    "authentication_error", [(b"www-authenticate", b"Bearer")])
        limit_text = (f"the request body is over the server's limit of {self.max_body_bytes:,} bytes; send less "
                      "(or start the server with a larger --max-body-bytes)")
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                # Read the rest before answering (up to a bound): a client still sending
                # would otherwise see a broken connection instead of the 413.
                while message.get("more_body", False) and size <= DRAIN_LIMIT * self.max_body_bytes:
                    message = await receive()
                    size += len(message.get("body", b""))
                return await send_error(send, 413, limit_text)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            # The app reads the body we already hold; after that, the connection's own
            # messages (a streaming response listens for the client leaving).
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

"""Refuses request bodies over a size limit before any route reads them."""
from __future__ import annotations

import json

from server.errors import LengthRequired, ServerError, TooLarge
from server.status import error_status


class BodyLimit:
    """ASGI middleware: TooLarge for a declared Content-Length over the limit; LengthRequired for chunked bodies.

    Every client this API serves (browsers, httpx, curl) declares the length,
    so refusing chunked uploads closes the one way round the check.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                return await _refuse(send, TooLarge(f"request body over {self.max_bytes} bytes"))
            if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                return await _refuse(send, LengthRequired("send a Content-Length; chunked request bodies are "
                                                          "not accepted"))
        await self.app(scope, receive, send)


async def _refuse(send, error: ServerError) -> None:
    body = json.dumps({"detail": error.message}).encode()
    await send({"type": "http.response.start", "status": error_status(error),
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

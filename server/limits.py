"""Refuses request bodies over a size limit before any route reads them."""
from __future__ import annotations

import json


class BodyLimit:
    """ASGI middleware: 413 for a declared Content-Length over the limit; 411 for chunked bodies.

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
                return await _refuse(send, 413, f"request body over {self.max_bytes} bytes")
            if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                return await _refuse(send, 411, "send a Content-Length; chunked request bodies are not accepted")
        await self.app(scope, receive, send)


async def _refuse(send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

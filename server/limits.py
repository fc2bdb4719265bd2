"""Limits on requests before any route sees them: body size, time to send the body, and 405 answers."""
from __future__ import annotations

import asyncio
import json
import re

from server.errors import LengthRequired, RequestTimeout, ServerError, TooLarge
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
                return await refuse(send, TooLarge(f"request body over {self.max_bytes} bytes"))
            if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                return await refuse(send, LengthRequired("send a Content-Length; chunked request bodies are "
                                                         "not accepted"))
        await self.app(scope, receive, send)


async def refuse(send, error: ServerError, close: bool = False) -> None:
    """Answer with ``error`` (its status from the one table) before the app sees the request."""
    body = json.dumps({"detail": error.message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error_status(error),
                "headers": headers + ([(b"connection", b"close")] if close else [])})
    await send({"type": "http.response.body", "body": body})


class ReadTimeout:
    """ASGI middleware: the whole request body must arrive within ``seconds``, else RequestTimeout.

    uvicorn bounds idle connections but not a body that was declared and never
    sent, which would hold a worker's request open forever. The body (already
    bounded by BodyLimit) is read here under a deadline and handed on intact.
    """

    def __init__(self, app, seconds: float):
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        messages = []
        try:
            async with asyncio.timeout(self.seconds):
                while True:
                    message = await receive()
                    messages.append(message)
                    if message["type"] != "http.request" or not message.get("more_body", False):
                        break
        except TimeoutError:
            return await refuse(send, RequestTimeout(f"the request body did not arrive within {self.seconds:g} s"),
                                close=True)

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


class AllowAllMethods:
    """ASGI middleware: a 405 lists in ``Allow`` every method the path has, not one route's.

    Starlette answers 405 from the first route whose path matches, so a path
    served by several routes (GET and PATCH) would name only one method.
    """

    def __init__(self, app):
        self.app = app
        self._paths: list[tuple[re.Pattern, set[str]]] | None = None

    def _methods(self, app, path: str) -> set[str]:
        """Methods of every documented operation on ``path`` (from the app's OpenAPI paths)."""
        if self._paths is None:
            self._paths = [(re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(p)) + "$"),
                            {m.upper() for m in ops}) for p, ops in app.openapi().get("paths", {}).items()]
        return set().union(*(methods for pattern, methods in self._paths if pattern.match(path)))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_allow(message):
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = self._methods(scope["app"], scope["path"])
                if methods:
                    headers = [(k, v) for k, v in message["headers"] if k.lower() != b"allow"]
                    headers.append((b"allow", ", ".join(sorted(methods)).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_allow)

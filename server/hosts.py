"""Answers only requests whose Host header names this server (DNS rebinding defence)."""
from __future__ import annotations

from server.errors import UnknownHost
from server.limits import refuse


def host_name(header: str) -> str:
    """The name in a Host header, without port; IPv6 literals keep no brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def allowed(name: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


class TrustedHosts:
    """ASGI middleware: 400 unless the Host header matches one of ``patterns``.

    A page on another site can point its own name at 127.0.0.1; the browser
    then sends that name as Host, which is how such a page is told apart
    from the rater served here.
    """

    def __init__(self, app, patterns: list[str]):
        self.app = app
        self.patterns = list(patterns)

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and "*" not in self.patterns:
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if not allowed(host_name(header), self.patterns):
                return await refuse(send, UnknownHost("this server does not answer to that Host header"))
        await self.app(scope, receive, send)

"""Errors of the server's own rules (the library's are ``agile.errors.AgileError``).

They name what went wrong, not how HTTP says it: ``server.status.ERROR_STATUS``
is the one table from error type to status code. The repository, the jobs and
the ``agile users`` command raise them too.
"""
from __future__ import annotations


class ServerError(Exception):
    """A request or command the server's rules refuse; ``message`` is safe to show the caller."""

    def __init__(self, message: str, headers: dict[str, str] | None = None):
        self.message = message
        self.headers = headers
        super().__init__(message)


class NotFound(ServerError):
    """No such concept, batch, version, job, user or image (or not visible to the caller)."""


class Forbidden(ServerError):
    """The caller is known but may not do this (a viewer rating, another owner's concept)."""


class Unauthorized(ServerError):
    """No token, or one that is unknown or revoked."""


class Conflict(ServerError):
    """The state forbids it now (a job already running, a name taken)."""


class Invalid(ServerError):
    """The request is invalid (its body, path or query) or breaks a rule (an image never offered)."""


class TooLarge(ServerError):
    """A request body, image or item count over the server's limit."""


class LengthRequired(ServerError):
    """A request body sent without a Content-Length (chunked)."""


class TooMany(ServerError):
    """Too many jobs queued or images being scored: retry later."""


class RequestTimeout(ServerError):
    """The request body did not arrive in time."""


class UnknownHost(ServerError):
    """The Host header names no host this server answers to, or the body could not be parsed."""

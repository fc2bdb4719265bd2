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
    """No such concept, batch, version, job, user or image."""


class Forbidden(ServerError):
    """The caller is known but may not do this (a viewer rating, another owner's concept)."""


class Unauthorized(ServerError):
    """No token, or one that is unknown or revoked."""


class Conflict(ServerError):
    """The state forbids it now (a job already running, a name taken)."""


class Invalid(ServerError):
    """Well-formed input that breaks a rule (an image never offered, an unknown job kind)."""


class TooLarge(ServerError):
    """A request body or upload above the configured limit."""


class LengthRequired(ServerError):
    """A request body sent without a Content-Length (chunked)."""

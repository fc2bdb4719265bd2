"""Errors of the server's own rules (the library's are ``agile.errors.AgileError``).

The app turns each into an HTTP status with the message as ``detail``.
"""
from __future__ import annotations


class ServerError(Exception):
    status = 400

    def __init__(self, message: str, headers: dict[str, str] | None = None):
        self.message = message
        self.headers = headers
        super().__init__(message)


class NotFound(ServerError):
    status = 404


class Forbidden(ServerError):
    status = 403


class Unauthorized(ServerError):
    status = 401


class Conflict(ServerError):
    status = 409


class Invalid(ServerError):
    status = 422


class TooLarge(ServerError):
    status = 413


class TooMany(ServerError):
    status = 429

"""The one table from error type to HTTP status code; routes, middleware and the OpenAPI docs read it.

The most specific class of an error wins. Library errors are the caller's
fault (422) unless they are about the server's own files: a damaged or
missing weights file, sidecar or corpus is a 500, logged, with a clear message.
"""
from __future__ import annotations

from agile.corpus.reader import UnknownIdError
from agile.embedder import NoImageModelError, NoTextModelError
from agile.errors import AgileError, CorpusError
from agile.registry import RegistryError
from agile.scan_engine import ScanEngineError
from agile.sidecar import SidecarError
from server.errors import (Conflict, Forbidden, Invalid, LengthRequired, NotFound, RequestTimeout, ServerError,
                           TooLarge, TooMany, Unauthorized, UnknownHost)

ERROR_STATUS: dict[type[Exception], int] = {
    UnknownHost: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    RequestTimeout: 408,
    Conflict: 409,
    LengthRequired: 411,
    TooLarge: 413,
    Invalid: 422,
    TooMany: 429,
    ServerError: 400,
    UnknownIdError: 422,
    NoTextModelError: 422,     # phrases on a corpus without a text model: the request asks what cannot be
    NoImageModelError: 422,    # an upload where no image model is available: seed with corpus ids instead
    RegistryError: 500,
    SidecarError: 500,
    CorpusError: 500,
    ScanEngineError: 503,      # the corpus-wide scan's workers died or timed out: nothing was chosen, try again
    AgileError: 422,
}


def error_status(error: Exception) -> int:
    """The status of ``error``: that of the nearest class in its MRO that the table names."""
    return next(ERROR_STATUS[t] for t in type(error).__mro__ if t in ERROR_STATUS)


def responses(*errors: type[Exception]) -> dict[int, dict[str, str]]:
    """OpenAPI ``responses`` documenting the statuses an operation can answer with, from the table."""
    return {code: {"description": text} for code, text in responses_text(errors).items()}


# The errors every operation can answer with, and those only writes (and reads of owned state) can.
ALWAYS = (UnknownHost, Unauthorized, NotFound, RequestTimeout, LengthRequired, TooLarge, Invalid)
WRITES = (Forbidden, Conflict, TooMany)


def documented_statuses(method: str) -> dict[int, str]:
    """Status -> description of every error an operation of ``method`` documents."""
    errors = ALWAYS + (WRITES if method.lower() != "get" else (Forbidden,))
    return {code: description for code, description in sorted(responses_text(errors).items())}


def responses_text(errors) -> dict[int, str]:
    return {ERROR_STATUS[e]: (e.__doc__ or e.__name__).strip().splitlines()[0] for e in errors}

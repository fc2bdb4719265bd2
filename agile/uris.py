"""The uri schemes a corpus may store, and how each one leads to its image.

A corpus row's ``uri`` is a local path, ``file://``, ``http(s)://``,
``demo://<seed>/<index>`` (a scene of the demo world, rendered on demand) or
``synth://<seed>/<id>`` (a synthetic vector with no picture). Every reader of
uris (the indexing job that embeds images, the server that shows them) asks
this one registry, so a scheme is supported everywhere or nowhere. Readers
differ only in what they do with each *kind*: the indexing job downloads a
remote image, the server redirects the browser to it.
"""
from __future__ import annotations

import io
import re
import urllib.request
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlparse

from PIL import Image

from agile.errors import AgileError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
URL_TIMEOUT_S = 20
# "name:" at the start; without a registered name it is only a scheme when "//" follows,
# so a relative file name such as "a:b.png" stays a path.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(//)?")


class UriError(AgileError):
    """A uri has a scheme no reader supports, or names no image."""


class Kind(Enum):
    FILE = "file"          # a file on this machine
    REMOTE = "remote"      # fetched over the network
    RENDERED = "rendered"  # pixels computed from the uri itself
    NO_IMAGE = "no image"  # a vector without a picture (synthetic corpora)


@dataclass(frozen=True)
class Scheme:
    name: str
    kind: Kind
    render: Callable[[str], Image.Image] | None = None  # RENDERED only: uri -> image


@dataclass(frozen=True)
class ParsedUri:
    uri: str
    scheme: Scheme

    @property
    def kind(self) -> Kind:
        return self.scheme.kind

    @property
    def path(self) -> Path:
        """The local file of a FILE uri (``file://`` uris are percent-decoded)."""
        if self.kind is not Kind.FILE:
            raise UriError(f"{self.uri!r} is not a local file")
        if self.scheme.name == "file":
            return Path(unquote(urlparse(self.uri).path))
        return Path(self.uri)


_SCHEMES: dict[str, Scheme] = {}
_PATH = Scheme("", Kind.FILE)


def register_scheme(scheme: Scheme) -> None:
    """Make a scheme known to every uri reader (names are case-insensitive)."""
    if scheme.kind is Kind.RENDERED and scheme.render is None:
        raise ValueError(f"scheme {scheme.name!r}: a rendered scheme needs a render function")
    _SCHEMES[scheme.name.lower()] = scheme


def scheme_names() -> list[str]:
    return sorted(_SCHEMES)


def parse_uri(uri: str) -> ParsedUri:
    """Which scheme a uri belongs to; a plain path is a FILE uri. Unknown schemes raise UriError."""
    match = _SCHEME.match(uri)
    if match:
        scheme = _SCHEMES.get(match.group(1).lower())
        if scheme is not None:
            return ParsedUri(uri, scheme)
        if match.group(2):
            raise UriError(f"{uri!r}: unsupported uri scheme {match.group(1)!r} "
                           f"(supported: paths, {', '.join(s + '://' for s in scheme_names())})")
    return ParsedUri(uri, _PATH)


def load_image(uri: str, timeout: float = URL_TIMEOUT_S) -> Image.Image:
    """The RGB image a uri names. Unreadable images raise what the reading raised (OSError, ...)."""
    parsed = parse_uri(uri)
    if parsed.kind is Kind.FILE:
        return _decode(parsed.path)
    if parsed.kind is Kind.REMOTE:
        with urllib.request.urlopen(uri, timeout=timeout) as response:
            return _decode(io.BytesIO(response.read()))
    if parsed.kind is Kind.RENDERED:
        return parsed.scheme.render(uri).convert("RGB")
    raise UriError(f"{uri!r}: a {parsed.scheme.name}:// uri has no image")


def _decode(file) -> Image.Image:
    with Image.open(file) as image:
        image.load()  # decode now, so a truncated file fails here rather than later
        return image.convert("RGB")


def _render_demo(uri: str) -> Image.Image:
    from agile.demo import render_uri  # the demo world is loaded only for corpora that use it

    return render_uri(uri)


register_scheme(Scheme("file", Kind.FILE))
register_scheme(Scheme("http", Kind.REMOTE))
register_scheme(Scheme("https", Kind.REMOTE))
register_scheme(Scheme("demo", Kind.RENDERED, _render_demo))
register_scheme(Scheme("synth", Kind.NO_IMAGE))

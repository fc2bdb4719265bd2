"""The image behind a corpus id: the HTTP answer for each kind of uri agile.uris knows.

The uri always comes from the corpus, never from the request.
"""
from __future__ import annotations

import functools
import html
import io

from fastapi import Response
from fastapi.responses import FileResponse, RedirectResponse

from agile.uris import IMAGE_EXTENSIONS, Kind, UriError, load_image, parse_uri
from server.errors import NotFound

CACHE = {"Cache-Control": "private, max-age=86400"}  # a corpus never changes its images


def placeholder_svg(corpus_id: int, uri: str) -> str:
    """A tile for corpora without pictures (synthetic embeddings), so the rater still has a grid."""
    hue = (corpus_id * 47) % 360
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="224" height="224" viewBox="0 0 224 224">'
            f'<rect width="224" height="224" fill="hsl({hue},35%,88%)"/>'
            f'<text x="112" y="104" font-family="sans-serif" font-size="28" text-anchor="middle" fill="#333">'
            f'#{corpus_id}</text><text x="112" y="140" font-family="sans-serif" font-size="12" '
            f'text-anchor="middle" fill="#555">{html.escape(uri[:36])}</text></svg>')


@functools.lru_cache(maxsize=1024)
def rendered_png(uri: str) -> bytes:
    """A rendered uri's pixels as PNG bytes (cached: the rater asks for the same batch again)."""
    out = io.BytesIO()
    load_image(uri).save(out, format="PNG")
    return out.getvalue()


def image_response(corpus_id: int, uri: str) -> Response:
    unavailable = NotFound(f"image {corpus_id} is not available on this server")  # the uri may be a local path
    try:
        parsed = parse_uri(uri)
    except UriError:
        raise unavailable from None
    if parsed.kind is Kind.RENDERED:
        return Response(rendered_png(uri), media_type="image/png", headers=CACHE)
    if parsed.kind is Kind.NO_IMAGE:
        return Response(placeholder_svg(corpus_id, uri), media_type="image/svg+xml", headers=CACHE)
    if parsed.kind is Kind.REMOTE:
        return RedirectResponse(uri, status_code=307)
    # Only image files: a corpus uri must not turn the server into a reader of any file on disk.
    if parsed.path.suffix.lower() not in IMAGE_EXTENSIONS or not parsed.path.is_file():
        raise unavailable
    return FileResponse(parsed.path, headers=CACHE)

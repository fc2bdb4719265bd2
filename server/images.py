"""The image behind a corpus id, by the kind of uri the corpus stores.

The uri always comes from the corpus, never from the request.
"""
from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import unquote, urlparse

from fastapi import Response
from fastapi.responses import FileResponse, RedirectResponse

from server.errors import NotFound
from server.loop import render_demo_png

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
CACHE = {"Cache-Control": "private, max-age=86400"}  # a corpus never changes its images


def placeholder_svg(corpus_id: int, uri: str) -> str:
    """A tile for corpora without pictures (synthetic embeddings), so the rater still has a grid."""
    hue = (corpus_id * 47) % 360
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="224" height="224" viewBox="0 0 224 224">'
            f'<rect width="224" height="224" fill="hsl({hue},35%,88%)"/>'
            f'<text x="112" y="104" font-family="sans-serif" font-size="28" text-anchor="middle" fill="#333">'
            f'#{corpus_id}</text><text x="112" y="140" font-family="sans-serif" font-size="12" '
            f'text-anchor="middle" fill="#555">{html.escape(uri[:36])}</text></svg>')


def image_response(corpus_id: int, uri: str) -> Response:
    scheme = urlparse(uri).scheme
    if scheme == "demo":
        return Response(render_demo_png(uri), media_type="image/png", headers=CACHE)
    if scheme == "synth":
        return Response(placeholder_svg(corpus_id, uri), media_type="image/svg+xml", headers=CACHE)
    if scheme in ("http", "https"):
        return RedirectResponse(uri, status_code=307)
    path = Path(unquote(urlparse(uri).path) if scheme == "file" else uri)
    if scheme not in ("", "file") or path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
        raise NotFound(f"image {corpus_id} is not available on this server")  # the uri may be a local path
    return FileResponse(path, headers=CACHE)

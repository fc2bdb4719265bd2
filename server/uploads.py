"""Uploaded images: read within the size limit, decoded within the pixel limit, embedded with the corpus's model.

Scoring an upload and seeding a concept with one share this path, so both
bound the bytes read, the pixels decoded and how many images are decoded at once.
"""
from __future__ import annotations

import io

import numpy as np
from fastapi import UploadFile
from PIL import Image, UnidentifiedImageError

from server.errors import Invalid, TooLarge, TooMany
from server.state import AppState


def read_upload(upload: UploadFile, limit: int) -> bytes:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"image is larger than {limit} bytes")
    return data


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """RGB pixels of an uploaded image, refusing one whose header declares more than ``max_pixels``."""
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            width, height = img.size
            if width * height > max_pixels:
                raise TooLarge(f"image of {width} x {height} pixels; at most {max_pixels:,} pixels are decoded")
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError):
        # PIL's message names the in-memory buffer (a Python repr), which tells the caller nothing.
        raise Invalid("not a readable image: send a PNG, JPEG or another format PIL reads") from None


def embed_upload(state: AppState, data: bytes) -> np.ndarray:
    """float32 (1, dim) unit vector of an uploaded image with the corpus's image model."""
    # A few KB of PNG can declare 13000 x 13000 pixels (0.5 GB decoded): bound the decoded size from the
    # header, and how many images are decoded at once.
    if not state.image_slots.acquire(timeout=state.settings.image_wait_seconds):
        raise TooMany(f"{state.settings.max_concurrent_images} images are being embedded already; retry shortly")
    try:
        # On the image pool's own threads: only they ever hold decoded pixels, so the memory the
        # allocator keeps after a decode is that of a few threads, not of every request thread.
        return state.image_pool.submit(
            lambda: state.loop.embed_image(decode_image(data, state.settings.max_image_pixels))).result()
    finally:
        state.image_slots.release()

"""The one uri registry: every scheme a corpus may store, as the indexing job and the server read it."""
from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest
from PIL import Image

from agile import uris
from agile.demo import demo_uri, render_uri
from agile.uris import Kind, Scheme, UriError, load_image, parse_uri, register_scheme, scheme_names
from server.errors import NotFound
from server.images import image_response


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "a picture.png"  # a space, so file:// uris are percent-encoded
    Image.new("RGB", (5, 3), (200, 10, 30)).save(path)
    return path


def test_every_documented_scheme_is_registered():
    assert {"file", "http", "https", "demo", "synth"} <= set(scheme_names())
    assert parse_uri("/tmp/a.png").kind is Kind.FILE
    assert parse_uri("photos/a:b.png").kind is Kind.FILE and parse_uri("a:b.png").kind is Kind.FILE
    assert parse_uri("FILE:///tmp/a.png").kind is Kind.FILE
    assert parse_uri("https://example.org/a.jpg").kind is Kind.REMOTE
    assert parse_uri("demo://0/1").kind is Kind.RENDERED
    assert parse_uri("synth://0/1").kind is Kind.NO_IMAGE
    with pytest.raises(UriError, match="unsupported uri scheme 's3'"):
        parse_uri("s3://bucket/a.png")


def test_paths_and_file_uris_name_the_same_file(picture):
    assert parse_uri(str(picture)).path == picture
    assert parse_uri(picture.as_uri()).path == picture
    assert parse_uri("file://localhost" + str(picture)).path == picture
    for uri in (str(picture), picture.as_uri()):
        image = load_image(uri)
        assert image.mode == "RGB" and image.size == (5, 3)
    with pytest.raises(UriError):
        parse_uri("https://example.org/a.jpg").path


def test_demo_uris_render_and_synthetic_uris_have_no_image():
    uri = demo_uri(3, 17)
    np.testing.assert_array_equal(np.asarray(load_image(uri)), np.asarray(render_uri(uri)))
    with pytest.raises(UriError, match="no image"):
        load_image("synth://0/5")
    with pytest.raises(UriError):
        load_image("s3://bucket/a.png")


def test_unreadable_images_raise_what_reading_raised(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(str(tmp_path / "gone.png"))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(OSError):
        load_image(str(tmp_path / "bad.png"))


def test_remote_images_are_downloaded(picture):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(picture.parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        image = load_image(f"http://127.0.0.1:{server.server_port}/a%20picture.png")
        assert image.size == (5, 3) and image.getpixel((0, 0)) == (200, 10, 30)
    finally:
        server.shutdown()


def test_a_registered_scheme_reaches_the_indexing_loader_and_the_server(monkeypatch):
    monkeypatch.setattr(uris, "_SCHEMES", dict(uris._SCHEMES))  # the scheme is this test's alone
    register_scheme(Scheme("checker", Kind.RENDERED, lambda uri: Image.new("L", (2, 2), 255)))
    assert load_image("checker://x").mode == "RGB"
    assert image_response(1, "checker://x").media_type == "image/png"
    register_scheme(Scheme("checker", Kind.NO_IMAGE))
    assert image_response(1, "checker://y").media_type == "image/svg+xml"
    with pytest.raises(ValueError):
        register_scheme(Scheme("broken", Kind.RENDERED))


def test_the_server_answers_unknown_schemes_with_not_found():
    with pytest.raises(NotFound):
        image_response(3, "s3://bucket/a.png")

"""Embedding images: folders and manifests, corrupt files, demo:// uris, resume after kill -9, Ray."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from agile.openclip_embedder import OpenClipEmbedder
from agile_cli.main import main
from indexing.reader import SourceError, read_source
from indexing.runner import index_images

MODEL = "agile-demo"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import open_clip
    import torch

    from agile.model_configs import register_builtin_configs

    register_builtin_configs()
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(open_clip.create_model(MODEL).state_dict(), path)
    return str(path)


def _picture(rng, size=48) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (size, size + 5, 3), dtype=np.uint8))


def write_folder(root: Path, n: int = 12, size: int = 48) -> tuple[list[str], list[str]]:
    """PNG/JPEG/WebP images in nested folders plus a corrupt and a zero-byte file; (good, bad) paths."""
    rng = np.random.default_rng(0)
    good, bad = [], []
    for i in range(n):
        ext = ["png", "jpg", "webp"][i % 3]
        path = root / f"sub{i % 2}" / f"img{i:03d}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        _picture(rng, size).save(path)
        good.append(str(path.resolve()))
        if i % 5 == 2:  # bad files interleaved, so skipping shifts later ids
            corrupt = root / f"sub{i % 2}" / f"img{i:03d}x.jpg"
            corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg" * 3)
            empty = root / f"sub{i % 2}" / f"img{i:03d}y.png"
            empty.write_bytes(b"")
            bad += [str(corrupt.resolve()), str(empty.resolve())]
    (root / "notes.txt").write_text("not an image")
    return sorted(good), sorted(bad)


def test_folder_is_embedded_and_bad_files_are_skipped_and_reported(tmp_path, checkpoint):
    good, bad = write_folder(tmp_path / "imgs")
    corpus = index_images(tmp_path / "imgs", tmp_path / "c", model=MODEL, checkpoint=checkpoint,
                          batch_size=4, shard_size=5, progress=False)
    assert corpus.count == len(good)
    assert corpus.uris(np.arange(corpus.count)) == good
    report = json.loads((tmp_path / "c" / "skipped.json").read_text())
    assert report["skipped"] == len(bad) == 4
    assert sorted(x["uri"] for x in report["images"]) == bad
    assert all(x["error"] for x in report["images"])
    assert corpus.manifest.producer["skipped"] == 4
    embedder = OpenClipEmbedder(MODEL, checkpoint=checkpoint)
    assert corpus.model == embedder.model_info
    expected = embedder.embed_images([Image.open(p) for p in good])
    np.testing.assert_allclose(corpus.vectors(np.arange(corpus.count)).astype(np.float32), expected, atol=2e-3)
    corpus.verify()


def test_manifest_metadata_and_demo_uris(tmp_path, checkpoint, monkeypatch):
    import agile.demo

    rendered = []

    def fake_render(uri):
        rendered.append(uri)
        return _picture(np.random.default_rng(int(uri.rsplit("/", 1)[1])))

    monkeypatch.setattr(agile.demo, "render_uri", fake_render)
    good, _ = write_folder(tmp_path / "imgs", n=3)
    manifest = tmp_path / "m.parquet"
    pq.write_table(pa.table({"uri": ["demo://5/0", good[0], "demo://5/1", str(tmp_path / "missing.png")],
                             "shape": ["star", "disk", "star", "square"], "count": [1, 2, 3, 4]}), manifest)
    corpus = index_images(manifest, tmp_path / "c", model=MODEL, checkpoint=checkpoint, shard_size=2, progress=False)
    assert rendered == ["demo://5/0", "demo://5/1"]
    assert corpus.uris([0, 1, 2]) == ["demo://5/0", good[0], "demo://5/1"]
    assert corpus.manifest.metadata_columns == ["shape", "count"]
    assert corpus.column("shape").to_pylist() == ["star", "disk", "star"]
    assert corpus.column("count").to_pylist() == [1, 2, 3]


def test_bad_sources_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no image files"):
        read_source(tmp_path / "empty")
    csv = tmp_path / "m.csv"
    csv.write_text("path,label\na.png,1\n")
    with pytest.raises(SourceError, match=r"m\.csv: no 'uri' column"):
        read_source(csv)
    csv.write_text("uri,label\na.png,1\n,2\n")
    with pytest.raises(SourceError, match=r"m\.csv: line 3: uri is empty"):
        read_source(csv)


def _run_cli(src: Path, out: Path, checkpoint: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "agile_cli.main", "index", "images", str(src), str(out), "--model", MODEL,
           "--checkpoint", checkpoint, "--batch-size", "1", "--shard-size", "3", "--no-progress"]
    return subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_resume_after_kill_gives_the_same_ids_and_uris(tmp_path, checkpoint):
    good, _ = write_folder(tmp_path / "imgs", n=40, size=900)  # large images: decoding takes a while
    reference = index_images(tmp_path / "imgs", tmp_path / "ref", model=MODEL, checkpoint=checkpoint,
                             batch_size=8, shard_size=3, progress=False)
    out = tmp_path / "c"
    proc = _run_cli(tmp_path / "imgs", out, checkpoint)
    deadline = time.monotonic() + 120
    while not (out / "shards" / "part-00002.parquet").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "corpus.json").exists(), "the run finished before it could be killed"
    done_before = len(list((out / "shards").glob("part-*.parquet")))
    assert done_before >= 3
    corpus = index_images(tmp_path / "imgs", out, model=MODEL, checkpoint=checkpoint,
                          batch_size=8, shard_size=3, progress=False)
    ids = np.arange(corpus.count)
    assert corpus.count == reference.count == len(good)
    assert corpus.uris(ids) == reference.uris(ids) == good
    np.testing.assert_allclose(corpus.vectors(ids).astype(np.float32),
                               reference.vectors(ids).astype(np.float32), atol=2e-3)
    report = json.loads((out / "skipped.json").read_text())
    assert report == json.loads((tmp_path / "ref" / "skipped.json").read_text())
    assert not list(out.rglob(".*.tmp"))
    corpus.verify()


def test_cli_images_and_changed_job_is_refused(tmp_path, checkpoint, capsys):
    write_folder(tmp_path / "imgs", n=4)
    args = ["index", "images", str(tmp_path / "imgs"), str(tmp_path / "c"), "--model", MODEL,
            "--checkpoint", checkpoint, "--no-progress"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["count"] == 4 and result["skipped"] == 2
    assert main(args + ["--shard-size", "2"]) == 2
    assert "differs in shard_size" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_engine_matches_local_engine(tmp_path, checkpoint):
    pytest.importorskip("ray")
    good, _ = write_folder(tmp_path / "imgs", n=10)
    local = index_images(tmp_path / "imgs", tmp_path / "local", model=MODEL, checkpoint=checkpoint,
                         shard_size=4, batch_size=3, progress=False)
    distributed = index_images(tmp_path / "imgs", tmp_path / "ray", model=MODEL, checkpoint=checkpoint,
                               engine="ray", shard_size=4, batch_size=3, progress=False)
    ids = np.arange(local.count)
    assert distributed.count == local.count == len(good)
    assert distributed.uris(ids) == local.uris(ids)
    np.testing.assert_allclose(distributed.vectors(ids).astype(np.float32),
                               local.vectors(ids).astype(np.float32), atol=2e-3)
    assert json.loads((tmp_path / "ray" / "skipped.json").read_text())["skipped"] == 4
    assert distributed.manifest.producer["engine"] == "ray"

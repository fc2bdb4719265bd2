"""Corpus jobs killed with SIGKILL: workers die with them, and a re-run gives the uninterrupted corpus."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agile.corpus import Corpus
from agile.synth import SynthSpec, synth_corpus
from indexing.importer import ImportConfig, ImportFormatError, import_embeddings

ROOT = Path(__file__).resolve().parent.parent
SHARD = 100_000
DIM = 16
SPEC = SynthSpec(n=3 * SHARD, dim=DIM, clusters=20, seed=3, shard_size=SHARD)
MARK = "AGILE_KILL_TEST_RUN"


def write_laion(root: Path, files: int = 3, rows: int = SHARD) -> Path:
    (root / "img_emb").mkdir(parents=True)
    (root / "metadata").mkdir()
    for i in range(files):
        rng = np.random.default_rng(i)
        np.save(root / "img_emb" / f"img_emb_{i}.npy", rng.standard_normal((rows, DIM)).astype(np.float16))
        pq.write_table(pa.table({"url": [f"https://example.com/{i}/{j}.jpg" for j in range(rows)],
                                 "caption": [f"caption {j}" for j in range(rows)]}),
                       root / "metadata" / f"metadata_{i}.parquet")
    return root


def job_code(kind: str, src: Path, out: Path) -> str:
    if kind == "synth":
        return (f"from agile.synth import SynthSpec, synth_corpus; "
                f"synth_corpus({str(out)!r}, SynthSpec(**{SPEC.__dict__!r}), workers=2, progress=False)")
    return (f"from indexing.importer import ImportConfig, import_embeddings; "
            f"import_embeddings({str(src)!r}, {str(out)!r}, ImportConfig(workers=2), progress=False)")


def run_job(kind: str, src: Path, out: Path):
    if kind == "synth":
        return synth_corpus(out, SPEC, workers=2, progress=False)
    return import_embeddings(src, out, ImportConfig(workers=2), progress=False)


def start_job(kind: str, src: Path, out: Path, mark: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), MARK: mark}
    return subprocess.Popen([sys.executable, "-c", job_code(kind, src, out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def survivors(mark: str) -> list[psutil.Process]:
    """Processes of a killed job still alive (found by the marker in their environment)."""
    alive = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARK) == mark and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return alive


def assert_same_corpus(a: Path, b: Path) -> None:
    names = sorted(p.name for p in (a / "shards").glob("part-*.parquet"))
    assert names == sorted(p.name for p in (b / "shards").glob("part-*.parquet"))
    for name in names:
        assert pq.read_table(a / "shards" / name).equals(pq.read_table(b / "shards" / name)), name
        stem = name.removesuffix(".parquet")
        assert (a / "vectors" / f"{stem}.f16").read_bytes() == (b / "vectors" / f"{stem}.f16").read_bytes()
    assert Corpus.open(a).count == Corpus.open(b).count
    assert not list(b.rglob("*.tmp"))


@pytest.fixture(scope="module")
def laion_src(tmp_path_factory) -> Path:
    return write_laion(tmp_path_factory.mktemp("laion") / "src")


@pytest.fixture(scope="module")
def references(tmp_path_factory, laion_src) -> dict[str, tuple[Path, float]]:
    """Each job run once without interruption, in a subprocess, with its wall time."""
    refs = {}
    for kind in ("synth", "import"):
        out = tmp_path_factory.mktemp("ref") / kind
        started = time.monotonic()
        assert start_job(kind, laion_src, out, "reference").wait(300) == 0
        refs[kind] = (out, time.monotonic() - started)
    return refs


@pytest.mark.parametrize("kind", ["synth", "import"])
def test_workers_die_with_a_killed_job(kind, laion_src, tmp_path):
    out, mark = tmp_path / "out", f"orphans-{kind}-{os.getpid()}"
    proc = start_job(kind, laion_src, out, mark)
    deadline = time.monotonic() + 120
    while not list(out.glob("*/.part-*.tmp")) and time.monotonic() < deadline:  # workers are writing
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)
    assert survivors(mark) == []


@pytest.mark.parametrize("kind", ["synth", "import"])
def test_garbage_final_shard_is_written_again(kind, laion_src, references, tmp_path):
    out = tmp_path / "out"
    run_job(kind, laion_src, out)
    (out / "corpus.json").unlink()
    (out / "shards" / "part-00000.parquet").write_bytes(b"PAR1")  # what a crash mid-write used to leave
    (out / "shards" / "part-00001.parquet").write_bytes(b"not parquet at all")
    run_job(kind, laion_src, out)
    assert_same_corpus(references[kind][0], out)


def test_later_metadata_file_without_url_names_the_file(laion_src, tmp_path):
    src = tmp_path / "src"
    import shutil
    shutil.copytree(laion_src, src)
    table = pq.read_table(src / "metadata" / "metadata_2.parquet").rename_columns(["link", "caption"])
    pq.write_table(table, src / "metadata" / "metadata_2.parquet")
    with pytest.raises(ImportFormatError, match=r"metadata_2\.parquet: no uri column 'url'"):
        import_embeddings(src, tmp_path / "out", ImportConfig(workers=2), progress=False)


@pytest.mark.slow
def test_killed_at_random_points_reruns_to_the_uninterrupted_corpus(laion_src, references, tmp_path):
    rng = random.Random(20)
    for trial in range(20):
        kind = ("synth", "import")[trial % 2]
        reference, wall = references[kind]
        out, mark = tmp_path / f"trial-{trial}", f"trial-{trial}-{os.getpid()}"
        proc = start_job(kind, laion_src, out, mark)
        time.sleep(rng.uniform(0.0, wall))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        run_job(kind, laion_src, out)  # at once: any surviving worker would race this run
        assert_same_corpus(reference, out)
        assert survivors(mark) == [], f"trial {trial}: workers outlived their job"

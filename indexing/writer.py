"""The writer: one input shard's embeddings -> one corpus shard, plus its list of skipped images.

The skipped list (``skipped/<shard>.json``) is written before the shard
commits, so a committed shard always has its list; a re-run after a kill
rewrites both. ``skipped.json`` merges them when the job finishes.
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from agile.atomic import atomic_write_json
from agile.corpus import ShardInfo, ShardWriter
from indexing.mapper import MapResult

SKIPPED_DIR = "skipped"
REPORT_FILE = "skipped.json"


def write_shard(out: Path, name: str, first_id: int, dim: int, rows: pa.Table, result: MapResult) -> ShardInfo:
    """Write the embedded rows of ``rows`` (uri + metadata columns) as shard ``name`` starting at ``first_id``."""
    skipped = [{"uri": rows.column("uri")[i].as_py(), "error": why} for i, why in sorted(result.errors.items())]
    atomic_write_json(out / SKIPPED_DIR / f"{name}.json", skipped)
    kept = rows.filter(pa.array(result.ok))
    metadata = kept.drop_columns(["uri"])
    with ShardWriter(out, name, first_id, dim, metadata.schema) as writer:
        writer.write(kept.column("uri").combine_chunks(), result.embeddings,
                     {c: metadata.column(c).combine_chunks() for c in metadata.column_names})
    return writer.info


def write_report(out: Path, shard_names: list[str]) -> list[dict]:
    """Merge the per-shard skipped lists into ``skipped.json`` and return it."""
    skipped = []
    for name in shard_names:
        path = out / SKIPPED_DIR / f"{name}.json"
        if path.is_file():
            skipped.extend(json.loads(path.read_text()))
    atomic_write_json(out / REPORT_FILE, {"skipped": len(skipped), "images": skipped})
    return skipped

"""The reader: which images to embed, from a folder or a manifest.

Loading one image by its uri is `agile.uris.load_image`, which the server's
image route shares, so both support the same schemes.

A source becomes one Arrow table with a ``uri`` column plus any manifest
columns (kept as corpus metadata). Its row order is fixed (folders sorted by
path), so shard boundaries depend only on the source and the shard size.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from agile.errors import CorpusError
from agile.uris import IMAGE_EXTENSIONS


class SourceError(CorpusError):
    """An image source (folder or manifest) is missing or malformed (names the file)."""


def read_source(source: str | Path) -> pa.Table:
    """The images of a folder (recursive) or a CSV/Parquet manifest with a ``uri`` column."""
    path = Path(source)
    if path.is_dir():
        files = sorted(str(p.resolve()) for p in path.rglob("*")
                       if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not files:
            raise SourceError(path, f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) in this folder")
        return pa.table({"uri": pa.array(files, pa.string())})
    if not path.is_file():
        raise SourceError(path, "not found")
    try:
        if path.suffix.lower() == ".csv":
            table = pcsv.read_csv(path)
        elif path.suffix.lower() in {".parquet", ".pq"}:
            table = pq.read_table(path)
        else:
            raise SourceError(path, "expected a folder, a .csv or a .parquet manifest")
    except (pa.ArrowException, OSError) as e:
        raise SourceError(path, f"unreadable manifest: {e}") from e
    return _check_manifest(path, table)


def _check_manifest(path: Path, table: pa.Table) -> pa.Table:
    if "uri" not in table.column_names:
        raise SourceError(path, f"no 'uri' column (columns: {table.column_names})")
    for reserved in ("id", "embedding"):
        if reserved in table.column_names:
            raise SourceError(path, f"column {reserved!r} is reserved for the corpus; rename it")
    if table.num_rows == 0:
        raise SourceError(path, "the manifest lists no images")
    uris = table.column("uri").cast(pa.string())
    empty = pc.fill_null(pc.equal(pc.utf8_length(uris), 0), True).to_numpy(zero_copy_only=False)
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        line = f"line {row + 2}" if path.suffix.lower() == ".csv" else f"row {row}"
        raise SourceError(path, f"{line}: uri is empty")
    return table.set_column(table.column_names.index("uri"), "uri", uris)

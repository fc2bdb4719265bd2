"""A concept's labels as a table (id, uri, label, round, purpose, seconds, rater, time) in CSV, JSON lines or Parquet."""
from __future__ import annotations

import csv
import io
import json
from typing import Callable, Literal, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from server.repository import RatingRow

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: dict[str, str] = {"csv": "text/csv", "jsonl": "application/x-ndjson",
                           "parquet": "application/vnd.apache.parquet"}
COLUMNS = ("id", "uri", "label", "round", "purpose", "seconds", "rater", "time")
SCHEMA = pa.schema([("id", pa.int64()), ("uri", pa.string()), ("label", pa.string()), ("round", pa.int64()),
                    ("purpose", pa.string()), ("seconds", pa.float64()), ("rater", pa.string()),
                    ("time", pa.string())])


def label_records(rows: Sequence[RatingRow], uris: Callable[[list[int]], list[str]]) -> list[dict]:
    """One record per answer; ``uris`` looks up the corpus URIs of many ids at once."""
    found = uris([r.corpus_id for r in rows]) if rows else []
    return [{"id": r.corpus_id, "uri": uri, "label": r.label, "round": r.round, "purpose": r.purpose,
             "seconds": r.seconds, "rater": r.rater, "time": r.time} for r, uri in zip(rows, found)]


def encode(records: list[dict], fmt: Format) -> bytes:
    """The records in one format; every format holds the same columns in the same order."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in records)
        return out.getvalue().encode()
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records, schema=SCHEMA), sink)
    return sink.getvalue()

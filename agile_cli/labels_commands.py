"""``agile labels export``: a concept's answers as CSV, JSON lines or Parquet, read from the server's data."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.settings import DEFAULT_DATA_DIR


def register(sub) -> None:
    labels = sub.add_parser("labels", help="a concept's labels")
    actions = labels.add_subparsers(dest="labels_command", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write every answer (id, uri, label, round, purpose, seconds, "
                                               "rater, time) to a file")
    export.add_argument("concept", type=int, help="concept id")
    export.add_argument("corpus", help="the corpus the server serves (for the URIs)")
    export.add_argument("--data", default=str(DEFAULT_DATA_DIR), help="the server's --data directory")
    export.add_argument("--format", choices=["csv", "jsonl", "parquet"], help="default: from --out's suffix, "
                        "else csv")
    export.add_argument("--out", help="file to write (default: concept-ID-labels.FORMAT)")
    export.set_defaults(func=cmd_labels_export)


def cmd_labels_export(args: argparse.Namespace) -> int:
    from agile.atomic import atomic_write_bytes
    from agile.corpus import Corpus
    from server.db import Database
    from server.errors import ServerError
    from server.exports import FORMATS, encode, label_records
    from server.repository import Repository
    from server.settings import database_path

    suffix = Path(args.out).suffix.lstrip(".") if args.out else ""
    fmt = args.format or (suffix if suffix in FORMATS else "csv")
    out = Path(args.out or f"concept-{args.concept}-labels.{fmt}")
    try:
        rows = Repository(Database(database_path(args.data))).rating_rows(args.concept)
    except ServerError as e:
        print(f"agile labels export: error: {e.message}", file=sys.stderr)
        return 2
    atomic_write_bytes(out, encode(label_records(rows, Corpus.open(args.corpus).uris), fmt))
    print(f"wrote {len(rows)} labels of concept {args.concept} to {out} ({fmt})")
    return 0

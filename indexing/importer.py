"""Import precomputed embeddings into a corpus, streaming.

Formats:

- ``laion``: the clip-retrieval / LAION release layout, ``img_emb/img_emb_<i>.npy``
  with row-aligned ``metadata/metadata_<i>.parquet`` (uri column ``url``);
- ``parquet``: Parquet files (one file or a folder) with an embedding column
  (list or fixed-size list of floats) and a uri column.

Every input file becomes one corpus shard, so shard boundaries and ids are
known from the file headers alone: a killed import resumes at the first
missing shard and yields the same ids. Vectors are validated block by block
(dimension, NaN, zero rows) and errors name the input file and row.
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from agile.corpus import Corpus, ModelInfo, ShardWriter, completed_shards, finalize_corpus, shard_name
from agile.embedder import EmbedderError, check_weights, has_text_model, is_open_clip_model
from agile.errors import CorpusError
from agile.workers import worker_pool
from indexing.job import claim_output

BLOCK_ROWS = 65_536
RESERVED = {"id", "uri", "embedding"}


class ImportFormatError(CorpusError):
    """Input embeddings or metadata are missing, misaligned or malformed (names the file)."""


@dataclass(frozen=True)
class ImportConfig:
    format: Literal["laion", "parquet"] = "laion"
    embedding_column: str = "embedding"
    uri_column: str | None = None       # None: "url" for laion, "uri" for parquet
    model: str = "unknown"              # the model that made the embeddings (open_clip name, or any other)
    pretrained: str | None = None
    checkpoint: str | None = None       # an open_clip checkpoint file (its sha256 is recorded)
    text_model: bool | None = None      # None: an open_clip model with weights has one, any other name none
    allow_random_weights: bool = False  # benchmarks only: an open_clip text tower without weights
    workers: int = 2

    @property
    def uri(self) -> str:
        return self.uri_column or ("url" if self.format == "laion" else "uri")


@dataclass(frozen=True)
class Part:
    """One input unit: vectors (a .npy, or a Parquet column) and its row-aligned metadata."""

    vectors: Path
    metadata: Path
    rows: int
    dim: int


def _numeric_suffix(path: Path) -> int:
    match = re.search(r"_(\d+)$", path.stem)
    if not match:
        raise ImportFormatError(path, "expected a name ending in _<number> (e.g. img_emb_0.npy)")
    return int(match.group(1))


def laion_parts(src: Path) -> list[Part]:
    embeddings = sorted((src / "img_emb").glob("img_emb_*.npy"), key=_numeric_suffix)
    if not embeddings:
        raise ImportFormatError(src / "img_emb", "no img_emb_*.npy files (is this a LAION-layout release?)")
    parts = []
    for npy in embeddings:
        meta = src / "metadata" / f"metadata_{_numeric_suffix(npy)}.parquet"
        if not meta.is_file():
            raise ImportFormatError(meta, f"missing: {npy.name} has no metadata file")
        try:
            array = np.load(npy, mmap_mode="r")
        except (ValueError, OSError) as e:
            raise ImportFormatError(npy, f"unreadable .npy file: {e}") from e
        if array.ndim != 2:
            raise ImportFormatError(npy, f"holds an array of shape {array.shape}, expected (rows, dim)")
        rows = _parquet_rows(meta)
        if rows != array.shape[0]:
            raise ImportFormatError(meta, f"has {rows} rows but {npy.name} has {array.shape[0]} vectors "
                                          "(metadata and embeddings must be row-aligned)")
        parts.append(Part(npy, meta, rows, array.shape[1]))
    return parts


def parquet_parts(src: Path, embedding_column: str) -> list[Part]:
    files = sorted(src.rglob("*.parquet")) if src.is_dir() else [src]
    if not files or not files[0].is_file():
        raise ImportFormatError(src, "no Parquet files found")
    parts = []
    for path in files:
        schema = _parquet_file(path).schema_arrow
        if embedding_column not in schema.names:
            raise ImportFormatError(path, f"no embedding column {embedding_column!r} (columns: {schema.names})")
        field = schema.field(embedding_column).type
        dim = field.list_size if pa.types.is_fixed_size_list(field) else -1
        if dim == -1:  # variable-length lists: read the first row to learn the dimension
            first = next(_parquet_file(path).iter_batches(batch_size=1, columns=[embedding_column]), None)
            dim = len(first.column(0)[0]) if first is not None and first.num_rows else 0
        parts.append(Part(path, path, _parquet_rows(path), dim))
    return parts


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise ImportFormatError(path, f"unreadable Parquet file: {e}") from e


def _parquet_rows(path: Path) -> int:
    return _parquet_file(path).metadata.num_rows


def _check_dims(parts: list[Part]) -> int:
    dims = {p.dim for p in parts if p.rows}
    if len(dims) > 1:
        first = parts[0]
        odd = next(p for p in parts if p.rows and p.dim != first.dim)
        raise ImportFormatError(odd.vectors, f"vectors have dimension {odd.dim}, {first.vectors.name} has {first.dim}")
    return dims.pop() if dims else 0


def _check_uri_column(part: Part, config: ImportConfig) -> pa.Schema:
    schema = _parquet_file(part.metadata).schema_arrow
    if config.uri not in schema.names:
        raise ImportFormatError(part.metadata, f"no uri column {config.uri!r} (columns: {schema.names})")
    return schema


def _metadata_schema(part: Part, config: ImportConfig) -> pa.Schema:
    schema = _check_uri_column(part, config)
    skip = {config.uri, config.embedding_column if config.format == "parquet" else None}
    fields = [f for f in schema if f.name not in skip]
    return pa.schema([f.with_name(f"source_{f.name}") if f.name in RESERVED else f for f in fields])


def _embedding_block(column: pa.ChunkedArray | pa.Array, dim: int, path: Path, first_row: int) -> np.ndarray:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if array.null_count:
        row = first_row + int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
        raise ImportFormatError(path, f"row {row}: embedding is null")
    if not pa.types.is_fixed_size_list(array.type):
        lengths = pc.list_value_length(array).to_numpy()
        if (lengths != dim).any():
            row = first_row + int(np.flatnonzero(lengths != dim)[0])
            raise ImportFormatError(path, f"row {row}: embedding has {lengths[lengths != dim][0]} values, expected {dim}")
    return array.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)


def _blocks(part: Part, config: ImportConfig) -> Iterator[tuple[int, np.ndarray, pa.RecordBatch]]:
    """(first row, vectors, metadata batch) blocks of one input unit, in row order."""
    meta = _parquet_file(part.metadata)
    vectors = np.load(part.vectors, mmap_mode="r") if config.format == "laion" else None
    start = 0
    for batch in meta.iter_batches(batch_size=BLOCK_ROWS):
        if vectors is not None:
            block = vectors[start: start + batch.num_rows]
        else:
            block = _embedding_block(batch.column(config.embedding_column), part.dim, part.vectors, start)
        yield start, block, batch
        start += batch.num_rows


def _check_block(block: np.ndarray, path: Path, first_row: int) -> None:
    x = block.astype(np.float32, copy=False)
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        raise ImportFormatError(path, f"row {first_row + int(np.flatnonzero(~finite)[0])} holds NaN or infinite values")
    zero = ~x.any(axis=1)
    if zero.any():
        raise ImportFormatError(path, f"row {first_row + int(np.flatnonzero(zero)[0])} is the zero vector")


def _import_part(out: Path, index: int, first_id: int, part: Part, schema: pa.Schema,
                 config: ImportConfig) -> int | tuple[str, str]:
    """Rows written, or (file, problem) of a CorpusError (which does not survive pickling as such)."""
    try:
        return _write_part(out, index, first_id, part, schema, config)
    except CorpusError as e:
        return str(e.path), e.detail


def _write_part(out: Path, index: int, first_id: int, part: Part, schema: pa.Schema, config: ImportConfig) -> int:
    renames = {f"source_{n}": n for n in RESERVED}
    with ShardWriter(out, shard_name(index), first_id, part.dim, schema) as writer:
        for start, block, batch in _blocks(part, config):
            _check_block(block, part.vectors, start)
            uris = batch.column(config.uri)
            if uris.null_count:
                row = start + int(np.flatnonzero(uris.is_null().to_numpy(zero_copy_only=False))[0])
                raise ImportFormatError(part.metadata, f"row {row}: {config.uri} is null")
            try:
                metadata = {f.name: batch.column(renames.get(f.name, f.name)).cast(f.type) for f in schema}
            except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise ImportFormatError(part.metadata, f"metadata columns differ from the first file's: {e}") from e
            writer.write(uris.cast(pa.string()), block, metadata)
    return part.rows


def imported_model(config: ImportConfig, dim: int) -> ModelInfo:
    """The model record of an import: whether phrases can be embedded for these vectors, decided once.

    An open_clip model keeps text expansion only with weights (a pretrained tag known to open_clip or a
    checkpoint file) and an embedding width equal to the vectors'; without weights it is refused
    (NoWeightsError) unless the import says it has no text model. Any other name has no text model.
    """
    from agile.openclip_embedder import file_sha256, resolve_checkpoint

    if config.pretrained and config.checkpoint:
        raise EmbedderError(f"model {config.model}: give a pretrained tag or a checkpoint, not both")
    info = ModelInfo(name=config.model, pretrained=config.pretrained, checkpoint=config.checkpoint,
                     text_model=config.text_model)
    if config.text_model is False or not is_open_clip_model(config.model):
        if config.text_model:
            raise EmbedderError(f"{config.model!r} is not an open_clip model (nor a registered family): "
                                "it has no text tower here, so the import cannot promise one")
        return info.model_copy(update={"text_model": has_text_model(info)})
    check_weights(info, config.allow_random_weights)
    import open_clip

    width = int(open_clip.get_model_config(config.model)["embed_dim"])
    if width != dim:
        raise EmbedderError(f"the vectors have {dim} dimensions but open_clip model {config.model!r} embeds "
                            f"{width}: they cannot come from its image tower (import with --no-text-model "
                            "and another model name)")
    if config.pretrained and config.pretrained not in open_clip.list_pretrained_tags_by_model(config.model):
        raise EmbedderError(f"open_clip has no pretrained tag {config.pretrained!r} for {config.model!r} "
                            f"(it knows {open_clip.list_pretrained_tags_by_model(config.model)})")
    sha256 = None
    if config.checkpoint:
        path = resolve_checkpoint(config.checkpoint)
        if not path.is_file():
            raise EmbedderError(f"{path}: checkpoint file not found")
        sha256 = file_sha256(path)
    return info.model_copy(update={"sha256": sha256, "text_model": True})


def import_embeddings(src: str | Path, out: str | Path, config: ImportConfig = ImportConfig(),
                      progress: bool = True) -> Corpus:
    """Import (or finish importing) ``src`` into the corpus directory ``out`` and open it."""
    started = time.perf_counter()
    src, out = Path(src), Path(out)
    if not src.exists():
        raise ImportFormatError(src, "not found")
    parts = laion_parts(src) if config.format == "laion" else parquet_parts(src, config.embedding_column)
    dim = _check_dims(parts)
    model = imported_model(config, dim)  # before anything is written: a refused import leaves no folder
    schema = _metadata_schema(parts[0], config)
    for part in parts[1:]:  # every file, before any worker starts: errors name the file, not a KeyError
        _check_uri_column(part, config)
    claim_output(out, {"command": "agile index import", "source": str(src.resolve()),
                       "files": [p.vectors.name for p in parts], **asdict(config) | {"workers": None}})
    firsts = np.concatenate([[0], np.cumsum([p.rows for p in parts])[:-1]]).astype(int)
    done = completed_shards(out)
    todo = [i for i in range(len(parts)) if shard_name(i) not in done]
    with worker_pool(max(1, min(config.workers, len(todo) or 1))) as pool, \
            tqdm(total=sum(p.rows for p in parts), initial=sum(parts[i].rows for i in range(len(parts)) if i not in todo),
                 unit="vec", unit_scale=True, disable=not progress, desc="import") as bar:
        futures = [pool.submit(_import_part, out, i, int(firsts[i]), parts[i], schema, config) for i in todo]
        for future in futures:
            result = future.result()
            if isinstance(result, tuple):
                raise ImportFormatError(*result)
            bar.update(result)
    shards = [s for s in completed_shards(out).values() if s.count]
    finalize_corpus(out, model, dim, shards, schema.names,
                    {"command": "agile index import", "format": config.format, "source": str(src),
                     "seconds": round(time.perf_counter() - started, 1)})
    return Corpus.open(out, verify="quick")

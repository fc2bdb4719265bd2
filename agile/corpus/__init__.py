"""The corpus: Parquet shards of L2-normalised float16 embeddings plus raw memory-mapped copies."""
from agile.corpus.manifest import CorpusManifest, ModelInfo, ShardInfo
from agile.corpus.reader import Corpus, UnknownColumnError, UnknownIdError
from agile.corpus.writer import ShardWriter, completed_shards, finalize_corpus, shard_name

__all__ = ["Corpus", "CorpusManifest", "ModelInfo", "ShardInfo", "ShardWriter",
           "UnknownColumnError", "UnknownIdError", "completed_shards", "finalize_corpus", "shard_name"]

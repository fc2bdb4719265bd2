"""Corpus-wide scoring as Ray tasks, one per shard: the same part writer as the local engine, so the same file.

``ray.init()`` joins the cluster in ``RAY_ADDRESS`` or starts a local one.
The model goes out once (``ray.put``, a few hundred KB); each task opens the
corpus read-only by path, which every node must see (a shared filesystem).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from agile.corpus import Corpus
from agile.training import TrainedModel


def score_parts_on_ray(corpus: Corpus, model: TrainedModel, threshold: float | None, parts_dir: Path,
                       shard_indices: Sequence[int], progress: Callable[[int, int], None] | None = None) -> None:
    import ray

    from agile.corpus_scores import write_part

    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)

    @ray.remote(num_cpus=1, max_retries=3)
    def score_shard(root: str, index: int, model_ref, part: str) -> int:
        return write_part(Corpus.open(root, verify="quick"), index, model_ref, threshold, Path(part))

    model_ref = ray.put(model)
    names = [s.name for s in corpus.shards]
    pending = [score_shard.remote(str(corpus.root), i, model_ref, str(parts_dir / f"{names[i]}.parquet"))
               for i in shard_indices]
    for done in range(1, len(pending) + 1):
        ready, pending = ray.wait(pending, num_returns=1)
        ray.get(ready)
        if progress:
            progress(done, len(shard_indices))

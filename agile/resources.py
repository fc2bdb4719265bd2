"""Resource estimates for an exported classifier, measured on this machine rather than guessed.

Times the ONNX model (onnxruntime, one thread, so figures are per core) for
one vector and for a batch, the throughput at that batch, the memory of a
loaded session, and — when the corpus's embedding model can embed images —
the cost of embedding one new image. From those, the cores a target load of
images per second needs.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from agile.cpu import FLAGS_THAT_MATTER, cpu_flags, cpu_model

REPEATS = 30


def _median_ms(fn, repeats: int = REPEATS) -> float:
    fn()  # warm-up: first calls allocate
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def measure_scorer(onnx_path: str | Path, dim: int, batch: int = 1000) -> dict:
    """p50 latency for 1 and ``batch`` vectors, throughput per core, session memory."""
    import onnxruntime as ort
    import psutil

    rss = psutil.Process().memory_info().rss
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    loaded_mb = (psutil.Process().memory_info().rss - rss) / 2**20
    rng = np.random.default_rng(0)
    one = rng.standard_normal((1, dim)).astype(np.float32)
    many = rng.standard_normal((batch, dim)).astype(np.float32)
    single = _median_ms(lambda: session.run(None, {"embedding": one}))
    batched = _median_ms(lambda: session.run(None, {"embedding": many}))
    return {"p50_ms_1_vector": round(single, 4), f"p50_ms_{batch}_vectors": round(batched, 3),
            "vectors_per_second_per_core": round(1000 * batch / batched), "session_memory_mb": round(loaded_mb, 1),
            "model_file_kb": round(os.path.getsize(onnx_path) / 1024, 1)}


def measure_embedding(embedder, repeats: int = 5) -> dict | None:
    """Seconds to embed one new image with the corpus's model, or None if it embeds no images."""
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8))
    try:
        embedder.embed_images([image])
    except Exception:  # synthetic corpora and text-free models embed no images here
        return None
    return {"p50_ms_embed_1_image": round(_median_ms(lambda: embedder.embed_images([image]), repeats), 2)}


def estimate(onnx_path: str | Path, dim: int, embedder=None, load_per_second: float | None = None) -> dict:
    """The measured figures, the machine they hold for, and the cores ``load_per_second`` images need."""
    figures = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                           "flags": sorted(cpu_flags() & set(FLAGS_THAT_MATTER))},
               "scoring": measure_scorer(onnx_path, dim)}
    embedding = measure_embedding(embedder) if embedder is not None else None
    if embedding:
        figures["embedding"] = embedding
    if load_per_second:
        per_image_ms = 1000 / figures["scoring"]["vectors_per_second_per_core"]
        per_image_ms += embedding["p50_ms_embed_1_image"] if embedding else 0.0
        cores = load_per_second * per_image_ms / 1000
        figures["load"] = {"images_per_second": load_per_second, "ms_per_image_per_core": round(per_image_ms, 4),
                           "cores_needed": math.ceil(cores * 1.25),  # 25% headroom for bursts and overhead
                           "basis": "measured per-core cost x load, +25% headroom; "
                                    + ("embedding included" if embedding else "scoring of given embeddings only")}
    return figures

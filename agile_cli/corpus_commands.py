"""``agile info``, ``agile verify`` and ``agile synth``."""
from __future__ import annotations

import argparse
import json
import time

from agile.corpus import Corpus


def register(sub: argparse._SubParsersAction) -> None:
    info = sub.add_parser("info", help="print a corpus manifest as JSON")
    info.add_argument("corpus")
    info.set_defaults(func=cmd_info)

    verify = sub.add_parser("verify", help="check every shard and vector of a corpus")
    verify.add_argument("corpus")
    verify.set_defaults(func=cmd_verify)

    synth = sub.add_parser("synth", help="write a synthetic corpus of clustered unit vectors")
    synth.add_argument("out")
    synth.add_argument("--n", type=int, required=True, help="number of vectors")
    synth.add_argument("--dim", type=int, default=512)
    synth.add_argument("--clusters", type=int, default=200)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--shard-size", type=int, default=1_000_000)
    synth.add_argument("--workers", type=int, default=2)
    synth.set_defaults(func=cmd_synth)


def cmd_info(args: argparse.Namespace) -> None:
    corpus = Corpus.open(args.corpus, verify="quick")
    print(json.dumps(corpus.manifest.model_dump(mode="json"), indent=2))


def cmd_verify(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    corpus = Corpus.open(args.corpus, verify="full")
    print(json.dumps({"corpus": str(corpus.root), "count": corpus.count, "ok": True,
                      "seconds": round(time.perf_counter() - start, 2)}))


def cmd_synth(args: argparse.Namespace) -> None:
    from agile.synth import SynthSpec, synth_corpus

    start = time.perf_counter()
    spec = SynthSpec(n=args.n, dim=args.dim, clusters=args.clusters, seed=args.seed, shard_size=args.shard_size)
    corpus = synth_corpus(args.out, spec, workers=args.workers)
    print(json.dumps({"corpus": str(corpus.root), "count": corpus.count, "dim": corpus.dim,
                      "shards": len(corpus.shards), "seconds": round(time.perf_counter() - start, 1)}))

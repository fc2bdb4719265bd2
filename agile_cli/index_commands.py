"""``agile index images|import|build|bench``: the offline embedding and indexing job."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    index = sub.add_parser("index", help="embed images, import embeddings, build the FAISS index")
    commands = index.add_subparsers(dest="index_command", required=True, metavar="SUBCOMMAND")

    images = commands.add_parser("images", help="embed a folder or manifest of images with open_clip")
    images.add_argument("source", help="a folder (recursive) or a CSV/Parquet manifest with a 'uri' column")
    images.add_argument("out", help="the corpus directory to write (re-run to resume)")
    images.add_argument("--model", required=True, help="open_clip model name, e.g. ViT-B-32")
    weights = images.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", help="open_clip pretrained tag")
    weights.add_argument("--checkpoint", help="local checkpoint file")
    images.add_argument("--engine", choices=["local", "ray"], default="local")
    images.add_argument("--batch-size", type=int, default=64)
    images.add_argument("--shard-size", type=int, default=None, help="images per shard")
    images.add_argument("--no-progress", action="store_true")
    images.set_defaults(func=cmd_images)

    imp = commands.add_parser("import", help="import precomputed embeddings (LAION layout or Parquet)")
    imp.add_argument("source")
    imp.add_argument("out")
    imp.add_argument("--format", choices=["laion", "parquet"], default="laion")
    imp.add_argument("--embedding-column", default="embedding")
    imp.add_argument("--uri-column", default=None, help="default: url (laion) or uri (parquet)")
    imp.add_argument("--model", default="unknown",
                     help="the model that made the embeddings: an open_clip name (with --pretrained or "
                          "--checkpoint, phrases work) or any other name (no text model: image seeds only)")
    imp_weights = imp.add_mutually_exclusive_group()
    imp_weights.add_argument("--pretrained", default=None, help="its open_clip pretrained tag")
    imp_weights.add_argument("--checkpoint", default=None, help="its open_clip checkpoint file")
    imp.add_argument("--no-text-model", dest="text_model", action="store_false", default=None,
                     help="record that phrases cannot be embedded for these vectors (image seeds only)")
    imp.add_argument("--allow-random-weights", action="store_true",
                     help="benchmarks only: accept an open_clip model without weights (its phrases are noise)")
    imp.add_argument("--workers", type=int, default=2)
    imp.add_argument("--no-progress", action="store_true")
    imp.set_defaults(func=cmd_import)

    build = commands.add_parser("build", help="build <corpus>/index/ (FAISS IVF-PQ) and measure its recall")
    build.add_argument("corpus")
    build.add_argument("--key", default=None, help="faiss index_factory key, e.g. IVF4096,PQ256x4fs")
    build.add_argument("--nprobe", type=int, default=None, help="default: chosen from the measured curve")
    build.add_argument("--rerank", type=int, default=None, help="candidates re-ranked exactly per query")
    build.add_argument("--recall-target", type=float, default=0.95)
    build.add_argument("--train-rows", type=int, default=None)
    build.add_argument("--queries", type=int, default=100)
    build.add_argument("--no-progress", action="store_true")
    build.add_argument("--log-memory", action="store_true",
                       help="print RSS (anonymous, file-backed, peak) after each build step to stderr")
    build.set_defaults(func=cmd_build)

    bench = commands.add_parser("bench", help="time index search against exact search")
    bench.add_argument("corpus")
    bench.add_argument("--queries", type=int, default=10)
    bench.add_argument("--k", type=int, default=100)
    bench.add_argument("--repeats", type=int, default=5)
    bench.add_argument("--exact-repeats", type=int, default=None, help="default: --repeats")
    bench.add_argument("--query-file", default=None, help=".npy of query vectors (default: perturbed corpus vectors)")
    bench.set_defaults(func=cmd_bench)

    bench_embed = commands.add_parser("bench-embed", help="images/s of `agile index images` per engine")
    bench_embed.add_argument("work", help="scratch folder for the test images and corpora")
    bench_embed.add_argument("--model", required=True)
    bench_embed.add_argument("--checkpoint", default=None)
    bench_embed.add_argument("--images", type=int, default=None,
                             help="images per run (default: enough that loading the model does not dominate)")
    bench_embed.add_argument("--engines", default="local,ray")
    bench_embed.add_argument("--repeats", type=int, default=3)
    bench_embed.add_argument("--batch-size", type=int, default=64)
    bench_embed.set_defaults(func=cmd_bench_embed)


def cmd_images(args: argparse.Namespace) -> None:
    from indexing.runner import DEFAULT_SHARD_SIZE, index_images

    start = time.perf_counter()
    corpus = index_images(args.source, args.out, model=args.model, pretrained=args.pretrained,
                          checkpoint=args.checkpoint, engine=args.engine, batch_size=args.batch_size,
                          shard_size=args.shard_size or DEFAULT_SHARD_SIZE, progress=not args.no_progress)
    skipped = corpus.manifest.producer.get("skipped", 0)
    print(json.dumps({"corpus": str(corpus.root), "count": corpus.count, "dim": corpus.dim,
                      "skipped": skipped, "seconds": round(time.perf_counter() - start, 1)}))


def cmd_import(args: argparse.Namespace) -> None:
    from indexing.importer import ImportConfig, import_embeddings

    start = time.perf_counter()
    config = ImportConfig(format=args.format, embedding_column=args.embedding_column, uri_column=args.uri_column,
                          model=args.model, pretrained=args.pretrained, checkpoint=args.checkpoint,
                          text_model=args.text_model, allow_random_weights=args.allow_random_weights,
                          workers=args.workers)
    corpus = import_embeddings(args.source, args.out, config, progress=not args.no_progress)
    text = bool(corpus.model.text_model)
    print(f"agile index import: model {corpus.model.name!r} "
          + ("has a text model: phrases and zero-shot work" if text else
             "has no text model: concepts start from image seeds or a coverage batch; no phrases, no zero-shot"),
          file=sys.stderr)
    print(json.dumps({"corpus": str(corpus.root), "count": corpus.count, "dim": corpus.dim,
                      "shards": len(corpus.shards), "text_model": text,
                      "seconds": round(time.perf_counter() - start, 1)}))


def cmd_build(args: argparse.Namespace) -> None:
    from indexing.build import BuildConfig, build_index

    if args.log_memory:
        logging.basicConfig(format="%(asctime)s %(message)s", level=logging.WARNING)
        logging.getLogger("indexing.build").setLevel(logging.INFO)
    config = BuildConfig(key=args.key, nprobe=args.nprobe, rerank=args.rerank, recall_target=args.recall_target,
                         train_rows=args.train_rows, queries=args.queries)
    info = build_index(args.corpus, config, progress=not args.no_progress)
    print(json.dumps(info.model_dump(mode="json"), indent=2))


def cmd_bench(args: argparse.Namespace) -> None:
    from indexing.bench import bench_search

    print(json.dumps(bench_search(args.corpus, queries=args.queries, k=args.k, repeats=args.repeats,
                                  exact_repeats=args.exact_repeats, query_file=args.query_file), indent=2))


def cmd_bench_embed(args: argparse.Namespace) -> None:
    from indexing.bench import EMBED_BENCH_IMAGES, bench_embedding

    images = args.images or EMBED_BENCH_IMAGES
    print(json.dumps(bench_embedding(args.work, args.model, args.checkpoint, images=images,
                                     engines=tuple(args.engines.split(",")), repeats=args.repeats,
                                     batch_size=args.batch_size), indent=2))

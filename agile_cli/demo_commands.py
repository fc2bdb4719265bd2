"""``agile demo ...``: build a demo-world corpus, list the concept suite, render a scene."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="the embedded demo world: scenes, compact CLIP, concept suite")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True, metavar="SUBCOMMAND")

    build = demo_sub.add_parser("build", help="render, embed (demo CLIP) and index N demo scenes")
    build.add_argument("out", type=Path, help="corpus directory to write")
    build.add_argument("--n", type=int, default=50_000, help="number of scenes (default 50000)")
    build.add_argument("--seed", type=int, default=0, help="world seed: scene i is demo://SEED/i")
    build.add_argument("--batch-size", type=int, default=256)
    build.add_argument("--shard-size", type=int, default=100_000)
    build.add_argument("--no-index", action="store_true", help="skip building the FAISS index")
    build.set_defaults(func=_build)

    concepts = demo_sub.add_parser("concepts", help="the concept suite; with a corpus, prevalence and zero-shot AUC-PR")
    concepts.add_argument("corpus", type=Path, nargs="?", help="a demo corpus to measure the concepts on")
    concepts.add_argument("--no-zero-shot", action="store_true", help="prevalence only (no model needed)")
    concepts.add_argument("--json", action="store_true", help="print JSON instead of a table")
    concepts.set_defaults(func=_concepts)

    render = demo_sub.add_parser("render", help="write the image of a demo://SEED/INDEX URI as PNG")
    render.add_argument("uri")
    render.add_argument("png", type=Path)
    render.add_argument("--scale", type=int, default=1, help="enlarge by this factor (nearest neighbour)")
    render.set_defaults(func=_render)


def _build(args: argparse.Namespace) -> int:
    from indexing.demo_build import DemoBuildConfig, build_demo_corpus

    config = DemoBuildConfig(n=args.n, seed=args.seed, batch_size=args.batch_size, shard_size=args.shard_size,
                             index=not args.no_index)
    print(json.dumps(build_demo_corpus(args.out, config), indent=2))
    return 0


def _concepts(args: argparse.Namespace) -> int:
    from agile.demo import load_suite

    suite = load_suite()
    if args.corpus is None:
        if args.json:
            print(json.dumps([c.model_dump() for c in suite], indent=2))
        else:
            for c in suite:
                print(f"{c.difficulty:4s}  {c.name:34s}  {c.predicate}")
        return 0
    from agile.corpus import Corpus
    from agile.demo.report import format_table, mean_auc_pr, suite_stats

    corpus = Corpus.open(args.corpus, verify="quick")
    embedder = None
    if not args.no_zero_shot:
        from agile.embedder import embedder_for_corpus

        embedder = embedder_for_corpus(corpus)
    rows = suite_stats(corpus, embedder, suite)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return 0
    print(format_table(rows))
    if embedder is not None:
        print(f"\nmean zero-shot AUC-PR: easy {mean_auc_pr(rows, 'easy'):.3f}, hard {mean_auc_pr(rows, 'hard'):.3f}")
    return 0


def _render(args: argparse.Namespace) -> int:
    from PIL import Image

    from agile.demo import render_uri

    img = render_uri(args.uri)
    if args.scale > 1:
        img = img.resize((img.width * args.scale, img.height * args.scale), Image.NEAREST)
    img.save(args.png)
    print(args.png)
    return 0

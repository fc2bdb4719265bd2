"""``agile bench al`` and ``agile bench train``: benchmarks of the labelling loop (JSON out)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from agile.corpus import Corpus


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="benchmarks of the labelling loop")
    commands = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCH")

    al = commands.add_parser("al", help="one margin-sampling round over a whole corpus (score all, pick k)")
    _corpus_arguments(al, n=10_000_000)
    al.add_argument("--scan-dir", help="where the int8 scan store lives (default <corpus>/scan)")
    al.add_argument("--k", type=int, default=100)
    al.add_argument("--baseline-rows", type=int, default=1_000_000,
                    help="rows of the in-RAM float32 baseline (scaled to the corpus)")
    al.add_argument("--no-exact-check", action="store_true", help="skip the exact float32 pass (overlap)")
    al.add_argument("--exact-runs", type=int, help="runs of the (slow) exact pass (default: --runs)")
    al.add_argument("--engine", choices=["local", "ray"], default="local",
                    help="ray: also time the round on Ray scan actors against the local round, run by run")
    al.add_argument("--actors", type=int, help="with --engine ray: scan actors (default: one per CPU of the cluster)")
    al.add_argument("--learner", choices=["mlp", "ensemble"], default="mlp",
                    help="the model whose round is timed: the paper's 3 x 128 MLP, or the ensemble (3 x 130)")
    al.add_argument("--strategy", action="append", default=[], dest="strategies", metavar="STRATEGY",
                    help="also time this query strategy's round against margin's, alternated run by run "
                         "(repeatable; agile.sampling.STRATEGIES)")
    al.add_argument("--classes", type=int, default=1,
                    help="also train a multi-category task of this many categories (and none of these) and "
                         "time its rounds (margin, entropy) against the binary model's, alternated run by run")
    al.set_defaults(func=cmd_al)

    tr = commands.add_parser("train", help="training the 3 x 128 model on 600 ratings, and the adaptive "
                                           "recipe's choice on them")
    _corpus_arguments(tr, n=1_000_000)
    tr.add_argument("--ratings", type=int, default=600)
    tr.add_argument("--random-negatives", type=int, help="default: TrainConfig's")
    tr.add_argument("--paper-runs", type=int, default=1, help="runs with the paper's 500k random negatives")
    tr.set_defaults(func=cmd_train)


def _corpus_arguments(parser: argparse.ArgumentParser, n: int) -> None:
    parser.add_argument("--corpus", help="an existing synthetic corpus (default: <work>/synth-<n>x<dim>)")
    parser.add_argument("--work", default="runs/bench", help="where a missing corpus is generated")
    parser.add_argument("--n", type=int, default=n)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)


def _open_corpus(args: argparse.Namespace) -> Corpus:
    if args.corpus:
        return Corpus.open(args.corpus, verify="quick")
    from agile.synth import SynthSpec, synth_corpus

    path = Path(args.work) / f"synth-{args.n}x{args.dim}"
    return synth_corpus(path, SynthSpec(n=args.n, dim=args.dim, clusters=1000, seed=0))


def cmd_al(args: argparse.Namespace) -> None:
    from eval.bench.loop_bench import bench_al

    print(json.dumps(bench_al(_open_corpus(args), args.scan_dir, args.runs, args.k, args.baseline_rows,
                              not args.no_exact_check, args.seed, args.exact_runs, args.engine, args.actors,
                              args.strategies, args.learner, args.classes),
                     indent=2))


def cmd_train(args: argparse.Namespace) -> None:
    from eval.bench.loop_bench import bench_train

    print(json.dumps(bench_train(_open_corpus(args), args.runs, args.ratings, args.random_negatives,
                                 args.paper_runs, args.seed), indent=2))

"""``agile export`` (a version as ONNX, TorchScript, numpy and a model card) and ``agile score`` (a whole corpus)."""
from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    exp = sub.add_parser("export", help="export a model version of a server's concept as a self-contained folder")
    exp.add_argument("corpus", help="the corpus the server serves")
    exp.add_argument("--data", required=True, help="the server's --data directory")
    exp.add_argument("--concept", type=int, required=True, help="concept id")
    exp.add_argument("--version", type=int, help="model version (default: the latest)")
    exp.add_argument("--out", required=True, help="folder to create")
    exp.add_argument("--target", help="judge and set the threshold for this target, e.g. '90%% precision at 50%% "
                                      "recall' (default: the concept's own target, if it has one)")
    exp.add_argument("--estimate", action="store_true", help="measure latency, throughput and memory here and put "
                                                             "them in the card")
    exp.add_argument("--load", type=float, help="with --estimate: images per second to size the cores for")
    exp.set_defaults(func=cmd_export)

    sco = sub.add_parser("score", help="score every image of a corpus with an export or a model version folder")
    sco.add_argument("corpus")
    sco.add_argument("--model", required=True, help="an `agile export` folder or a version folder (models/.../vNNNNNN)")
    sco.add_argument("--out", required=True, help="Parquet file to write (id, uri, score[, positive])")
    sco.add_argument("--threshold", type=float, help="also write `positive` (score >= threshold); "
                                                     "default: the export card's threshold")
    sco.add_argument("--top", type=int, help="write only the highest-scoring images, best first")
    sco.add_argument("--kernel", choices=["auto", "int8", "exact"], default="auto",
                     help="with --top: find the top images in one pass over the int8 scan "
                          "store and re-score them exactly (auto: where int8 measures faster here); exact: score "
                          "every image in float32. Written scores are exact either way")
    sco.add_argument("--engine", choices=["local", "ray"], default="local",
                     help="ray: each shard scored by the scan actor that holds it, on the cluster in RAY_ADDRESS "
                          "(or one started on this machine)")
    sco.add_argument("--actors", type=int, help="with --engine ray: scan actors (default: one per CPU of the cluster)")
    sco.set_defaults(func=cmd_score)


def cmd_export(args: argparse.Namespace) -> int:
    from agile.deployment import model_card
    from agile.export import FILES, export_folder
    from agile.resources import estimate
    from agile.session import SessionSettings
    from agile.targets import Target, parse_target
    from server.db import Database
    from server.loop import Loop
    from server.repository import Repository
    from server.settings import database_path
    from server.store import concept_session
    from server.watch import VersionWatch

    repo = Repository(Database(database_path(args.data)))
    loop = Loop(args.corpus, args.data)
    session = concept_session(repo, loop, VersionWatch({}), SessionSettings(), args.concept)
    versions = session.store.versions()
    if not versions:
        print(f"agile export: error: concept {args.concept} has no model version", file=sys.stderr)
        return 2
    version = args.version or versions[-1]
    stored = repo.target(args.concept)
    target = parse_target(args.target) if args.target else (Target.model_validate(stored[0]) if stored else None)
    card = model_card(session, version, target)
    model = loop.model(args.concept, version)
    if args.estimate:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            probe = export_folder(model, card, Path(tmp) / "probe")
            card = card.model_copy(update={"resources": estimate(probe / FILES["onnx"], loop.corpus.dim,
                                                                 loop.workspace.embedder, args.load)})
    out = export_folder(model, card, args.out)
    print(json.dumps({"out": str(out), "version": version, "threshold": card.threshold,
                      "target": card.target, "resources": card.resources}, indent=2))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from agile.corpus import Corpus
    from agile.corpus_scores import load_classifier, score_to_parquet

    corpus = Corpus.open(args.corpus, verify="quick")
    model, card = load_classifier(args.model)
    threshold = args.threshold if args.threshold is not None else (card.threshold if card else None)
    bar = tqdm(total=len(corpus.shards), desc="score", unit="shard", disable=not sys.stderr.isatty())
    summary = score_to_parquet(corpus, model, args.out, threshold=threshold, top=args.top, engine=args.engine,
                               card=card, progress=lambda done, total: bar.update(1), kernel=args.kernel,
                               actors=args.actors)
    bar.close()
    print(json.dumps(summary, indent=2))
    return 0

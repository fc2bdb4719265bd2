"""``agile eval simulate``, ``agile eval compare`` and ``agile eval concepts``."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("eval", help="evaluation: simulated users, comparisons, concept files")
    cmds = group.add_subparsers(dest="eval_command", required=True, metavar="EVAL_COMMAND")

    sim = cmds.add_parser("simulate", help="play the owner (or a crowd) from ground truth for every concept "
                          "(or multi-category task)")
    sim.add_argument("corpus")
    what = sim.add_mutually_exclusive_group(required=True)
    what.add_argument("--concepts", help="'suite' for the demo world's concept suite, or a cluster-concepts JSON file")
    what.add_argument("--tasks", help="'suite' for the demo world's multi-category tasks (agile/demo/tasks.json), "
                                      "or a cluster-tasks JSON file")
    sim.add_argument("--out", required=True, help="output directory (a re-run resumes)")
    # Defaults live in SimulationConfig and CrowdSpec: only the flags given are passed on.
    sim.add_argument("--rounds", type=int, help="active-learning rounds after expansion (default 5)")
    sim.add_argument("--batch", type=int, help="images rated per round (default 100)")
    sim.add_argument("--strategy", help="a query strategy of agile.sampling.STRATEGIES (default margin; a task's: "
                                        "margin, entropy, random or cluster-margin)")
    sim.add_argument("--start", choices=["text", "images"],
                     help="text (default): the concept's phrases; images: its name and a few example images "
                          "(ground-truth positives outside the held-out split)")
    sim.add_argument("--seed-images", type=int, help="example images of an image start (default 5)")
    sim.add_argument("--no-text", dest="text_model", action="store_false", default=None,
                     help="withhold the corpus's text model: owners start from example images, no zero-shot")
    sim.add_argument("--seeds", type=int)
    sim.add_argument("--rater", choices=["owner", "crowd"])
    sim.add_argument("--crowd-noise", type=float, help="chance one crowd rater flips an answer")
    sim.add_argument("--crowd-broaden", type=float)
    sim.add_argument("--crowd-narrow", type=float)
    sim.add_argument("--heldout", type=float, help="fraction of the corpus held out for evaluation")
    sim.add_argument("--random-negatives", type=int)
    sim.add_argument("--epochs", type=int, help="training epochs (default: the paper's 10)")
    sim.add_argument("--lr", type=float, help="Adam learning rate (default: the paper's 1e-4)")
    sim.add_argument("--learner", choices=["mlp", "logreg", "ensemble"],
                     help="ensemble (default): the paper's MLP and a scikit-learn logistic regression on the "
                          "rated images, as one model; mlp: exactly the paper's recipe; logreg: the logistic "
                          "regression alone, the loop a data scientist would write, as a peer")
    sim.add_argument("--recipe", choices=["fixed", "adaptive"],
                     help="fixed: the learner on the paper's schedule (default); adaptive: each version's learner chosen "
                          "among a few by cross-validation on its ratings (agile.recipes)")
    sim.add_argument("--no-mix", dest="mix_likely_positives", action="store_false", default=None,
                     help="never mix the model's top scores into a batch likely to hold almost no positives "
                          "(every active-learning batch is exactly the strategy's pick)")
    sim.add_argument("--only", action="append", default=[], metavar="CONCEPT",
                     help="simulate only this concept or task (repeatable)")
    sim.add_argument("--bootstrap", type=int, help="resamples for 95%% intervals on the stratified evaluation sets")
    sim.add_argument("--heldout-bootstrap", type=int,
                     help="resamples for 95%% intervals on the held-out split (slow on big corpora)")
    sim.add_argument("--zero-shot-threshold", type=float)
    sim.add_argument("--no-plots", action="store_true")
    sim.add_argument("--allow-random-weights", action="store_true",
                     help="benchmarks only: an open_clip model without weights (its phrases are noise)")
    sim.set_defaults(func=cmd_simulate)

    bt = cmds.add_parser("backtest", help="at 300 labels, call whether AUC-PR targets will be met at 600; "
                         "score the calls against what happened")
    bt.add_argument("corpus")
    bt.add_argument("--concepts", required=True, help="'suite' or a cluster-concepts JSON file")
    bt.add_argument("--out", required=True, help="output directory (a re-run resumes)")
    bt.add_argument("--seeds", type=int)
    bt.add_argument("--targets", type=float, nargs="+", help="AUC-PR targets (default 0.5 0.8)")
    bt.add_argument("--random-negatives", type=int)
    bt.add_argument("--only", action="append", default=[], metavar="CONCEPT")
    bt.set_defaults(func=cmd_backtest)

    ast = cmds.add_parser("assistant", help="the assistant's numbers: mislabels found among planted flips, "
                          "phrase suggestions before the first batch, findings and Ask timings")
    ast.add_argument("corpus")
    ast.add_argument("--concepts", default="suite", help="'suite' or a cluster-concepts JSON file "
                     "(--parts scale: a synthetic corpus with a cluster column instead)")
    ast.add_argument("--out", required=True, help="working directory (vocabulary cache, scan store)")
    ast.add_argument("--labels", type=int, help="ratings per simulated owner (default 600)")
    ast.add_argument("--flip", type=float, help="chance the owner flips an answer (default 0.10)")
    ast.add_argument("--random-negatives", type=int)
    ast.add_argument("--only", action="append", default=[], metavar="CONCEPT")
    ast.add_argument("--parts", nargs="+", choices=["mislabels", "suggestions", "timing", "scale"],
                     default=["mislabels", "suggestions", "timing"])
    ast.set_defaults(func=cmd_assistant)

    cmp = cmds.add_parser("compare", help="compare simulation runs at equal numbers of images rated")
    cmp.add_argument("runs", nargs="+", help="output directories of `agile eval simulate`")
    cmp.add_argument("--out", required=True)
    cmp.add_argument("--title", default="")
    cmp.add_argument("--ceiling", help="the JSON of `agile eval ceiling --out`: also report each run's share of "
                                       "the probe ceiling reached at its last round")
    cmp.set_defaults(func=cmd_compare)

    stp = cmds.add_parser("stopping", help="held-out AUC-PR gained after versions the session called settled "
                          "and after the rest, from the runs of `agile eval simulate` (the current rule)")
    stp.add_argument("runs", nargs="+", help="output directories of `agile eval simulate`")
    stp.set_defaults(func=cmd_stopping)

    cei = cmds.add_parser("ceiling", help="per concept: a linear probe on every label, measured on the held-out "
                          "split (what the embedding can express at all)")
    cei.add_argument("corpus")
    cei.add_argument("--concepts", required=True, help="'suite' or a cluster-concepts JSON file")
    cei.add_argument("--heldout", type=float, default=0.2, help="the same fraction as the simulation's")
    cei.add_argument("--train-rows", type=int, default=50_000, help="labelled images the probe is fitted on")
    cei.add_argument("--out", default=None, help="JSON file to write the table to")
    cei.set_defaults(func=cmd_ceiling)

    con = cmds.add_parser("concepts", help="write easy and hard cluster concepts for an `agile synth` corpus")
    con.add_argument("corpus")
    con.add_argument("--out", required=True, help="JSON file to write")
    con.add_argument("--easy", type=int, default=6)
    con.add_argument("--hard", type=int, default=6)
    con.add_argument("--seed", type=int, default=0)
    con.set_defaults(func=cmd_concepts)


def _given(args: argparse.Namespace, names: dict[str, str]) -> dict:
    """{config field: value} for the flags the user gave (flag dest -> field name)."""
    return {field: getattr(args, dest) for dest, field in names.items() if getattr(args, dest) is not None}


def simulation_config(args: argparse.Namespace):
    """The SimulationConfig of ``agile eval simulate``'s flags; flags left out keep the config's defaults."""
    from eval.simulate import SimulationConfig
    from eval.users import CrowdSpec

    return SimulationConfig(**_given(args, {"rounds": "rounds", "batch": "batch", "strategy": "strategy",
                                            "seeds": "seeds", "rater": "rater", "heldout": "heldout_fraction",
                                            "random_negatives": "random_negatives", "epochs": "epochs",
                                            "lr": "lr", "learner": "learner", "recipe": "recipe",
                                            "bootstrap": "bootstrap",
                                            "heldout_bootstrap": "heldout_bootstrap",
                                            "zero_shot_threshold": "zero_shot_threshold",
                                            "mix_likely_positives": "mix_likely_positives",
                                            "start": "start", "seed_images": "seed_images",
                                            "text_model": "text_model"}),
                            crowd=CrowdSpec(**_given(args, {"crowd_broaden": "broaden", "crowd_narrow": "narrow",
                                                            "crowd_noise": "noise"})))


# Flags of a concept's simulation that a task's has no use for (its model is the paper's softmax MLP, rated by
# its owner, from its categories' phrases).
CONCEPT_ONLY = {"rater": "--rater", "crowd_noise": "--crowd-noise", "crowd_broaden": "--crowd-broaden",
                "crowd_narrow": "--crowd-narrow", "learner": "--learner", "recipe": "--recipe",
                "mix_likely_positives": "--no-mix", "zero_shot_threshold": "--zero-shot-threshold",
                "start": "--start", "seed_images": "--seed-images", "text_model": "--no-text"}


def task_simulation_config(args: argparse.Namespace):
    """The TaskSimulationConfig of ``agile eval simulate --tasks``'s flags; flags left out keep its defaults."""
    from eval.errors import EvalError
    from eval.task_run import TaskSimulationConfig

    given = [flag for dest, flag in CONCEPT_ONLY.items() if getattr(args, dest) is not None]
    if given:
        raise EvalError(f"{', '.join(given)}: not a setting of a task's simulation")
    return TaskSimulationConfig(**_given(args, {"rounds": "rounds", "batch": "batch", "strategy": "strategy",
                                                "seeds": "seeds", "heldout": "heldout_fraction",
                                                "random_negatives": "random_negatives", "epochs": "epochs",
                                                "lr": "lr", "bootstrap": "bootstrap",
                                                "heldout_bootstrap": "heldout_bootstrap"}))


def cmd_simulate(args: argparse.Namespace) -> None:
    from eval.report import markdown_table
    from eval.runner import run_simulation

    if args.tasks is not None:
        return _simulate_tasks(args)
    config = simulation_config(args)
    report = run_simulation(args.corpus, args.concepts, config, args.out, plots=not args.no_plots,
                            only=args.only, allow_random_weights=args.allow_random_weights)
    if report.get("metrics"):
        print(markdown_table(report))
    print(json.dumps({k: report.get(k) for k in ("corpus", "runs", "runs_computed_now", "skipped", "seconds",
                                                   "peak_rss_mb", "plots")}, indent=2))


def _simulate_tasks(args: argparse.Namespace) -> None:
    from eval.task_report import markdown_task_table
    from eval.task_runner import run_task_simulation

    report = run_task_simulation(args.corpus, args.tasks, task_simulation_config(args), args.out, only=args.only,
                                 allow_random_weights=args.allow_random_weights)
    if report.get("metrics"):
        print(markdown_task_table(report))
    print(json.dumps({k: report.get(k) for k in ("corpus", "runs", "runs_computed_now", "skipped", "seconds",
                                                   "peak_rss_mb")}, indent=2))


def cmd_backtest(args: argparse.Namespace) -> None:
    from eval.backtest import BacktestConfig, run_backtest

    given = _given(args, {"seeds": "seeds", "random_negatives": "random_negatives"})
    if args.targets:
        given["targets"] = tuple(args.targets)
    report = run_backtest(args.corpus, args.concepts, BacktestConfig(**given), args.out, only=args.only)
    print(json.dumps(report["summary"], indent=2))


def cmd_compare(args: argparse.Namespace) -> None:
    from eval.compare import compare_runs, markdown, markdown_ceiling, markdown_extremes, markdown_paired

    result = compare_runs(args.runs, args.out, args.title, args.ceiling)
    if result.get("kind") == "tasks":
        print(result["markdown"])
        return
    print(markdown(result["auc_pr"]) + markdown_paired(result["paired_auc_pr"])
          + markdown_extremes(result["paired_auc_pr"])
          + (markdown_ceiling(result["ceiling_share"]) if result["ceiling_share"] else ""))
    print(json.dumps({"plot": result["plot"]}))


def cmd_stopping(args: argparse.Namespace) -> None:
    from pathlib import Path

    from eval.errors import EvalError
    from eval.results import ConceptRunResult
    from eval.stopping import stopping_summary, stopping_table

    paths = sorted(p for d in args.runs for p in (Path(d) / "concepts").glob("*.json"))
    runs = [ConceptRunResult.read(p, json.loads(p.read_text())).to_json() for p in paths]
    summary = stopping_summary(runs)
    if summary is None:
        raise EvalError(f"no run in {', '.join(args.runs)} records how its versions relabelled the fixed sample")
    print(f"{len(runs)} runs\n\n" + stopping_table(summary))


def cmd_ceiling(args: argparse.Namespace) -> None:
    from agile.atomic import atomic_write_json
    from agile.corpus import Corpus
    from eval.ceiling import probe_ceiling
    from eval.concepts import load_concepts
    from eval.split import HeldOutSplit

    corpus = Corpus.open(args.corpus, verify="quick")
    rows = probe_ceiling(corpus, load_concepts(args.concepts, corpus),
                         HeldOutSplit.for_corpus(corpus, args.heldout), train_rows=args.train_rows)
    print("| concept | difficulty | prevalence | probe AUC-PR |\n| --- | --- | --- | --- |")
    for r in rows:
        auc = "n/a" if r["auc_pr"] is None else f"{r['auc_pr']:.3f}"
        print(f"| {r['concept']} | {r['difficulty']} | {100 * r['prevalence']:.2f}% | {auc} |")
    if args.out:
        atomic_write_json(args.out, {"corpus": str(corpus.root), "train_rows": args.train_rows, "concepts": rows})


def cmd_concepts(args: argparse.Namespace) -> None:
    from agile.corpus import Corpus
    from agile.synth import load_world
    from eval.concepts import make_cluster_concepts, write_cluster_concepts

    corpus = Corpus.open(args.corpus, verify="quick")
    _, centers = load_world(corpus.root)
    concepts = make_cluster_concepts(corpus, centers, args.easy, args.hard, args.seed)
    write_cluster_concepts(args.out, concepts)
    print(json.dumps({"out": args.out, "concepts": [c.name for c in concepts]}))


def cmd_assistant(args: argparse.Namespace) -> int:
    from eval.assistant_bench import BenchConfig, run_bench

    config = BenchConfig(**_given(args, {"labels": "labels", "flip": "flip", "random_negatives": "random_negatives"}))
    report = run_bench(args.corpus, args.concepts, args.out, config, args.only, tuple(args.parts))
    print(json.dumps(report, indent=1, default=float))
    return 0

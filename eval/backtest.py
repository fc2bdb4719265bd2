"""Back-test of target feasibility: at 300 labels, is the call about 600 labels right?

For every concept and seed a simulated owner runs the labelling session to
``at_labels`` (the expansion batch, then margin rounds), rates the
stratified evaluation set the session offers then, and asks for the status
of each target ``AUC-PR >= t``. The call is "will be met by ``horizon``
labels" when the status is met, or not yet with an estimate that fits in
the remaining labels; otherwise "will not". The owner then goes on to
``horizon`` labels; the truth is whether the version trained on them meets
the target on the same evaluation set (what the owner would see), and also
on the held-out split (what is really so). Reported: the share of right
calls, and the error of the labels estimate where one was given and the
target was then reached.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from agile.deployment import status_of
from agile.evaluation import compute_metrics
from agile.refusals import Refusal
from agile.session import Session, SessionSettings
from agile.session_store import EVALUATION, MemoryStore
from agile.targets import Target
from agile.training import OneClassError
from agile.workspace import Workspace
from eval.concepts import GroundTruthConcept
from eval.split import HeldOutSplit


@dataclass(frozen=True)
class BacktestConfig:
    targets: tuple[float, ...] = (0.5, 0.8)
    batch: int = 100
    at_labels: int = 300
    horizon: int = 600
    seeds: int = 3
    random_negatives: int | None = None
    bootstrap: int = 200


def _labels_reaching(goal: float, points: list[tuple[int, float]]) -> int | None:
    return next((n for n, value in points if value >= goal), None)


def backtest_concept(workspace: Workspace, concept: GroundTruthConcept, truth: np.ndarray, split: HeldOutSplit,
                     config: BacktestConfig, seed: int) -> dict:
    store = MemoryStore.create(concept.name, concept.positives, concept.negatives, reserved=split.ids)
    session = Session(workspace, store, seed=seed,
                      settings=SessionSettings(batch_size=config.batch, random_negatives=config.random_negatives))
    start, calls, trained = time.perf_counter(), {}, None
    while len(store.labels().ids) < config.horizon:
        batch = session.expand() if trained is None else session.next_batch(trained)
        store.rate(batch.ids, truth[batch.ids])
        try:
            trained = session.train()
        except OneClassError:
            trained = None
        if len(store.labels().ids) == config.at_labels and trained is not None:
            evaluation = session.evaluation_set()
            store.rate(evaluation.batch.ids, truth[evaluation.batch.ids])
            for t in config.targets:
                try:
                    status = status_of(session, Target(metric="auc_pr", value=t), config.bootstrap)
                    calls[t] = {"state": status.state, "value": status.value, "labels_needed": status.labels_needed,
                                "asymptote": status.asymptote}
                except Refusal as e:
                    calls[t] = {"state": "refused", "reason": str(e)}
    labels = store.labels(EVALUATION)
    eval_truth = labels.labels > 0.5
    curve = []  # (training labels, AUC-PR on the evaluation set) per version, and on the held-out split
    heldout = []
    for v in store.versions():
        model, n = store.model(v), store.sidecar(v).labels.count
        curve.append((n, compute_metrics(eval_truth, workspace.score_ids(model, labels.ids)).auc_pr)
                     if 0 < eval_truth.sum() < len(eval_truth) else (n, float("nan")))
        heldout.append((n, compute_metrics(truth[split.ids], workspace.score_ids(model, split.ids)).auc_pr))
    rows = []
    for t, call in calls.items():
        if call["state"] == "refused":
            rows.append({"target": t, **call})
            continue
        predicted = call["state"] == "met" or (call["state"] == "not_yet" and call["labels_needed"] is not None
                                               and call["labels_needed"] <= config.horizon - config.at_labels)
        final_eval, final_heldout = curve[-1][1], heldout[-1][1]
        reached = _labels_reaching(t, curve)
        rows.append({"target": t, **call, "predicted_met": predicted,
                     "met_on_evaluation_set": bool(final_eval >= t), "met_on_heldout": bool(final_heldout >= t),
                     "labels_when_reached": reached,
                     "labels_error": (None if call["labels_needed"] is None or reached is None
                                      else config.at_labels + call["labels_needed"] - reached)})
    return {"concept": concept.name, "difficulty": concept.difficulty, "seed": seed, "calls": rows,
            "evaluation_set": {"images": len(labels.ids), "positives": int(eval_truth.sum())},
            "curve": curve, "heldout_curve": heldout, "seconds": round(time.perf_counter() - start, 1)}


def summarise_backtest(runs: list[dict]) -> dict:
    """Per target: share of right calls (against the evaluation set and the held-out truth), label error."""
    out = {}
    targets = sorted({c["target"] for r in runs for c in r["calls"]})
    for t in targets:
        calls = [c for r in runs for c in r["calls"] if c["target"] == t and "predicted_met" in c]
        refused = sum(1 for r in runs for c in r["calls"] if c["target"] == t and c["state"] == "refused")
        errors = [abs(c["labels_error"]) for c in calls if c["labels_error"] is not None]
        out[str(t)] = {
            "calls": len(calls), "refused": refused,
            "right_vs_evaluation_set": float(np.mean([c["predicted_met"] == c["met_on_evaluation_set"]
                                                      for c in calls])) if calls else None,
            "right_vs_heldout": float(np.mean([c["predicted_met"] == c["met_on_heldout"] for c in calls]))
            if calls else None,
            "states": {s: sum(c["state"] == s for c in calls) for s in ("met", "not_yet", "out_of_reach")},
            "met_at_horizon": int(sum(c["met_on_evaluation_set"] for c in calls)),
            "labels_error_median": float(np.median(errors)) if errors else None,
            "labels_estimates": len(errors)}
    return out


def run_backtest(corpus_path, concepts_source, config: BacktestConfig, out, only=(), progress: bool = True) -> dict:
    """Every concept x seed (resumable: one JSON per run in ``out/runs``), then ``out/backtest.json``."""
    import json
    from pathlib import Path

    from tqdm import tqdm

    from agile.atomic import atomic_write_json
    from agile.corpus import Corpus
    from eval.concepts import concept_slug, load_concepts
    from eval.runner import chosen_concepts

    out = Path(out)
    corpus = Corpus.open(corpus_path, verify="quick")
    concepts = chosen_concepts(load_concepts(concepts_source, corpus), only)
    workspace = Workspace(corpus, out)
    split = HeldOutSplit.for_corpus(corpus)
    runs = []
    bar = tqdm(total=len(concepts) * config.seeds, desc="backtest", unit="run", disable=not progress)
    for concept in concepts:
        truth = concept.labels(corpus)
        for seed in range(config.seeds):
            path = out / "runs" / f"{concept_slug(concept.name)}__seed{seed}.json"
            if path.is_file():
                runs.append(json.loads(path.read_text()))
            else:
                runs.append(backtest_concept(workspace, concept, truth, split, config, seed))
                atomic_write_json(path, runs[-1])
            bar.update()
    bar.close()
    report = {"corpus": str(corpus.root), "config": config.__dict__, "runs": len(runs),
              "summary": summarise_backtest(runs)}
    atomic_write_json(out / "backtest.json", report)
    return report

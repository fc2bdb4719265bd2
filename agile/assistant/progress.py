"""Progress and stopping signals: against zero-shot, label churn between versions, a batch with almost no
positives, and the estimated prevalence."""
from __future__ import annotations

import numpy as np

from agile.assistant.findings import Evidence, Finding, pct
from agile.assistant.state import AssistantState
from agile.session import Session
from agile.session_store import TRAINING

STOPPED = 0.01       # share of the sample whose label changed between the last two versions
FEW_POSITIVES = 0.05


def find_against_zero_shot(state: AssistantState) -> list[Finding]:
    if not state.versions or len(state.evaluation_labels.ids) == 0:
        return []
    result = Session(state.workspace, state.store, seed=0).evaluate(bootstrap=0)
    if not result.ready:
        return []
    by_name = {m.model: m.metrics for m in result.models if m.metrics is not None}
    latest, zero = by_name.get(f"v{state.versions[-1]}"), by_name.get("zero-shot")
    if latest is None or zero is None or latest.auc_pr > zero.auc_pr:
        return []
    v = state.versions[-1]
    return [Finding(
        kind="below-zero-shot", key="below-zero-shot", severity="warn",
        title=f"Version {v} does not beat zero-shot yet",
        message=(f"On the {result.rated} rated evaluation images, version {v} has AUC-PR {latest.auc_pr:.3f} and "
                 f"the phrases alone (zero-shot) {zero.auc_pr:.3f}. Rate more rounds, or check the phrases."),
        evidence=Evidence(figures={"auc_pr": latest.auc_pr, "zero_shot_auc_pr": zero.auc_pr,
                                   "evaluation_rated": result.rated}), usefulness=0.8)]


def label_churn(state: AssistantState) -> float | None:
    """Share of the fixed sample whose predicted label changed between the last two versions."""
    if len(state.versions) < 2:
        return None
    a, b = (state.sample_scores(v) >= 0.5 for v in state.versions[-2:])
    return float(np.mean(a != b))


def find_churn(state: AssistantState) -> list[Finding]:
    churn = label_churn(state)
    if churn is None:
        return []
    old, new = state.versions[-2:]
    stopped = churn < STOPPED
    return [Finding(
        kind="model-stopped" if stopped else "model-changing", key="model-churn",
        severity="suggest" if stopped else "info",
        title="The model stopped changing" if stopped else f"Version {new} changed {pct(churn)} of labels",
        message=(f"Between version {old} and {new}, {pct(churn)} of a fixed sample of {len(state.sample_ids):,} "
                 "images changed predicted label." + (" More rounds of the same kind are unlikely to help: "
                                                      "evaluate, or add phrases." if stopped else "")),
        evidence=Evidence(figures={"changed": churn, "sample": len(state.sample_ids)}),
        usefulness=0.7 if stopped else 0.1)]


def find_poor_batch(state: AssistantState) -> list[Finding]:
    batches = state.store.batch_ids(TRAINING)
    if len(batches) == 0 or state.store.latest_round() is None:
        return []
    latest_round = state.store.latest_round()
    rated = state.labels.rounds == latest_round
    if rated.sum() < 10:
        return []
    share = float(state.truth[rated].mean())
    if share >= FEW_POSITIVES:
        return []
    return [Finding(
        kind="few-positives", key=f"few-positives:{latest_round}", severity="suggest",
        title=f"Round {latest_round} brought almost no positives",
        message=(f"Only {int(state.truth[rated].sum())} of {int(rated.sum())} rated images of round {latest_round} "
                 "are positive. Try the margin-pm strategy (half the batch from the highest scores) or add phrases "
                 "for the concept."),
        evidence=Evidence(figures={"positive_share": share, "rated": int(rated.sum())}), usefulness=0.6)]


def find_prevalence(state: AssistantState) -> list[Finding]:
    if not state.versions:
        return []
    v = state.versions[-1]
    share = float(np.mean(state.sample_scores(v) >= 0.5))
    estimate = int(round(share * state.workspace.corpus.count))
    return [Finding(
        kind="prevalence", key="prevalence", severity="info",
        title=f"About {pct(share)} of the corpus is positive (version {v})",
        message=(f"Version {v} scores {pct(share)} of a fixed sample of {len(state.sample_ids):,} images at 0.5 or "
                 f"more: about {estimate:,} of the corpus's {state.workspace.corpus.count:,} images."),
        evidence=Evidence(figures={"prevalence": share, "images": estimate}), usefulness=0.1)]


def find_progress(state: AssistantState) -> list[Finding]:
    return [*find_against_zero_shot(state), *find_churn(state), *find_poor_batch(state), *find_prevalence(state)]

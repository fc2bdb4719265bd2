"""Progress and stopping signals: against zero-shot, label churn between versions, a batch with almost no
positives, and the estimated prevalence."""
from __future__ import annotations

import numpy as np

from agile.assistant.findings import Evidence, Finding, pct
from agile.assistant.state import AssistantState
from agile.session import Session
from agile.session_store import TRAINING

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


def find_churn(state: AssistantState) -> list[Finding]:
    """The session's stopping signal (agile.stability): whether the last versions still relabel the sample."""
    if len(state.versions) < 2:
        return []
    new = state.versions[-1]
    s = state.stability(new)
    figures = {"changed": s.changed, "kappa": s.kappa, "calm_versions": s.calm_versions, "sample": s.sample}
    said = (f"Between version {s.previous_version} and {new}, {pct(s.changed)} of a fixed sample of {s.sample:,} "
            f"images changed predicted label (agreement kappa {s.kappa:.2f}).")
    if s.settled:
        return [Finding(
            kind="model-stopped", key="model-churn", severity="suggest", title="The model stopped changing",
            message=(f"{said} The last {s.calm_versions} versions hardly changed it: more rounds of the same kind "
                     "are unlikely to help. Evaluate, or add phrases or example images for what it still misses."),
            evidence=Evidence(figures=figures), usefulness=0.7)]
    return [Finding(
        kind="model-changing", key="model-churn", severity="info",
        title=f"Version {new} changed {pct(s.changed)} of labels",
        message=f"{said} The model is still moving: another round is likely to help.",
        evidence=Evidence(figures=figures), usefulness=0.1)]


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

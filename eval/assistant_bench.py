"""The assistant's numbers: suspected mislabels against planted flips, phrase suggestions before the first
batch, and how long findings and Ask take.

- Mislabels: a simulated owner rates 600 images through the session (expansion, then margin rounds of 100)
  and flips each answer with probability ``flip``; the mislabel finding is scored against the known flips
  (precision, recall). The AUC-PR on the held-out split of a model trained on the ratings as they were is
  paired with one trained after the owner reviewed the suspects (flipping those rated wrongly, keeping the
  rest) and with one trained after flipping every suspect unseen.
- Suggestions: zero-shot and round-1 AUC-PR of the concept's phrases vs the same plus the top 3 suggested
  positive phrases (agile.assistant.suggestions.first_phrases), paired over concepts.
- Timing: every finding of one concept, and one Ask about an image (no language model), medians.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agile.assistant import AssistantState, Target, advise, ask
from agile.assistant.mislabels import neighbour_disagreement, suspicion
from agile.assistant.suggestions import first_phrases
from agile.assistant.vocabulary import load_vocabulary
from agile.atomic import atomic_write_json
from agile.corpus import Corpus
from agile.errors import AgileError
from agile.evaluation import compute_metrics
from agile.scoring import score_corpus
from agile.session import Session, SessionSettings
from agile.session_store import MemoryStore
from agile.training import OneClassError
from agile.workspace import Workspace
from eval.split import HeldOutSplit


@dataclass(frozen=True)
class BenchConfig:
    labels: int = 600
    batch: int = 100
    flip: float = 0.10
    seed: int = 0
    random_negatives: int | None = None


def paired(a: list[float], b: list[float], resamples: int = 2000, seed: int = 0) -> dict:
    """Mean of b - a over concepts with a bootstrap 95% interval."""
    d = np.asarray(b) - np.asarray(a)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (resamples, len(d)))].mean(axis=1)
    return {"mean_diff": round(float(d.mean()), 4), "ci95": [round(float(np.percentile(means, 2.5)), 4),
                                                            round(float(np.percentile(means, 97.5)), 4)],
            "n": len(d), "better": int((d > 0).sum()), "worse": int((d < 0).sum())}


def _heldout_auc_pr(workspace, model, truth, split) -> float:
    scores = score_corpus(workspace.corpus, model)[split.ids]
    return compute_metrics(truth[split.ids], scores, 0.5).auc_pr


def mislabel_run(workspace: Workspace, concept, truth: np.ndarray, split: HeldOutSplit, cfg: BenchConfig) -> dict:
    rng = np.random.default_rng(cfg.seed)
    store = MemoryStore.create(concept.name, concept.positives, concept.negatives, reserved=split.ids)
    settings = SessionSettings(batch_size=cfg.batch, random_negatives=cfg.random_negatives)
    session = Session(workspace, store, seed=cfg.seed, settings=settings)
    flipped: set[int] = set()
    trained = None
    while len(store.labels().ids) < cfg.labels:
        batch = session.expand() if trained is None else session.next_batch(trained)
        flips = rng.random(len(batch.ids)) < cfg.flip
        store.rate(batch.ids, truth[batch.ids] ^ flips)
        flipped |= set(batch.ids[flips].tolist())
        try:
            trained = session.train()
        except OneClassError:
            trained = None
    labels = store.labels()
    vectors = workspace.corpus.vectors(labels.ids).astype(np.float32)
    t0 = time.perf_counter()
    suspect, _, p_given, _ = suspicion(vectors, labels.labels > 0.5)
    seconds = time.perf_counter() - t0
    disagree, _ = neighbour_disagreement(vectors, labels.labels > 0.5)
    suspects = set(labels.ids[suspect].tolist())
    hits = len(suspects & flipped)
    noisy = _heldout_auc_pr(workspace, trained.model, truth, split) if trained else float("nan")
    ids, as_rated = labels.ids[suspect], labels.labels[suspect] > 0.5
    # An owner who looks at each suspect (the finding's "flip" and "keep" buttons) flips the ones they rated
    # wrongly and keeps the rest; the model is trained again on the same recipe.
    wrong = as_rated != truth[ids]
    store.rate(ids[wrong], truth[ids[wrong]])
    reviewed = _heldout_auc_pr(workspace, session.train().model, truth, split)
    # An owner who flips every suspect without looking.
    store.rate(ids, ~as_rated)
    followed = _heldout_auc_pr(workspace, session.train().model, truth, split)
    return {"concept": concept.name, "labels": len(labels.ids), "flipped": len(flipped), "suspects": len(suspects),
            "hits": hits, "precision": hits / len(suspects) if suspects else float("nan"),
            "recall": hits / len(flipped) if flipped else float("nan"), "auc_pr_noisy": noisy,
            "auc_pr_reviewed": reviewed, "auc_pr_followed": followed, "finder_seconds": round(seconds, 3),
            # every rating's evidence, so the finder's thresholds can be chosen on some concepts, tried on others
            "per_rating": {"p_given": np.round(p_given, 4).tolist(), "disagree": np.round(disagree, 2).tolist(),
                           "flipped": np.isin(labels.ids, list(flipped)).tolist()}}


def suggestion_run(workspace: Workspace, vocabulary, concept, truth: np.ndarray, split: HeldOutSplit,
                   cfg: BenchConfig) -> dict:
    # An owner adds suggestions they have not typed already, as positives or as negatives.
    typed = {" ".join(p.split()).casefold() for p in (concept.name, *concept.positives, *concept.negatives)}
    offered = first_phrases(workspace, vocabulary, concept.name, k=3 + len(typed))
    added = [s["phrase"] for s in offered if " ".join(s["phrase"].split()).casefold() not in typed][:3]
    out = {"concept": concept.name, "added": added}
    for arm, positives in (("plain", list(concept.positives)), ("suggested", [*concept.positives, *added])):
        text = workspace.zero_shot_ids(positives, split.ids)
        out[f"zero_shot_{arm}"] = compute_metrics(truth[split.ids], text, 0.28).auc_pr
        store = MemoryStore.create(concept.name, positives, concept.negatives, reserved=split.ids)
        session = Session(workspace, store, seed=cfg.seed,
                          settings=SessionSettings(batch_size=cfg.batch, random_negatives=cfg.random_negatives))
        batch = session.expand()
        store.rate(batch.ids, truth[batch.ids])
        try:
            out[f"round1_{arm}"] = _heldout_auc_pr(workspace, session.train().model, truth, split)
        except OneClassError:
            out[f"round1_{arm}"] = float("nan")
    return out


def timing(workspace: Workspace, state: AssistantState, image: int, repeats: int = 5) -> dict:
    """Medians of all findings of one concept and of one Ask about an image (fresh state each time)."""
    def fresh():
        return AssistantState(workspace, state.store, state.vocabulary, state.per_phrase)

    findings, asks = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = len(advise(fresh()))
        findings.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ask(fresh(), Target("image", image=image))
        asks.append(time.perf_counter() - t0)
    return {"findings_median_s": round(float(np.median(findings)), 3), "findings": n,
            "ask_image_median_s": round(float(np.median(asks)), 3), "repeats": repeats}


def run_bench(corpus_path: str, concepts_source: str, out_dir: str, cfg: BenchConfig, only: list[str] | None = None,
              parts: tuple[str, ...] = ("mislabels", "suggestions", "timing")) -> dict:
    from eval.concepts import load_concepts

    if parts == ("scale",):
        return {"scale": timing_at_scale(corpus_path, out_dir, cfg)}
    corpus = Corpus.open(corpus_path, verify="quick")
    workspace = Workspace(corpus, out_dir)
    concepts = [c for c in load_concepts(concepts_source, corpus) if not only or c.name in only]
    split = HeldOutSplit.for_corpus(corpus)
    vocabulary = load_vocabulary(workspace, out_dir, in_corpus=False)
    report: dict = {"corpus": str(corpus_path), "count": corpus.count, "config": cfg.__dict__}
    saved = Path(out_dir) / "assistant-bench.json"
    if "mislabels" in parts:
        runs, skipped = [], []
        for c in concepts:
            try:
                runs.append(mislabel_run(workspace, c, c.labels(corpus), split, cfg))
            except AgileError as e:  # e.g. a concept whose 600 ratings hold one class only
                skipped.append({"concept": c.name, "error": str(e)})
        hits, sus, flips = (sum(r[k] for r in runs) for k in ("hits", "suspects", "flipped"))
        report["mislabels"] = {"runs": runs, "skipped": skipped, "precision": round(hits / max(sus, 1), 3),
                               "recall": round(hits / max(flips, 1), 3),
                               "auc_pr_reviewed_vs_noisy": paired([r["auc_pr_noisy"] for r in runs],
                                                                  [r["auc_pr_reviewed"] for r in runs]),
                               "auc_pr_followed_vs_noisy": paired([r["auc_pr_noisy"] for r in runs],
                                                                  [r["auc_pr_followed"] for r in runs])}
        atomic_write_json(saved, report)  # a later part that fails loses nothing of this one
    if "suggestions" in parts:
        runs = [suggestion_run(workspace, vocabulary, c, c.labels(corpus), split, cfg) for c in concepts]
        ok = [r for r in runs if not np.isnan(r["round1_plain"]) and not np.isnan(r["round1_suggested"])]
        report["suggestions"] = {"runs": runs,
                                 "zero_shot": paired([r["zero_shot_plain"] for r in runs],
                                                     [r["zero_shot_suggested"] for r in runs]),
                                 "round1": paired([r["round1_plain"] for r in ok], [r["round1_suggested"] for r in ok])}
        atomic_write_json(saved, report)
    if "timing" in parts:
        report["timing"] = timing_on(workspace, concepts[0], corpus, split, vocabulary, cfg)
    return report


def timing_at_scale(corpus_path: str, out_dir: str, cfg: BenchConfig, cluster: int = 17) -> dict:
    """Findings and Ask on a big synthetic corpus: a concept 'cluster N' with ``cfg.labels`` ratings
    (half from its cluster, half at random) and two versions; the first request (phrase searches, the
    sample read) and the steady state after it are both reported."""
    corpus = Corpus.open(corpus_path, verify="quick")
    workspace = Workspace(corpus, out_dir)
    clusters = corpus.column("cluster").to_numpy()
    rng = np.random.default_rng(cfg.seed)
    members = np.flatnonzero(clusters == cluster)
    ids = np.unique(np.concatenate([rng.choice(members, cfg.labels // 2, replace=False),
                                    rng.choice(corpus.count, cfg.labels // 2, replace=False)]))
    store = MemoryStore.create(f"cluster {cluster}", negatives=[f"cluster {cluster + 1}"])
    store.add_batch(0, "expansion", None, ids)
    truth = clusters[ids] == cluster
    store.rate(ids, truth ^ (rng.random(len(ids)) < cfg.flip))
    session = Session(workspace, store, seed=cfg.seed, settings=SessionSettings(random_negatives=cfg.random_negatives))
    session.train()
    session.train()
    vocabulary = load_vocabulary(workspace, out_dir, in_corpus=False)
    t0 = time.perf_counter()
    first = len(advise(AssistantState(workspace, store, vocabulary)))
    first_s = time.perf_counter() - t0
    out = timing(workspace, AssistantState(workspace, store, vocabulary), int(ids[0]))
    return {"corpus": str(corpus_path), "count": corpus.count, "dim": corpus.dim,
            "index": type(workspace.index).__name__, "labels": len(ids), "first_request_s": round(first_s, 3),
            "first_findings": first, **out}


def timing_on(workspace: Workspace, concept, corpus: Corpus, split: HeldOutSplit, vocabulary, cfg: BenchConfig) -> dict:
    """A concept with ``cfg.labels`` ratings and two versions, then the timings."""
    truth = concept.labels(corpus)
    store = MemoryStore.create(concept.name, concept.positives, concept.negatives, reserved=split.ids)
    session = Session(workspace, store, seed=cfg.seed,
                      settings=SessionSettings(batch_size=cfg.batch, random_negatives=cfg.random_negatives))
    trained = None
    while len(store.labels().ids) < cfg.labels:
        batch = session.expand() if trained is None else session.next_batch(trained)
        store.rate(batch.ids, truth[batch.ids])
        trained = session.train()
    state = AssistantState(workspace, store, vocabulary)
    return timing(workspace, state, int(store.labels().ids[0]))

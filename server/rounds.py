"""The jobs of the labelling loop: expansion, training, an active-learning round, and evaluation.

Each job reads the ratings committed so far, calls the library through
``server.loop``, and commits its outcome in one transaction at the end. Model
weights are written by the registry (atomically) before their record is
committed, so a crash can leave an unrecorded complete version on disk (taken
up again at the next start) but never a recorded half one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from server.errors import Invalid
from server.jobs import JobHandler, Progress
from server.loop import ZERO_SHOT, Loop, StrataSpec
from server.repository import EVALUATION, TRAINING, JobRecord, Repository
from server.settings import ServerSettings
from server.watch import VersionWatch


@dataclass
class LoopJobs:
    repo: Repository
    loop: Loop
    settings: ServerSettings
    watch: VersionWatch

    def handlers(self) -> dict[str, JobHandler]:
        return {"expand": self.expand, "train": self.train, "round": self.round, "evaluate": self.evaluate}

    def _not_to_offer(self, concept_id: int) -> np.ndarray:
        """Ids a training batch must skip: rated for training, or kept for evaluation."""
        return np.union1d(self.repo.labels(concept_id).ids, self.repo.batch_ids(concept_id, EVALUATION))

    def expand(self, job: JobRecord, progress: Progress) -> tuple[str, dict[str, Any]]:
        concept = self.repo.concept(job.concept_id)
        exclude = self._not_to_offer(job.concept_id)
        round_ = self.repo.next_round(job.concept_id)
        progress(10, f"finding the nearest images to {len(concept.positives) + len(concept.negatives)} phrases")
        ids = self.loop.expansion(concept.positives, concept.negatives, exclude, self.settings.per_phrase,
                                  self.settings.batch_size, seed=job.concept_id * 1000 + round_)
        if len(ids) == 0:
            raise Invalid("every image near these phrases is already rated; add or change phrases")
        batch_id = self.repo.add_batch(job.concept_id, round_, "expansion", None, ids.tolist())
        return f"batch of {len(ids)} images ready to rate", {"batch_id": batch_id, "round": round_}

    def train(self, job: JobRecord, progress: Progress) -> tuple[str, dict[str, Any]]:
        version, _ = self._train_version(job, progress, 90)
        return f"model version {version} saved", {"version": version}

    def round(self, job: JobRecord, progress: Progress) -> tuple[str, dict[str, Any]]:
        """Train a new version, then let it choose the next batch from the whole corpus."""
        version, model = self._train_version(job, progress, 50)
        strategy = job.params.get("strategy", "margin")
        round_ = self.repo.next_round(job.concept_id)
        progress(60, f"scoring {self.loop.corpus.count:,} images with version {version} ({strategy} sampling)")
        ids = self.loop.next_batch(model, self._not_to_offer(job.concept_id), self.settings.batch_size, strategy,
                                   seed=job.concept_id * 1000 + round_)
        batch_id = self.repo.add_batch(job.concept_id, round_, strategy, version, ids.tolist())
        return (f"model version {version} saved; round {round_} batch of {len(ids)} images ready",
                {"version": version, "batch_id": batch_id, "round": round_})

    def evaluate(self, job: JobRecord, progress: Progress) -> tuple[str, dict[str, Any]]:
        """Build the stratified evaluation set over the latest versions and the zero-shot ranking.

        Only the latest ``eval_versions`` versions shape the set: each adds up to
        strata x per_stratum images to rate, and the owner is choosing among the
        recent ones. Every version is still measured on the whole set.
        """
        concept = self.repo.concept(job.concept_id)
        versions = self.repo.versions(job.concept_id)[-self.settings.eval_versions:]
        spec = StrataSpec(per_stratum=self.settings.eval_per_stratum)
        # Images of any training batch, rated or not, stay out: a set must never hold training data.
        eligible = self.loop.eligible_for_evaluation(self.repo.batch_ids(job.concept_id, TRAINING))
        progress(2, f"hashing the URIs of {self.loop.corpus.count:,} images")
        self.loop.uri_hashes()
        sets, names = [], []
        for i, v in enumerate(versions):
            progress(5 + 85 * i / (len(versions) + 1),
                     f"scoring {self.loop.corpus.count:,} images with version {v.version}")
            sets.append(self.loop.stratified_by_model(self.loop.model(job.concept_id, v.version), eligible, spec))
            names.append(f"v{v.version}")
        progress(5 + 85 * len(versions) / (len(versions) + 1), "scoring every image with the concept's text")
        sets.append(self.loop.stratified_by_zero_shot(concept.positives, eligible, spec))
        names.append(ZERO_SHOT)
        ids = np.unique(np.concatenate(sets))  # merged over models, each equally: eval.stratified's merge
        if len(ids) == 0:
            raise Invalid("every image is already in a training batch; nothing is left to evaluate on")
        round_ = self.repo.latest_round(job.concept_id) or 0
        latest = versions[-1].version if versions else None
        batch_id = self.repo.add_batch(job.concept_id, round_, "evaluation", latest, ids.tolist(), EVALUATION)
        already = len(np.intersect1d(ids, self.repo.labels(job.concept_id, EVALUATION).ids))
        return (f"evaluation batch of {len(ids)} images ready ({already} rated before); "
                f"stratified over {', '.join(names)}; not used for training",
                {"batch_id": batch_id, "round": round_, "size": int(len(ids)), "models": names,
                 "per_stratum": spec.per_stratum, "strata": spec.strata})

    def _train_version(self, job: JobRecord, progress: Progress, done_percent: float):
        recorded = self.repo.version_of_job(job.id)  # a resumed job: its version was recorded before a restart
        if recorded is not None:
            return recorded, self.loop.model(job.concept_id, recorded)
        concept = self.repo.concept(job.concept_id)
        labels = self.repo.labels(job.concept_id)
        previous = self.repo.versions(job.concept_id)
        progress(5, f"training on {len(labels.ids)} ratings")
        model = self.loop.train(labels.ids, labels.labels, round_index=len(previous), seed=job.concept_id)
        progress(done_percent * 0.8, "measuring the new model on the rated images")
        sidecar = {
            "concept": {"id": concept.id, "name": concept.name, "positives": concept.positives,
                        "negatives": concept.negatives},
            "parent_version": previous[-1].version if previous else None,
            "job_id": job.id,
            "labels": {"count": len(labels.ids), **self.loop.label_snapshot(labels.ids, labels.labels),
                       "rounds": sorted({int(r) for r in labels.rounds})},
            "embedding_model": self.loop.model_info,
            "corpus": {"path": str(self.loop.corpus.root), "count": self.loop.corpus.count},
            "training": self.loop.training_summary(model),
            "metrics": self.loop.metrics(model, labels.ids, labels.labels),
        }
        info = self.loop.save_version(job.concept_id, model, sidecar)
        self.repo.add_version(job.concept_id, info.version, job.id, str(info.path), info.sidecar)
        self.watch.publish(job.concept_id, info.version)
        progress(done_percent, f"model version {info.version} saved")
        return info.version, model


def adopt_saved_versions(repo: Repository, loop: Loop) -> int:
    """Record complete versions whose job died between saving the weights and committing the record."""
    adopted = 0
    for concept in repo.concepts():
        known = {v.version for v in repo.versions(concept.id)}
        for info in loop.stored_versions(concept.id):
            if info.version not in known:
                repo.add_version(concept.id, info.version, None, str(info.path), info.sidecar)
                adopted += 1
    return adopted

"""The jobs of the labelling loop: expansion, training, an active-learning round, and evaluation.

Each job drives the concept's ``agile.session.Session`` over the ratings
committed so far and commits each outcome in one transaction. Model weights
are written by the registry (atomically) before their record is committed,
so a crash can leave an unrecorded complete version on disk (taken up again
at the next start) but never a recorded half one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agile.corpus_scores import score_to_parquet
from agile.session import Session, SessionSettings, TrainedVersion
from server.errors import Invalid
from server.jobs import JobHandler, Progress
from server.loop import Loop
from server.repository import JobRecord, Repository
from server.schemas import JobParams
from server.store import concept_session
from server.watch import VersionWatch


@dataclass
class LoopJobs:
    repo: Repository
    loop: Loop
    settings: SessionSettings
    watch: VersionWatch

    def handlers(self) -> dict[str, JobHandler]:
        return {"expand": self.expand, "train": self.train, "round": self.round, "evaluate": self.evaluate,
                "score": self.score}

    def _session(self, job: JobRecord) -> Session:
        return concept_session(self.repo, self.loop, self.watch, self.settings, job.concept_id, job.id)

    def expand(self, job: JobRecord, progress: Progress) -> tuple[str, dict[str, Any]]:
        coverage = bool(JobParams.model_validate(job.params).coverage)
        batch = self._session(job).expand(progress, coverage=coverage)
        note = f" ({batch.note})" if batch.note else ""
        return (f"batch of {len(batch.ids)} images ready to rate{note}",
                {"batch_id": batch.id, "round": batch.round, "source": batch.source})

    def _train(self, session: Session, job: JobRecord, progress: Progress, done_percent: float) -> TrainedVersion:
        """A new version, or the one this job recorded before a restart cut it short (a resumed job)."""
        recorded = self.repo.version_of_job(job.id)
        return session.trained(recorded) if recorded is not None else session.train(progress, done_percent)

    def train(self, job: JobRecord, progress: Progress) -> tuple:
        session = self._session(job)
        trained = self._train(session, job, progress, 90)
        return (f"model version {trained.version} saved", {"version": trained.version},
                lambda: session.cross_validate(trained))

    def round(self, job: JobRecord, progress: Progress) -> tuple:
        """Train a new version, let it choose the next batch, then (the batch out) cross-validate it."""
        session = self._session(job)
        trained = self._train(session, job, progress, 50)
        batch = session.next_batch(trained, JobParams.model_validate(job.params).strategy, progress)
        note = f" ({batch.note})" if batch.note else ""
        return (f"model version {trained.version} saved; round {batch.round} batch of {len(batch.ids)} images "
                f"ready{note}",
                {"version": trained.version, "batch_id": batch.id, "round": batch.round},
                lambda: session.cross_validate(trained))

    def evaluate(self, job: JobRecord, progress: Progress) -> tuple[str, dict[str, Any]]:
        chosen = self._session(job).evaluation_set(progress)
        size = len(chosen.batch.ids)
        return (f"evaluation batch of {size} images ready ({chosen.already_rated} rated before); "
                f"stratified over {', '.join(chosen.models)}; not used for training",
                {"batch_id": chosen.batch.id, "round": chosen.batch.round, "size": size, "models": chosen.models,
                 "per_stratum": chosen.spec.per_stratum, "strata": chosen.spec.strata})

    def score(self, job: JobRecord, progress: Progress) -> tuple[str, dict[str, Any]]:
        """Every image of the corpus scored by a version, written as Parquet (resumes if cut short)."""
        params = JobParams.model_validate(job.params)
        versions = self.repo.versions(job.concept_id)
        if not versions:
            raise Invalid("the concept has no model version yet: train one first")
        version = params.version or versions[-1].version
        self.repo.version(job.concept_id, version)  # NotFound unless recorded
        out = self.loop.scores_path(job.concept_id, version)
        out.parent.mkdir(parents=True, exist_ok=True)
        summary = score_to_parquet(self.loop.corpus, self.loop.model(job.concept_id, version), out,
                                   threshold=params.threshold, top=params.top,
                                   progress=lambda done, total: progress(100 * done / max(total, 1),
                                                                         f"scored {done} of {total} shards"))
        return (f"{summary['rows']:,} scores of version {version} written; download them from "
                f"/api/concepts/{job.concept_id}/versions/{version}/scores",
                {"version": version, "rows": summary["rows"], "positives": summary["positives"]})


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

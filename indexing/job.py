"""What a job writing a corpus was asked to do, kept beside its output so a re-run resumes only the same job."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agile.atomic import atomic_write_json, remove_stale_temporaries
from agile.errors import CorpusExistsError

JOB_FILE = "job.json"


def claim_output(out: Path, job: dict[str, Any]) -> None:
    """Record ``job`` in ``out/job.json``, or check that the job already there is the same one.

    Resuming relies on the shard layout being a pure function of the job's
    settings, so a different job must not finish another's shards.
    """
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)  # a run killed while writing job.json or corpus.json leaves one
    path = out / JOB_FILE
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != json.loads(json.dumps(job)):
            changed = sorted(k for k in {*previous, *job} if previous.get(k) != job.get(k))
            raise CorpusExistsError(path, f"a different job already writes here (differs in {', '.join(changed)}); "
                                          "choose another output directory or delete this one")
        return
    if (out / "corpus.json").exists():
        raise CorpusExistsError(out, "a corpus written by another command is already here")
    atomic_write_json(path, job)

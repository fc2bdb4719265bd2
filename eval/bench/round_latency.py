"""Round latency as the owner feels it: Enter (a rated batch submitted) to the next batch shown.

``python -m eval.bench.round_latency CORPUS --port P [--rounds N] [--concept NAME]`` starts the real
server (``agile serve CORPUS --dev``) in a fresh data directory, waits until it
reports its scan store warm, creates a concept, and then, round after round,
rates the current batch from the ground truth and presses Enter the way the
rater does: POST the ratings, POST a ``round`` job, follow the job (a
long-poll answered at each change, as the rater does; ``--poll S`` asks every
S seconds instead), GET the new batch. Each round is split, from the
job's progress messages as the polls saw them, into training (job running
until "scoring ..." begins), selection (from then until the job is done)
and the rest (the requests, queueing, saving, fetching the batch); the
server's own time for the training loop (the version's training stats) is
reported beside them, as ``fit_seconds``. Before the next Enter it waits until the
server has cross-validated the new version (after the batch is out), as an
owner rating 100 images would, and reports how long after the batch that was.
The scoring kernel the server measured and chose is read from the scan
store's ``kernels.json``. JSON out.

Ground truth: the demo suite's predicate for a demo corpus (``--concept``, a
suite name), or for a synthetic corpus three mid-sized clusters named as
"cluster N" phrases (the synthetic embedder understands them).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from agile.corpus import Corpus
from agile.kernel_choice import isa_caps

ROOT = Path(__file__).resolve().parents[2]
RATER_POLL_SECONDS = 0.0  # the rater long-polls a running job (server/static/rater.js); > 0: fixed-interval polls
LONG_POLL_SECONDS = 25  # as the rater asks


def _truth_and_phrases(corpus: Corpus, concept: str | None) -> tuple[np.ndarray, str, list[str], list[str]]:
    """Ground truth, name, positive and negative phrases of the concept the benchmark rates."""
    if "cluster" in corpus.manifest.metadata_columns:
        from eval.bench.loop_bench import synthetic_concept

        chosen, truth = synthetic_concept(corpus)
        others = np.setdiff1d(np.arange(chosen.max() + 3), chosen)[:2]  # phrases that bring negatives
        return (truth, f"cluster {chosen[0]}", [f"cluster {c}" for c in chosen[1:]],
                [f"cluster {c}" for c in others])
    from eval.concepts import load_concepts

    concepts = {c.name: c for c in load_concepts("suite", corpus)}
    picked = concepts[concept or "stars"]
    return (picked.labels(corpus), picked.name, [p for p in picked.positives if p != picked.name],
            list(picked.negatives))


class Server:
    """``agile serve`` in a subprocess; its output lines are kept with the time they arrived."""

    def __init__(self, corpus: str, port: int, data: str, extra: list[str]):
        self.lines: list[tuple[float, str]] = []
        self.proc = subprocess.Popen([str(ROOT / "scripts" / "agile"), "serve", corpus, "--dev", "--port", str(port),
                                      "--data", data, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=os.environ.copy())
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append((time.perf_counter(), line.rstrip()))

    def wait_for(self, text: str, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for at, line in self.lines:
                if text in line:
                    return at
            if self.proc.poll() is not None:
                raise RuntimeError("the server exited:\n" + "\n".join(l for _, l in self.lines[-20:]))
            time.sleep(0.05)
        raise TimeoutError(f"no {text!r} from the server in {timeout} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _follow(client: httpx.Client, job_id: int, poll: float) -> tuple[dict[str, Any], list[tuple[float, str, str]]]:
    """Follow a job to its end (long-poll, or a request every ``poll`` s); each (status, message) seen, timed."""
    seen: list[tuple[float, str, str]] = []
    etag, job = None, None
    while True:
        wait = {"wait": LONG_POLL_SECONDS} if poll == 0 else {}
        r = client.get(f"/api/jobs/{job_id}", params=wait, headers={"If-None-Match": etag} if etag and wait else {})
        if r.status_code != 304:
            job = r.raise_for_status().json()
            etag = r.headers.get("etag")
        if not seen or seen[-1][1:] != (job["status"], job["message"]):
            seen.append((time.perf_counter(), job["status"], job["message"]))
        if job["status"] in ("done", "failed"):
            return job, seen
        time.sleep(poll)


def _fit_seconds(client: httpx.Client, concept_id: int, version: int) -> float | None:
    """The server's own time for the version's training loop (its sidecar's training stats)."""
    training = client.get(f"/api/concepts/{concept_id}/versions/{version}").raise_for_status().json()["training"]
    stats = training.get("stats") or {}
    return round(stats["seconds"], 3) if "seconds" in stats else None


def _wait_for_cross_validation(client: httpx.Client, concept_id: int, version: int, shown: float,
                               timeout: float = 60) -> float | None:
    """Seconds from the batch shown to the version's cross-validation recorded (None: off or not in time).

    The server cross-validates a version after its batch is out, in the lane
    the next round uses. An owner takes minutes to rate 100 images (1.7 s
    each is typical), far longer than that; waiting for it here keeps the
    next Enter from queueing behind work no real owner would see.
    """
    deadline = shown + timeout
    while time.perf_counter() < deadline:
        metrics = client.get(f"/api/concepts/{concept_id}/versions/{version}").raise_for_status().json()["metrics"]
        if "cv_auc_pr" in metrics:
            return round(time.perf_counter() - shown, 3)
        time.sleep(0.05)
    return None


def _first(seen: list[tuple[float, str, str]], test) -> float | None:
    return next((at for at, status, message in seen if test(status, message)), None)


def run(corpus_path: str, port: int, rounds: int, concept: str | None, serve_args: list[str],
        poll: float = RATER_POLL_SECONDS) -> dict[str, Any]:
    corpus = Corpus.open(corpus_path, verify="quick")
    truth, name, positives, negatives = _truth_and_phrases(corpus, concept)
    data = tempfile.mkdtemp(prefix="agile-latency-")
    started = time.perf_counter()
    server = Server(corpus_path, port, data, serve_args)
    out: dict[str, Any] = {"corpus": corpus_path, "count": corpus.count, "dim": corpus.dim, "concept": name,
                           "prevalence": round(float(truth.mean()), 5),
                           "isa_caps": isa_caps()}
    try:
        server.wait_for("the rater is at", 600)
        ready = server.wait_for("agile serve: int8 scan store", 1800) if not os.environ.get("NO_WAIT") else None
        out["server_ready_seconds"] = round((ready or time.perf_counter()) - started, 2)
        out["server_notes"] = [l for _, l in server.lines if l.startswith("agile serve:")]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            created = client.post("/api/concepts", json={"name": name, "positives": positives,
                                                               "negatives": negatives}).raise_for_status()
            concept_id = created.json()["id"]
            jobs = client.get(f"/api/concepts/{concept_id}/jobs").raise_for_status().json()
            _follow(client, jobs[0]["id"], poll)
            batch = client.get(f"/api/concepts/{concept_id}/batch").raise_for_status().json()
            out["rounds"] = []
            for _ in range(rounds):
                ids = [item["id"] for item in batch["items"]]
                ratings = [{"id": i, "positive": bool(truth[i]), "seconds": 1.7} for i in ids]
                enter = time.perf_counter()
                client.post(f"/api/concepts/{concept_id}/ratings", json={"ratings": ratings}).raise_for_status()
                rated = time.perf_counter()
                job = client.post(f"/api/concepts/{concept_id}/jobs", json={"kind": "round"}).raise_for_status().json()
                job, seen = _follow(client, job["id"], poll)
                if job["status"] != "done":
                    raise RuntimeError(f"round job failed: {job['message']}")
                batch = client.get(f"/api/concepts/{concept_id}/batch").raise_for_status().json()
                shown = time.perf_counter()
                running = _first(seen, lambda s, m: s == "running") or rated
                scoring = _first(seen, lambda s, m: m.startswith("scoring")) or running
                done = seen[-1][0]
                cv_seconds = _wait_for_cross_validation(client, concept_id, batch["model_version"], shown)
                out["rounds"].append({
                    "round": batch["round"], "model_version": batch["model_version"], "source": batch["source"],
                    "batch_positives": int(truth[[item["id"] for item in batch["items"]]].sum()),
                    "enter_to_batch_seconds": round(shown - enter, 3),
                    "training_seconds": round(scoring - running, 3),
                    "fit_seconds": _fit_seconds(client, concept_id, batch["model_version"]),
                    "selection_seconds": round(done - scoring, 3),
                    "rest_seconds": round((shown - enter) - (done - running), 3),
                    "cross_validation_after_batch_seconds": cv_seconds,
                    "job_messages": [[round(at - running, 3), message] for at, _, message in seen if at >= running],
                    "poll_seconds": poll})
    finally:
        server.stop()
    later = [r for r in out.get("rounds", []) if r["model_version"] and r["model_version"] >= 2]  # 3 x 128 models
    for key in ("enter_to_batch_seconds", "training_seconds", "fit_seconds", "selection_seconds", "rest_seconds"):
        if later:
            out[f"median_{key}_3x128"] = round(statistics.median(r[key] for r in later), 3)
    out["kernel_choices"] = _recorded_choices(corpus)
    return out


def _recorded_choices(corpus: Corpus) -> list[dict[str, Any]]:
    try:
        entries = json.loads((corpus.root / "scan" / "kernels.json").read_text())["entries"].values()
    except (OSError, KeyError, json.JSONDecodeError):
        return []
    caps = isa_caps()
    return [{"shape": e["shape"], "kernel": e["kernel"], "exact_ms_per_block": e["exact_ms_per_block"],
             "int8_ms_per_block": e["int8_ms_per_block"], "int8_fixed_ms": e["int8_fixed_ms"]}
            for e in entries if e["machine"]["isa_caps"] == caps]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concept", help="a demo suite concept (default: stars)")
    parser.add_argument("--poll", type=float, default=RATER_POLL_SECONDS,
                        help="seconds between job polls; 0 (the default, as the rater) long-polls instead "
                             "(much shorter polls load the server)")
    parser.add_argument("serve_args", nargs="*", help="more `agile serve` arguments (after --)")
    args = parser.parse_args()
    print(json.dumps(run(args.corpus, args.port, args.rounds, args.concept, args.serve_args, args.poll), indent=2))


if __name__ == "__main__":
    sys.exit(main())

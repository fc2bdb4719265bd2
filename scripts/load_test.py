#!/usr/bin/env python
"""Load test of the server on loopback: batch and poll latency while AL rounds run.

Starts ``agile serve`` on a free 127.0.0.1 port over a synthetic corpus (made
once under --work) and creates one concept per rater plus one for active-
learning rounds (train + score every vector + margin sampling). Then, for at
most --duration seconds and --max-requests requests, it runs:

- --pollers clients each asking ``GET .../versions/latest`` with If-None-Match
  (a 304 until a new version lands), every --poll-interval seconds;
- --raters clients each fetching their batch and posting a rating, every
  --rate-interval seconds (a fast person rates an image in ~1.7 s);
- one long-poller (``?wait=``) that measures how soon after each version is
  committed it hears of it,

while AL rounds of one more concept run back to back (each round's batch is
rated from the ground truth before the next starts).

Prints JSON: p50/p99/max latency per endpoint, request and error counts, the
rounds and the share of the window they were running, and the server's peak RSS.
Usage (the project's venv python, from the checkout):
  flock /tmp/agile-bench.lock env PYTHONPATH=. ~/.cache/agile-modeling/venv-*/bin/python scripts/load_test.py
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agile.corpus import Corpus  # noqa: E402
from agile.synth import SynthSpec, synth_corpus  # noqa: E402
from server.process import ROOT, ServerProcess  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="/tmp/agile-load", help="corpus and server data go here")
    p.add_argument("--n", type=int, default=300_000, help="synthetic corpus size")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--pollers", type=int, default=50)
    p.add_argument("--raters", type=int, default=5)
    p.add_argument("--duration", type=float, default=30.0, help="longest measurement window, seconds")
    p.add_argument("--max-requests", type=int, default=50_000)
    p.add_argument("--poll-interval", type=float, default=0.5)
    p.add_argument("--rate-interval", type=float, default=0.5)
    return p.parse_args()


def corpus_for(args) -> Path:
    path = Path(args.work) / f"synth-{args.n}x{args.dim}"
    if not (path / "corpus.json").exists():
        synth_corpus(path, SynthSpec(n=args.n, dim=args.dim, clusters=200, seed=3, shard_size=100_000), progress=False)
    return path


def add_owner(data: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "agile_cli.main", "users", "add", "load", "--role", "owner",
                          "--data", str(data)], capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.strip()


async def wait_job(client: httpx.AsyncClient, job_id: int) -> dict:
    while True:
        try:
            job = (await client.get(f"/api/jobs/{job_id}")).json()
        except httpx.TransportError:  # a kept-alive connection the server closed; ask again
            job = {"status": "unknown"}
        if job["status"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.1)


async def make_concept(client: httpx.AsyncClient, cluster: int) -> int:
    body = {"name": f"cluster {cluster}", "negatives": [f"cluster {cluster + 1}"]}
    concept = (await client.post("/api/concepts", json=body)).json()
    job = await wait_job(client, concept["job"]["id"])
    if job["status"] != "done":
        raise RuntimeError(f"expansion failed: {job['message']}")
    return concept["id"]


class Recorder:
    def __init__(self, budget: int, deadline: float):
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.budget, self.deadline = budget, deadline

    def running(self) -> bool:
        return self.budget > 0 and time.monotonic() < self.deadline

    async def call(self, name: str, request) -> httpx.Response | None:
        self.budget -= 1
        start = time.perf_counter()
        try:
            response = await request
        except httpx.HTTPError:
            self.errors[name] += 1
            return None
        self.latency[name].append(time.perf_counter() - start)
        if response.status_code >= 400 and not (name == "poll latest" and response.status_code == 404):
            self.errors[name] += 1
        return response


async def poller(client, rec: Recorder, concept: int, interval: float) -> None:
    etag = None
    while rec.running():
        headers = {"If-None-Match": etag} if etag else {}
        r = await rec.call("poll latest", client.get(f"/api/concepts/{concept}/versions/latest", headers=headers))
        if r is not None:
            etag = r.headers.get("etag", etag)
        await asyncio.sleep(interval)


async def rater(client, rec: Recorder, concept: int, clusters: np.ndarray, interval: float) -> None:
    while rec.running():
        r = await rec.call("get batch", client.get(f"/api/concepts/{concept}/batch"))
        if r is not None and r.status_code == 200:
            items = r.json()["items"]
            item = items[np.random.randint(len(items))]["id"]
            body = {"ratings": [{"id": item, "positive": bool(clusters[item] % 2), "seconds": 1.7}]}
            await rec.call("post rating", client.post(f"/api/concepts/{concept}/ratings", json=body))
        await asyncio.sleep(interval)


async def long_poller(client, rec: "Recorder", concept: int, etag: str, delays: list[float]) -> None:
    """Long-polls for each new version; records how long after its record was committed it heard."""
    while rec.running():
        try:
            r = await client.get(f"/api/concepts/{concept}/versions/latest", params={"wait": 5},
                                 headers={"If-None-Match": etag})
        except httpx.TransportError:
            continue
        if r.status_code == 200:
            delays.append(time.time() - datetime.fromisoformat(r.json()["created_at"]).timestamp())
            etag = r.headers["etag"]


async def rate_all(client, concept: int, truth: np.ndarray) -> None:
    batch = (await client.get(f"/api/concepts/{concept}/batch")).json()
    ratings = [{"id": it["id"], "positive": bool(truth[it["id"]])} for it in batch["items"]]
    await client.post(f"/api/concepts/{concept}/ratings", json={"ratings": ratings})


async def al_rounds(client, rec: "Recorder", concept: int, truth: np.ndarray, busy: list[float]) -> None:
    """Back-to-back AL rounds for the whole window: start one, wait, rate its batch, start the next."""
    while rec.running():
        started = time.monotonic()
        job = (await client.post(f"/api/concepts/{concept}/jobs", json={"kind": "round"})).json()
        done = await wait_job(client, job["id"])
        busy.append(time.monotonic() - started)
        if done["status"] != "done":
            raise RuntimeError(f"AL round failed: {done['message']}")
        await rate_all(client, concept, truth)


async def measure(args, server: ServerProcess, token: str, clusters: np.ndarray) -> dict:
    limits = httpx.Limits(max_connections=args.pollers + args.raters + 10)
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=60, limits=limits) as client:
        rater_concepts = [await make_concept(client, 2 * i) for i in range(args.raters)]
        target = 40
        al = await make_concept(client, target)
        await rate_all(client, al, clusters == target)
        etag = (await client.get(f"/api/concepts/{al}/versions/latest")).headers["etag"]

        started = time.monotonic()
        rec = Recorder(args.max_requests, started + args.duration)
        rss = psutil.Process(server.proc.pid)
        peak, busy, delays = [rss.memory_info().rss], [], []

        async def sample_rss():
            while rec.running():
                peak[0] = max(peak[0], rss.memory_info().rss)
                await asyncio.sleep(0.5)

        tasks = [poller(client, rec, al, args.poll_interval) for _ in range(args.pollers)]
        tasks += [rater(client, rec, c, clusters, args.rate_interval) for c in rater_concepts]
        tasks += [al_rounds(client, rec, al, clusters == target, busy),
                  long_poller(client, rec, al, etag, delays), sample_rss()]
        await asyncio.gather(*tasks)
        window = time.monotonic() - started

    return {
        "window_seconds": round(window, 2),
        "al_rounds": len(busy),
        "al_round_seconds": [round(b, 2) for b in busy],
        "al_running_share_of_window": round(min(1.0, sum(busy) / window), 3),
        "long_poll_heard_after_version_recorded_s": {"median": round(float(np.median(delays)), 3),
                                                      "max": round(max(delays), 3)} if delays else None,
        "server_peak_rss_mb": round(peak[0] / 2**20),
        "requests": {k: len(v) for k, v in rec.latency.items()},
        "errors": dict(rec.errors),
        "latency_ms": {k: {"p50": round(float(np.percentile(v, 50)) * 1000, 1),
                           "p99": round(float(np.percentile(v, 99)) * 1000, 1),
                           "max": round(max(v) * 1000, 1)} for k, v in rec.latency.items()},
    }


def main() -> None:
    args = parse_args()
    corpus = corpus_for(args)
    clusters = Corpus.open(corpus, verify="quick").column("cluster").to_numpy()
    with tempfile.TemporaryDirectory(dir=args.work) as data:
        token = add_owner(Path(data))
        with ServerProcess(corpus, data) as server:
            try:
                result = asyncio.run(measure(args, server, token, clusters))
            except BaseException:
                print(server.log.read_text()[-4000:], file=sys.stderr)
                raise
    print(json.dumps({"corpus": str(corpus), "count": len(clusters), "pollers": args.pollers,
                      "raters": args.raters, "poll_interval_s": args.poll_interval,
                      "rate_interval_s": args.rate_interval, "cpu_count": psutil.cpu_count(), **result}, indent=2))


if __name__ == "__main__":
    main()

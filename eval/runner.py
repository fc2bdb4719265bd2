"""``agile eval simulate``: every concept x seed, resumable, then the report and plots.

Each finished concept run is written atomically to
``OUT/concepts/<concept>__seed<k>.json`` together with the configuration it
ran under, so a killed simulation resumes at the first missing run and a
changed configuration is never mixed with old results.
"""
from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from agile.atomic import atomic_write_json
from agile.corpus import Corpus
from agile.workspace import Workspace
from eval.concepts import concept_slug, load_concepts
from eval.errors import EvalError
from eval.report import summarise, write_report
from eval.results import ConceptRunResult
from eval.simulate import ConceptRun, SimulationConfig
from eval.split import HeldOutSplit
from eval.stopping import stopping_summary
from eval.withheld import without_text


def _per_run(key: dict) -> dict:
    """The part of a run key one seed's result depends on: not how many seeds were asked for,
    so raising ``--seeds`` on an existing output folder computes only the new seeds; settings
    left at None (the library's defaults) are dropped, so adding such a setting keeps old runs."""
    config = {k: v for k, v in key.get("config", {}).items() if k != "seeds" and v is not None}
    return {**key, "config": config}


def cached_result(path: Path, key: dict, result_type=ConceptRunResult) -> dict | None:
    """The result stored at ``path`` if it was computed under ``key`` (as ``_per_run`` compares them), else None."""
    if not path.is_file():
        return None
    try:
        data = result_type.read(path, json.loads(path.read_text())).to_json()
    except (json.JSONDecodeError, EvalError):  # a damaged or foreign file: compute the run again
        return None
    return data if _per_run(data.get("run_key") or {}) == _per_run(key) else None


def chosen_concepts(concepts: list, only: Sequence[str], kind: str = "concept") -> list:
    """The concepts (or tasks) named in ``only``, all where it is empty; an unknown name is an EvalError."""
    if not only:
        return concepts
    unknown = sorted(set(only) - {c.name for c in concepts})
    if unknown:
        raise EvalError(f"no {kind} named {', '.join(map(repr, unknown))}; "
                        f"the {kind}s are: {', '.join(c.name for c in concepts)}")
    return [c for c in concepts if c.name in set(only)]


def resumable_runs(items: Sequence, corpus: Corpus, seeds: int, folder: Path, key: dict, result_type, kind: str,
                   run, progress: bool) -> tuple[list[dict], list[dict], int]:
    """Every item (concept or task) x seed: the result stored in ``folder`` if it was computed under ``key``,
    else ``run(item, truth, seed)``, written atomically with its key. An item the run refuses (EvalError) is
    skipped with the reason. Returns the results, the skipped and how many were computed now."""
    runs, skipped, fresh = [], [], 0
    bar = tqdm(total=len(items) * seeds, desc=f"simulate {kind}s", unit="run", disable=not progress)
    for item in items:
        truth = item.labels(corpus)
        for seed in range(seeds):
            path = folder / f"{concept_slug(item.name)}__seed{seed}.json"
            result = cached_result(path, key, result_type)
            if result is None:
                try:
                    result = run(item, truth, seed)
                except EvalError as e:
                    skipped.append({kind: item.name, "seed": seed, "reason": str(e)})
                    bar.update()
                    continue
                result["run_key"] = key
                atomic_write_json(path, result)
                fresh += 1
            runs.append(result)
            bar.set_postfix_str(item.name[:30])
            bar.update()
    bar.close()
    return runs, skipped, fresh


def run_facts(key: dict, split: HeldOutSplit, skipped: list[dict], fresh: int, start: float) -> dict:
    """What a simulation's report says of the run itself: corpus, split, skips, runs computed, time, memory."""
    return {"corpus": key["corpus"], "count": key["count"], "heldout_images": len(split), "skipped": skipped,
            "runs_computed_now": fresh, "seconds": round(time.perf_counter() - start, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run_simulation(corpus_path: str | Path, concepts_source: str | Path, config: SimulationConfig,
                   out: str | Path, progress: bool = True, plots: bool = True,
                   only: Sequence[str] = (), allow_random_weights: bool = False) -> dict:
    """Simulate every concept of ``concepts_source`` (or those named in ``only``); write and return the report.

    ``allow_random_weights``: benchmarks only, an open_clip model without weights (refused otherwise).
    """
    start = time.perf_counter()
    out = Path(out)
    corpus = Corpus.open(corpus_path, verify="quick")
    workspace = Workspace(corpus, out, allow_random_weights=allow_random_weights)  # refuses a model without weights
    if config.text_model is False:
        workspace = without_text(workspace)
    elif not workspace.has_text:
        raise EvalError(f"{corpus.root}: the corpus's model {corpus.model.name!r} has no text model, and simulated "
                        "owners start from their concept's phrases (and measure zero-shot); simulate it without "
                        "text (--no-text: owners start from example images, no zero-shot)")
    concepts = chosen_concepts(load_concepts(concepts_source, corpus), only)
    split = HeldOutSplit.for_corpus(corpus, config.heldout_fraction)
    key = {"corpus": str(corpus.root.resolve()), "count": corpus.count, "config": config.to_dict()}
    runs, skipped, fresh = resumable_runs(
        concepts, corpus, config.seeds, out / "concepts", key, ConceptRunResult, "concept",
        lambda concept, truth, seed: ConceptRun(workspace, concept, truth, split, config, seed).run(), progress)
    report = summarise(runs, config)
    report["stopping"] = stopping_summary(runs)
    report.update({**run_facts(key, split, skipped, fresh, start), "concepts_source": str(concepts_source)})
    write_report(out, report, runs, plots=plots)
    return report

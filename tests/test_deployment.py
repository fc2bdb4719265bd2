"""Targets and their status, refusals, export parity, and corpus-wide scoring (resume, top, Ray)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from agile.corpus import Corpus, ModelInfo
from agile.corpus_scores import ScoreJobError, load_classifier, score_to_parquet
from agile.export import ExportError, ModelCard, check_embedding_model, check_export, export_folder
from agile.feasibility import VersionPoint, target_status
from agile.numpy_scorer import Scorer
from agile.refusals import (Refusal, check_measurable, check_phrases_agree, check_policy, check_two_classes,
                            load_policy)
from agile.synth import SynthSpec, synth_corpus
from agile.targets import Target, TargetError, parse_target, target_value
from agile.training import TrainConfig, train
from server.process import ROOT


# -- targets ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("sentence, want", [
    ("90% precision at 50% recall", dict(metric="precision_at_recall", value=0.9, at=0.5)),
    ("recall 0.8 at precision 0.95", dict(metric="recall_at_precision", value=0.8, at=0.95)),
    ("AUC-PR of at least 0.8, under 2 ms", dict(metric="auc_pr", value=0.8, max_latency_ms=2.0)),
    ("an F1 of at least 70% and smaller than 5 MB", dict(metric="f1", value=0.7, max_size_mb=5.0)),
])
def test_target_sentences_are_read_and_said_back(sentence, want):
    target = parse_target(sentence)
    assert target.model_dump(exclude_none=True) == want
    assert parse_target(target.describe()) == target  # what it says it understood reads back the same


@pytest.mark.parametrize("sentence, error", [("make it good", "no metric"), ("precision 0.9", "recall it is read at"),
                                             ("", "short sentence")])
def test_unreadable_targets_say_why(sentence, error):
    with pytest.raises(TargetError, match=error):
        parse_target(sentence)


def _scores(truth: np.ndarray, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1 / (1 + np.exp(-(np.where(truth, 1.0, -1.0) + noise * rng.standard_normal(len(truth)))))


@pytest.fixture(scope="module")
def truth():
    return np.random.default_rng(0).random(400) < 0.3


def test_a_target_the_latest_version_reaches_is_met_with_its_interval(truth):
    points = [VersionPoint(1, 100, _scores(truth, 2.0, 1)), VersionPoint(2, 200, _scores(truth, 0.3, 2))]
    status = target_status(Target(metric="auc_pr", value=0.8), truth, points, bootstrap=100)
    assert status.state == "met" and status.version == 2 and status.value > 0.95
    assert status.interval[0] <= status.value <= status.interval[1] and status.interval[0] > 0.8


def test_a_target_on_a_rising_curve_is_not_yet_with_a_labels_estimate(truth):
    points = [VersionPoint(v, n, _scores(truth, noise, v)) for v, (n, noise) in
              enumerate([(100, 3.0), (200, 2.0), (300, 1.6)], 1)]
    values = [target_value(Target(metric="auc_pr", value=0.5), truth, p.scores) for p in points]
    assert values == sorted(values)  # the planted curve rises
    goal = values[-1] + 0.08
    status = target_status(Target(metric="auc_pr", value=goal), truth, points, bootstrap=100)
    assert status.state == "not_yet", status.message
    assert 0 < status.labels_needed < 20 * 300 and status.labels_interval[0] <= status.labels_needed
    assert "3 versions" in status.rests_on and "100, 200, 300 labels" in status.rests_on


def test_a_target_above_a_flat_curve_is_out_of_reach(truth):
    points = [VersionPoint(v, n, _scores(truth, 2.5, 7)) for v, n in enumerate([100, 200, 300, 400], 1)]
    status = target_status(Target(metric="auc_pr", value=0.95), truth, points, bootstrap=100)
    assert status.state == "out_of_reach" and "more labels will not get there" in status.message
    assert status.asymptote < 0.95


def test_precision_at_recall_is_read_from_the_curve():
    truth = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    assert target_value(Target(metric="precision_at_recall", value=0.5, at=0.6), truth, scores) == 1.0
    assert target_value(Target(metric="precision_at_recall", value=0.5, at=1.0), truth, scores) == 0.75
    assert target_value(Target(metric="recall_at_precision", value=0.5, at=0.75), truth, scores) == 1.0


# -- refusals ---------------------------------------------------------------------------------------
def test_the_policy_refuses_sorting_people_by_a_protected_attribute_and_names_the_rule():
    policy = load_policy()
    with pytest.raises(Refusal, match="people by race or ethnicity"):
        check_policy(["faces", "asian faces"], policy)
    with pytest.raises(Refusal, match="religion"):
        check_policy(["muslims at prayer"], policy)
    check_policy(["black cats", "white sneakers on a table", "gourmet tuna"], policy)  # not about people


def test_contradictory_phrases_one_class_data_and_unmeasurable_targets_are_refused():
    with pytest.raises(Refusal, match="'gourmet tuna' and the negative phrase 'Gourmet tunas!' say the same"):
        check_phrases_agree(["tuna", "gourmet tuna"], ["Gourmet tunas!"])
    check_phrases_agree(["tuna"], ["canned tuna"])
    check_phrases_agree(["stars"], ["a circle"])  # words that embed alike are the embedding's limit, not refused
    with pytest.raises(Refusal, match="every training rating is positive"):
        check_two_classes(30, 0)
    with pytest.raises(Refusal, match="above what 20 rated positives can measure"):
        check_measurable(Target(metric="auc_pr", value=0.99), 20, 200)
    with pytest.raises(Refusal, match="at least 10"):
        check_measurable(Target(metric="auc_pr", value=0.5), 3, 200)
    check_measurable(Target(metric="auc_pr", value=0.9), 20, 200)


# -- export -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    clusters = corpus.column("cluster").to_numpy()
    ids = np.arange(0, corpus.count, 10)
    model = train(corpus, ids, (clusters[ids] == 3).astype(np.float32),
                  TrainConfig.for_round(1, seed=0, random_negatives=500, epochs=2))
    return corpus, model


def _card(corpus, version=1) -> ModelCard:
    return ModelCard(concept={"name": "cluster 3", "positives": ["cluster 3"], "negatives": []}, version=version,
                     threshold=0.5, threshold_reason="the default", embedding_model=corpus.model, dim=corpus.dim,
                     labels={"count": 500, "positives": 20, "negatives": 480, "sha256": "x"},
                     intended_use="tests", limits=["none"])


def test_export_scores_match_the_library_in_onnx_torchscript_and_numpy(trained, tmp_path):
    import onnxruntime as ort

    corpus, model = trained
    folder = export_folder(model, _card(corpus), tmp_path / "export")
    vectors = np.random.default_rng(3).standard_normal((10_000, corpus.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    want = model.score_vectors(vectors)
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"embedding": vectors})[0][:, 0], want, atol=1e-5)
    np.testing.assert_allclose(Scorer.load(str(folder / "model.npz")).score(vectors), want, atol=1e-5)
    scripted = torch.jit.load(str(folder / "model.torchscript.pt"))
    np.testing.assert_allclose(scripted(torch.from_numpy(vectors))[:, 0].detach().numpy(), want, atol=1e-5)
    # the scorer runs as a standalone file with numpy only
    np.save(tmp_path / "v.npy", vectors[:5])
    out = subprocess.run([sys.executable, "-I", str(folder / "scorer.py"), str(folder / "model.npz"),
                          str(tmp_path / "v.npy")], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(np.array(out.stdout.split(), dtype=np.float32), want[:5], atol=1e-5)
    card = check_export(folder)
    assert set(card.files) == {"model.onnx", "model.torchscript.pt", "model.npz", "scorer.py"}
    assert "cluster 3" in (folder / "card.md").read_text()


def test_the_resource_estimate_is_measured_here_and_names_the_cpu_it_holds_for(trained, tmp_path):
    import math

    from agile.cpu import cpu_model
    from agile.resources import estimate

    corpus, model = trained
    folder = export_folder(model, _card(corpus), tmp_path / "export")
    figures = estimate(folder / "model.onnx", corpus.dim, load_per_second=5000)
    assert figures["machine"]["cpu"] == cpu_model() and figures["machine"]["cores"] == os.cpu_count()
    scoring = figures["scoring"]
    assert 0 < scoring["p50_ms_1_vector"] < scoring["p50_ms_1000_vectors"] and scoring["vectors_per_second_per_core"] > 0
    load = figures["load"]  # no embedder given: the cores for scoring the given embeddings alone
    assert load["cores_needed"] == math.ceil(5000 * load["ms_per_image_per_core"] / 1000 * 1.25)
    assert "scoring of given embeddings only" in load["basis"]


def test_a_damaged_export_or_another_embedding_model_is_refused(trained, tmp_path):
    corpus, model = trained
    folder = export_folder(model, _card(corpus), tmp_path / "export")
    with pytest.raises(ExportError, match="already exists"):
        export_folder(model, _card(corpus), folder)
    check_embedding_model(check_export(folder), corpus.model, corpus.dim, "corpus.json")
    with pytest.raises(ExportError, match="scores would mean nothing"):
        check_embedding_model(check_export(folder), ModelInfo(name="ViT-B-32", pretrained="openai"), corpus.dim,
                              "corpus.json")
    with open(folder / "model.npz", "ab") as f:
        f.write(b"x")
    with pytest.raises(ExportError, match="model.npz: missing or damaged"):
        check_export(folder)


# -- corpus-wide scoring ---------------------------------------------------------------------------------
def test_corpus_scores_are_exact_with_decisions_and_top(trained, tmp_path):
    corpus, model = trained
    folder = export_folder(model, _card(corpus), tmp_path / "export")
    loaded, card = load_classifier(folder)
    summary = score_to_parquet(corpus, loaded, tmp_path / "all.parquet", threshold=0.5, card=card)
    table = pq.read_table(tmp_path / "all.parquet")
    want = model.score_ids(corpus, np.arange(corpus.count))
    assert table["id"].to_pylist() == list(range(corpus.count)) and summary["rows"] == corpus.count
    np.testing.assert_allclose(table["score"].to_numpy(), want, atol=1e-6)
    assert table["uri"].to_pylist()[:3] == corpus.uris([0, 1, 2])
    assert summary["positives"] == int((table["score"].to_numpy() >= 0.5).sum())
    score_to_parquet(corpus, loaded, tmp_path / "top.parquet", top=50)
    top = pq.read_table(tmp_path / "top.parquet")
    assert top["id"].to_pylist() == np.argsort(-table["score"].to_numpy(), kind="stable")[:50].tolist()
    assert not (tmp_path / "all.parquet.parts").exists()
    with pytest.raises(ScoreJobError, match="--top must be at least 1"):
        score_to_parquet(corpus, loaded, tmp_path / "bad.parquet", top=0)
    # One pass over the int8 scan store, the candidates re-scored exactly: the exact path's top 50, up to
    # float32 rounding (this 2-epoch model's scores sit within 1e-4 of each other, so near-ties may swap).
    fast = score_to_parquet(corpus, loaded, tmp_path / "fast.parquet", threshold=0.5, top=50, kernel="int8",
                            card=card)
    quick = pq.read_table(tmp_path / "fast.parquet")
    ids, scores = quick["id"].to_numpy(), quick["score"].to_numpy()
    assert fast["kernel"] == "int8" and len(set(ids)) == 50 and (np.diff(scores) <= 0).all()
    np.testing.assert_allclose(scores, want[ids], atol=1e-6)  # exact scores, not int8 ones
    np.testing.assert_allclose(scores, top["score"].to_numpy(), atol=1e-6)  # the same ranks' scores
    assert len(set(ids) ^ set(top["id"].to_pylist())) <= 2 * int((np.abs(want - want[ids[-1]]) < 1e-6).sum())
    assert quick["uri"].to_pylist() == corpus.uris(ids) and quick["positive"].to_pylist() == (scores >= 0.5).tolist()


@pytest.mark.slow
def test_agile_score_killed_midway_resumes_to_the_same_file(tmp_path, trained):
    _, small_model = trained
    corpus = synth_corpus(tmp_path / "c", SynthSpec(n=400_000, dim=64, clusters=20, seed=3, shard_size=10_000),
                          workers=2, progress=False)
    version = tmp_path / "models" / "v000001"
    from agile.registry import ModelRegistry
    ModelRegistry(tmp_path / "models").save(small_model, {"concept": {"name": "x"}})
    command = [sys.executable, "-m", "agile_cli.main", "score", str(corpus.root), "--model", str(version),
               "--threshold", "0.5"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([*command, "--out", str(tmp_path / "whole.parquet")], check=True, env=env, capture_output=True)
    out, parts = tmp_path / "cut.parquet", tmp_path / "cut.parquet.parts"
    for attempt in range(5):  # kill -9 once some but not all parts are written
        proc = subprocess.Popen([*command, "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while proc.poll() is None and len(list(parts.glob("part-*.parquet"))) < 2:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if not out.exists():
            break
        out.unlink()
    done = len(list(parts.glob("part-*.parquet")))
    assert 0 < done < 40, done
    subprocess.run([*command, "--out", str(out)], check=True, env=env, capture_output=True)
    assert pq.read_table(out).equals(pq.read_table(tmp_path / "whole.parquet"))


@pytest.mark.slow
def test_ray_engine_writes_the_same_scores_as_local(trained, tmp_path):
    pytest.importorskip("ray")
    corpus, model = trained
    score_to_parquet(corpus, model, tmp_path / "local.parquet", threshold=0.5)
    score_to_parquet(corpus, model, tmp_path / "ray.parquet", threshold=0.5, engine="ray")
    assert pq.read_table(tmp_path / "ray.parquet").equals(pq.read_table(tmp_path / "local.parquet"))

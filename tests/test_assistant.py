"""The assistant's findings on seeded synthetic data: a planted mislabel, an ambiguous phrase, tips, wording."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from agile.assistant import AssistantState, Target, advise, ask, pick_tip
from agile.assistant.vocabulary import load_vocabulary
from agile.assistant.wording import ChatModel, grounded, word
from agile.session import Session, SessionSettings
from agile.session_store import MemoryStore


def rated_session(workspace, clusters, positives, phrases, negatives=(), flip=(), batch=120):
    """A concept whose first batch is rated by the truth (cluster in ``positives``), except ``flip``."""
    store = MemoryStore.create(phrases[0], phrases[1:], negatives)
    session = Session(workspace, store, seed=3, settings=SessionSettings(batch_size=batch, random_negatives=500))
    ids = session.expand().ids
    truth = np.isin(clusters[ids], positives)
    for i in flip:
        truth[list(ids).index(i)] ^= True
    store.rate(ids, truth)
    return store, session, ids, truth


def test_a_planted_mislabel_is_found_beside_its_disagreeing_neighbours(workspace, clusters):
    target = int(np.bincount(clusters).argmax())
    store, _, ids, _ = rated_session(workspace, clusters, [target], [f"cluster {target}"], [f"cluster {(target + 1) % 20}"])
    planted = int(next(i for i in ids if clusters[i] == target))
    store.rate([planted], [False])
    findings = [f for f in advise(AssistantState(workspace, store), only={"mislabels"})]
    suspects = [f.evidence.image_ids[0] for f in findings]
    assert planted in suspects[:3]
    finding = findings[suspects.index(planted)]
    assert finding.actions[0].method == "PUT" and finding.actions[0].path == f"ratings/{planted}"
    assert finding.actions[0].body == {"positive": True}
    assert all(clusters[i] == target for i in finding.evidence.groups[1].image_ids)


def test_a_phrase_bringing_two_kinds_of_image_is_reported_ambiguous(workspace, clusters):
    a, b = 3, 5
    store, _, _, _ = rated_session(workspace, clusters, [a], [f"cluster {a} and cluster {b}"])
    findings = advise(AssistantState(workspace, store), only={"phrases"})
    ambiguous = [f for f in findings if f.kind == "phrase-ambiguous"]
    assert ambiguous, [f.title for f in findings]
    first, second = ambiguous[0].evidence.groups
    assert first.positive_rate >= 0.9 and second.positive_rate <= 0.1
    assert all(clusters[i] == a for i in first.image_ids) and np.mean(clusters[list(second.image_ids)] == a) <= 0.2
    assert "two kinds of image" in ambiguous[0].message


def test_tips_never_repeat_a_dismissed_finding_and_return_only_on_new_evidence(workspace, clusters):
    target = int(np.bincount(clusters).argmax())
    store, _, ids, _ = rated_session(workspace, clusters, [target], [f"cluster {target}"], [f"cluster {(target + 1) % 20}"])
    planted = int(next(i for i in ids if clusters[i] == target))
    store.rate([planted], [False])
    findings = advise(AssistantState(workspace, store))
    tip = pick_tip(findings, {})
    assert tip is not None and tip.severity != "info"
    seen = {tip.key: ("dismissed", tip.digest)}
    second = pick_tip(findings, seen)
    assert second is None or second.key != tip.key
    shown = {tip.key: ("shown", tip.digest)}
    assert pick_tip([tip], shown) is None
    assert pick_tip([tip], {tip.key: ("shown", "older-evidence")}) == tip
    assert pick_tip([tip], {tip.key: ("dismissed", "older-evidence")}) is None


def test_ask_about_an_image_gives_its_rated_neighbours_and_phrases(workspace, clusters, tmp_path):
    target = int(np.bincount(clusters).argmax())
    store, session, ids, _ = rated_session(workspace, clusters, [target], [f"cluster {target}"], [f"cluster {(target + 1) % 20}"])
    session.train()
    vocabulary = load_vocabulary(workspace, tmp_path, in_corpus=False)
    state = AssistantState(workspace, store, vocabulary)
    answer = ask(state, Target("image", image=int(ids[0]), version=1))
    assert answer.answered and len(answer.facts["neighbours"]) == 8 and 0 <= answer.facts["score"] <= 1
    assert answer.facts["phrases"][0]["phrase"] == f"cluster {target}"
    assert "Version 1 scores image" in answer.text
    cannot = ask(state, Target(), "what is the weather tomorrow?")
    assert "cannot answer" in cannot.text
    progress = ask(state, Target(), "how many positives are there?")
    assert progress.answered and any(f.kind == "prevalence" for f in progress.findings)


class _Stub(BaseHTTPRequestHandler):
    reply = ""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"choices": [{"message": {"content": type(self).reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    server = HTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_a_language_model_reply_naming_an_unknown_image_is_rejected(workspace, clusters, stub):
    target = int(np.bincount(clusters).argmax())
    store, _, ids, _ = rated_session(workspace, clusters, [target], [f"cluster {target}"], [f"cluster {(target + 1) % 20}"])
    planted = int(next(i for i in ids if clusters[i] == target))
    store.rate([planted], [False])
    finding = next(f for f in advise(AssistantState(workspace, store)) if f.kind == "mislabel")
    model = ChatModel(f"http://127.0.0.1:{stub.server_port}/v1", "stub")
    unknown = next(i for i in range(10_000, 20_000) if i not in finding.evidence.image_ids)
    _Stub.reply = f"Image {unknown} looks wrong; flip it."
    text, source = word([finding], finding.message, model)
    assert text == finding.message and "outside the evidence" in source
    _Stub.reply = f"Image {planted} is probably mislabelled: its neighbours disagree."
    text, source = word([finding], finding.message, model)
    assert text == _Stub.reply and source == "language model stub"
    assert not grounded("try the phrase 'purple cows'", [finding])


def test_vocabularies_from_demo_attributes_and_captions():
    from agile.assistant.vocabulary import caption_ngrams, demo_phrases

    demo = demo_phrases()
    assert "red star" in demo and "a single star" in demo and len(demo) == len(set(demo))
    grams = caption_ngrams(["a red tuna on a plate", "red tuna steak", "canned tuna on a shelf"])
    assert "red tuna" in grams and "tuna" in grams and "on a" not in grams


def test_the_vocabulary_is_embedded_once_and_cached_outside_a_read_only_corpus(workspace, tmp_path):
    first = load_vocabulary(workspace, tmp_path, in_corpus=False)
    cached = list((tmp_path / "assistant").glob("vocabulary-synthetic-*.npz"))
    assert len(cached) == 1 and first.source == "synthetic" and len(first.phrases) == 20
    again = load_vocabulary(workspace, tmp_path, in_corpus=False)
    assert again.phrases == first.phrases and np.allclose(again.embeddings, first.embeddings)

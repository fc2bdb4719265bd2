"""The assistant's benchmark plays owners who add only suggestions they have not typed already."""
from __future__ import annotations

import numpy as np

from agile.assistant.suggestions import first_phrases
from agile.assistant.vocabulary import load_vocabulary
from eval.assistant_bench import BenchConfig, suggestion_run
from eval.concepts import ClusterConcept
from eval.split import HeldOutSplit


def test_a_suggestion_the_owner_typed_as_a_negative_is_not_added_as_a_positive(workspace, clusters, tmp_path):
    target = int(np.bincount(clusters).argmax())
    name = f"cluster {target}"
    vocabulary = load_vocabulary(workspace, tmp_path, in_corpus=False)
    offered = [s["phrase"] for s in first_phrases(workspace, vocabulary, name, k=3)]
    # The owner already typed the best suggestion, as a negative (a positive and a negative phrase may not meet).
    concept = ClusterConcept(name, (target,), positives=(name,), negatives=(offered[0].upper(),))
    run = suggestion_run(workspace, vocabulary, concept, clusters == target, HeldOutSplit.for_corpus(workspace.corpus),
                         BenchConfig(batch=50))
    assert offered[0] not in run["added"] and len(run["added"]) == 3
    assert set(offered[1:]) <= set(run["added"])
    assert 0 <= run["zero_shot_suggested"] <= 1 and 0 <= run["round1_suggested"] <= 1


def test_planted_flips_are_found_and_an_owner_who_reviews_the_suspects_loses_nothing(workspace, clusters):
    from eval.assistant_bench import mislabel_run

    target = int(np.bincount(clusters).argmax())
    concept = ClusterConcept(f"cluster {target}", (target,), positives=(f"cluster {target}",))
    run = mislabel_run(workspace, concept, clusters == target, HeldOutSplit.for_corpus(workspace.corpus),
                       BenchConfig(labels=300, flip=0.1))
    assert run["flipped"] > 10 and run["hits"] <= run["suspects"]
    assert run["precision"] >= 0.6 and run["recall"] >= 0.5, run
    # Reviewing flips back only the owner's own mistakes: the model is never worse than on the noisy ratings.
    assert run["auc_pr_reviewed"] >= run["auc_pr_noisy"] - 0.01, run

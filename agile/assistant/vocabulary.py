"""Phrases the assistant may suggest, embedded once with the corpus's own text tower and cached on disk.

Where they come from: the demo world's attributes (its scenes are made of
them); the caption metadata of an imported corpus (LAION layout: frequent
1-3 word n-grams); the cluster names of a synthetic corpus; or a word list
the user gives (one phrase a line). The cache lives in the corpus directory,
or in a fallback directory (the server's data dir) when the corpus is read-only.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from agile.atomic import atomic_path
from agile.embedder import EmbedderError
from agile.errors import AgileError

CAPTION_COLUMNS = ("caption", "text", "TEXT")
MAX_CAPTIONS = 200_000
MAX_NGRAMS = 5_000
_STOP = frozenset("a an the of on in at with and or to for is are this that by from as its it be".split())


class VocabularyError(AgileError):
    """No vocabulary can be built for this corpus (no text model, or no source of phrases)."""


@dataclass(frozen=True)
class Vocabulary:
    source: str
    phrases: list[str]
    embeddings: np.ndarray      # float32 (n, dim), unit rows

    def nearest(self, query: np.ndarray, k: int, exclude: Sequence[str] = ()) -> list[tuple[str, float]]:
        """The ``k`` phrases of highest cosine with ``query`` (a unit vector), skipping ``exclude``."""
        scores = self.embeddings @ np.asarray(query, np.float32)
        skip = {p.lower() for p in exclude}
        out = []
        for i in np.argsort(-scores):
            if self.phrases[i].lower() not in skip:
                out.append((self.phrases[i], float(scores[i])))
                if len(out) == k:
                    break
        return out


def demo_phrases() -> list[str]:
    """Phrases a person would type about demo scenes, composed from the world's attributes."""
    from agile.demo.attributes import BACKGROUNDS, COLOR_NAMES, PATTERNS, SHAPES, SIZES

    plural = {s: s + ("es" if s.endswith(("s", "x", "ss")) else "s") for s in SHAPES}
    plural["cross"] = "crosses"
    backgrounds = {b: {"white": "on a white background", "color": "on a coloured background",
                       "gradient": "on a gradient background", "stripes": "on a striped background",
                       "grass": "on grass", "sky": "in the sky", "water": "on water",
                       "clutter": "on a cluttered background"}[b] for b in BACKGROUNDS}
    out = [*SHAPES, *(f"{c} things" for c in COLOR_NAMES), *backgrounds.values()]
    out += [f"{c} {s}" for c in COLOR_NAMES for s in SHAPES]
    out += [f"{p} {s}" for p in PATTERNS for s in SHAPES]
    out += [f"{z} {s}" for z in SIZES for s in SHAPES]
    out += [f"a single {s}" for s in SHAPES] + [f"{n} {plural[s]}" for n in ("two", "three", "four") for s in SHAPES]
    out += [f"a {s} {b}" for s in SHAPES for b in backgrounds.values()]
    out += [f"{c} objects {b}" for c in COLOR_NAMES for b in backgrounds.values()]
    return list(dict.fromkeys(out))


def caption_ngrams(captions: Sequence[str], limit: int = MAX_NGRAMS) -> list[str]:
    """The most frequent 1-3 word n-grams of captions that neither start nor end with a stop word."""
    counts: Counter[str] = Counter()
    for caption in captions:
        words = re.findall(r"[a-z][a-z'-]+", str(caption).lower())
        for n in (1, 2, 3):
            for i in range(len(words) - n + 1):
                gram = words[i:i + n]
                if gram[0] not in _STOP and gram[-1] not in _STOP:
                    counts[" ".join(gram)] += 1
    return [g for g, c in counts.most_common(limit) if c >= 2]


def phrases_for_corpus(corpus, words_file: Path | None = None, embedder=None) -> tuple[str, list[str]]:
    """(source name, phrases) for a corpus: the user's list, else what its embedder or the corpus offers."""
    if words_file is not None:
        lines = [line.strip() for line in Path(words_file).read_text().splitlines()]
        return f"words:{Path(words_file).name}", list(dict.fromkeys(p for p in lines if p and not p.startswith("#")))
    if callable(getattr(embedder, "vocabulary", None)):  # an embedder family that knows its own words
        return embedder.model_info.name, list(embedder.vocabulary())
    if corpus.count and corpus.uri(0).startswith("demo://"):
        return "demo", demo_phrases()
    column = next((c for c in CAPTION_COLUMNS if c in corpus.manifest.metadata_columns), None)
    if column is not None:
        captions = corpus.column(column).slice(0, MAX_CAPTIONS).to_pylist()
        return f"captions:{column}", caption_ngrams(captions)
    raise VocabularyError(f"{corpus.root}: no caption column, not a demo or synthetic corpus, and no word list "
                          "given; phrase suggestions need one (agile serve --assistant-words FILE)")


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)


def load_vocabulary(workspace, fallback_dir: str | Path, words_file: Path | None = None,
                    in_corpus: bool = True) -> Vocabulary:
    """The corpus's vocabulary, embedded on first use and cached (in the corpus, else in ``fallback_dir``)."""
    corpus = workspace.corpus
    source, phrases = phrases_for_corpus(corpus, words_file, workspace.embedder)
    if not phrases:
        raise VocabularyError(f"the vocabulary from {source} is empty")
    model = corpus.model.model_dump_json()
    key = hashlib.sha1(("\n".join([model, source, *phrases])).encode()).hexdigest()[:12]
    name = f"vocabulary-{re.sub(r'[^a-z0-9]+', '-', source.lower())}-{key}.npz"
    here = corpus.root / "assistant"
    directory = here if in_corpus and _writable(here) else Path(fallback_dir) / "assistant"
    path = directory / name
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return Vocabulary(source, [str(p) for p in data["phrases"]], data["embeddings"].astype(np.float32))
    try:
        embeddings = np.concatenate([workspace.embed_texts(phrases[i:i + 256]) for i in range(0, len(phrases), 256)])
    except EmbedderError as e:
        raise VocabularyError(f"the corpus's model cannot embed its vocabulary: {e}") from e
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, phrases=np.array(phrases), embeddings=embeddings.astype(np.float16))
    return Vocabulary(source, phrases, embeddings.astype(np.float16).astype(np.float32))

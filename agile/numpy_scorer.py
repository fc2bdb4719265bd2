"""Score embeddings with an exported concept classifier using numpy alone (copied into every export).

    python scorer.py model.npz vectors.npy [scores.npy]

or, from Python: ``Scorer.load("model.npz").score(vectors)``. The vectors
must be L2-normalised embeddings of the embedding model named in the model
card (``card.json``); the scores are probabilities that an image shows the
concept, and ``threshold`` in the card turns them into decisions.
"""
from __future__ import annotations

import sys

import numpy as np


class Scorer:
    """The MLP's linear layers (ReLU between them, a sigmoid after the last) as numpy arrays."""

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray]):
        self.weights = [np.asarray(w, dtype=np.float32) for w in weights]
        self.biases = [np.asarray(b, dtype=np.float32) for b in biases]

    @classmethod
    def load(cls, path: str) -> "Scorer":
        with np.load(path) as data:
            layers = int(data["layers"])
            return cls([data[f"w{i}"] for i in range(layers)], [data[f"b{i}"] for i in range(layers)])

    @property
    def dim(self) -> int:
        return int(self.weights[0].shape[1])

    def score(self, vectors: np.ndarray, rows: int = 65536) -> np.ndarray:
        """float32 probabilities (n,) of float16/float32 vectors (n, dim)."""
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"vectors have shape {vectors.shape}; the model takes (n, {self.dim})")
        out = np.empty(len(vectors), dtype=np.float32)
        for start in range(0, len(vectors), rows):
            x = vectors[start:start + rows].astype(np.float32)
            for i, (w, b) in enumerate(zip(self.weights, self.biases)):
                x = x @ w.T + b
                if i < len(self.weights) - 1:
                    np.maximum(x, 0, out=x)
            out[start:start + len(x)] = 1.0 / (1.0 + np.exp(-x[:, 0]))
        return out


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    scores = Scorer.load(argv[0]).score(np.load(argv[1]))
    if len(argv) == 3:
        np.save(argv[2], scores)
    else:
        np.savetxt(sys.stdout, scores, fmt="%.6f")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

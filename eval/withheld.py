"""A workspace whose corpus's text model is withheld: the simulated owner labels as on a corpus without one.

The workspace keeps its corpus, index and scan store, and takes the embedder
the library gives a corpus imported without a text model
(`agile.embedder.ImageVectorsOnly`, as `agile index import --no-text-model`
records it): its phrases raise `NoTextModelError`, so `Workspace.has_text` is
False and the session searches with image seeds only and leaves zero-shot out
of its evaluation sets. The same vectors with and without their text tower
then compare run for run.
"""
from __future__ import annotations

import copy

from agile.embedder import ImageVectorsOnly
from agile.workspace import Workspace


def without_text(workspace: Workspace) -> Workspace:
    """A shallow copy of ``workspace`` with no text model (the original keeps its own)."""
    withheld = copy.copy(workspace)
    withheld.embedder = ImageVectorsOnly(workspace.corpus.model, workspace.corpus.dim)
    return withheld

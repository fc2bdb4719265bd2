"""The import rules of docs/architecture.md: each layer imports only the layers below it."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"agile", "agile_cli", "indexing", "server", "eval"}
ALLOWED = {
    "agile": {"agile"},
    "indexing": {"agile", "indexing"},
    "eval": {"agile", "eval"},
    "server": {"agile", "server", "eval"},
    "agile_cli": LAYERS,
}


def imported_layers(path: Path) -> dict[str, int]:
    """Top-level project packages a module imports, each with the line of its first import."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        for name in names:
            top = name.split(".")[0]
            if top in LAYERS:
                found.setdefault(top, node.lineno)
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_go_downward_only(layer):
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {top}"
             for path in sorted((ROOT / layer).rglob("*.py"))
             for top, line in imported_layers(path).items() if top not in ALLOWED[layer]]
    assert not wrong, wrong


def test_the_core_names_no_test_world():
    # Synthetic corpora plug in through the embedder registry (agile/embedders/), not from the core.
    for name in ("embedder.py", "expansion.py", "training.py", "zeroshot.py", "sampling.py", "registry.py"):
        assert "agile.synth" not in (ROOT / "agile" / name).read_text(), name

"""The import rules between the layers, and HTTP status codes kept to the server's one table."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> top-level packages of the project it may not import
FORBIDDEN = {
    "agile": {"server", "indexing", "eval", "agile_cli"},
    "server": {"eval", "indexing"},
    "indexing": {"server", "eval"},
    "eval": {"server"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_only_downward(package):
    offences = [f"{path.relative_to(ROOT)} imports {sorted(imported_packages(path) & FORBIDDEN[package])}"
                for path in sorted((ROOT / package).rglob("*.py"))
                if imported_packages(path) & FORBIDDEN[package]]
    assert not offences, "\n".join(offences)


def test_the_rule_sees_a_violation(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("import numpy\nfrom server.app import create_app\n")
    assert imported_packages(bad) & FORBIDDEN["agile"] == {"server"}


ERROR_CODE = re.compile(r"\b(status(_code)?\s*=\s*|status\.HTTP_)[45]\d\d|\b[45]\d\d\s*:\s*\{|HTTPException")


def test_error_status_codes_live_only_in_the_mapping_table():
    """4xx/5xx codes are written once, in server/status.py; routes and middleware raise typed errors."""
    offences = []
    for path in sorted([*ROOT.glob("server/**/*.py"), *ROOT.glob("agile/**/*.py"), *ROOT.glob("agile_cli/*.py")]):
        if path == ROOT / "server" / "status.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ERROR_CODE.search(line):
                offences.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offences, "\n".join(offences)
    assert ERROR_CODE.search('return Response(status_code=404)') and ERROR_CODE.search("    422: {")


def test_the_core_names_no_test_world():
    # Synthetic corpora plug in through the embedder registry (agile/embedders/), not from the core.
    for name in ("embedder.py", "expansion.py", "training.py", "zeroshot.py", "sampling.py", "registry.py"):
        assert "agile.synth" not in (ROOT / "agile" / name).read_text(), name

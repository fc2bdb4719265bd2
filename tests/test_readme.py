"""The README's library example runs as written, and its links lead to files that exist."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


@pytest.mark.slow
def test_the_library_example_runs(tmp_path):
    blocks = python_blocks(README.read_text())
    assert len(blocks) == 1, "the README has one library example"
    (tmp_path / "example.py").write_text(blocks[0])
    # A fresh process in an empty folder, as a reader would run it; the corpus lands in its runs/.
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:4]] == ["v1", "v2", "v3", "zero-shot"], done.stdout
    on, off = map(float, re.search(r"mean score (\d\.\d\d) on the concept, (\d\.\d\d) elsewhere",
                                   lines[-1]).groups())
    assert lines[-1].startswith("version 3: exported") and on > off + 0.5, done.stdout
    assert (tmp_path / "runs/example/export/card.json").is_file()


def test_readme_is_short_and_its_links_exist():
    text = README.read_text()
    assert len(text.splitlines()) < 250
    for doc in (README, *sorted((ROOT / "docs").glob("*.md"))):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_no_module_cites_a_missing_document():
    missing = "DESIGN" + ".md"  # spelled apart so this file does not cite it
    sources = [p for part in ("agile", "agile_cli", "indexing", "server", "eval", "scripts", "tests", "docs")
               for p in (ROOT / part).rglob("*") if p.suffix in {".py", ".md", ".sh", ".js", ".html"}]
    for path in sources:
        if missing in path.read_text():
            pytest.fail(f"{path.relative_to(ROOT)} cites {missing}, which is not in the repository; "
                        "cite docs/architecture.md")

"""The package installs without extras and its library works there (scripts/check_install.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the first run installs torch into a fresh venv: about 6 minutes on 2 busy cores
def test_the_plain_package_scores_a_saved_model_without_any_extra():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_install.py")],
                          capture_output=True, text=True)
    assert done.stdout.strip(), done.stderr
    report = json.loads(done.stdout)
    assert report["failures"] == [] and done.returncode == 0, (report, done.stderr[-4000:])
    assert report["present"] == []  # none of pytest, playwright, ray, fastapi, ... is importable there
    assert "site-packages" in report["agile"] and report["version"] == 1 and report["same_scores_after_reload"]
    assert report["cli_help"]  # `agile --help` works and names the extra `serve` and `users` need
    assert report["suite_concepts"] == 35 and report["demo_text_dim"] == 128  # package data was installed

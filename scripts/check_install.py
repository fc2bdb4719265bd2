"""Install the package with no extras into a fresh venv and check that the library works there.

The venv holds only what ``pip install agile-modeling`` brings (pinned by
requirements.lock as constraints, from the package sources pip is configured
with), never the project venv's packages: it is created without system site
packages and the checkout is not on its path. In it the check asserts that no
extra's package (pytest, playwright, ray, fastapi, ...) is importable, then
uses the installed library: a synthetic corpus, a model trained, saved as a
version with ``ModelRegistry``, loaded back and scored; the bundled demo
model and concept suite (package data) load too.

The venv is kept under ``${AGILE_VENV_ROOT:-~/.cache/agile-modeling}``,
keyed by pyproject's base requirements, requirements.lock and the Python
version, so only the first run installs the dependencies (torch among them:
about 6 minutes on 2 busy cores); every run reinstalls the project itself from
the current sources. Prints a JSON report; exit code 1 if a check fails.

    python scripts/check_install.py [--rebuild]
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["agile", "agile_cli", "indexing", "server", "eval"]  # pyproject's packages.find
MUST_BE_ABSENT = ["pytest", "playwright", "ray", "fastapi", "uvicorn", "pydantic_settings", "multipart",
                  "httpx", "matplotlib", "psutil"]

# Runs inside the fresh venv, from an empty folder, so `agile` can only be the installed copy.
PROBE = r"""
import importlib.util, json, sys, tempfile
from pathlib import Path

present = [name for name in sys.argv[1].split(",") if importlib.util.find_spec(name) is not None]
import numpy as np
import agile
from agile.corpus import Corpus
from agile.registry import ModelRegistry, label_snapshot
from agile.synth import SynthSpec, synth_corpus
from agile.training import TrainConfig, train

work = Path(tempfile.mkdtemp())
corpus = synth_corpus(work / "corpus", SynthSpec(n=3000, dim=32, clusters=8, seed=0, shard_size=3000),
                      workers=1, progress=False)
clusters = corpus.column("cluster").to_numpy()
rng = np.random.default_rng(0)
ids = np.sort(rng.choice(corpus.count, 300, replace=False))
labels = (clusters[ids] == 3).astype(np.float32)
model = train(corpus, ids, labels, TrainConfig.for_round(1, random_negatives=1000, lr=1e-3, epochs=20))
registry = ModelRegistry(work / "models")
version = registry.save(model, {"labels": label_snapshot(ids, labels)}).version
loaded = registry.load(version)
everyone = np.arange(corpus.count)
scores = loaded.score_ids(Corpus.open(work / "corpus"), everyone)
truth = clusters == 3

from agile.demo import load_suite
from agile.openclip_embedder import OpenClipEmbedder
from indexing.demo_build import DEMO_CHECKPOINT, DEMO_MODEL
demo = OpenClipEmbedder(DEMO_MODEL, checkpoint=DEMO_CHECKPOINT)
import subprocess
cli = subprocess.run([str(Path(sys.prefix) / "bin" / "agile"), "--help"], capture_output=True, text=True)
print(json.dumps({
    "agile": agile.__file__,
    "cli_help": cli.returncode == 0 and "agile-modeling[server]" in cli.stdout and "synth" in cli.stdout,
    "present": present,
    "version": version,
    "same_scores_after_reload": bool(np.allclose(scores, model.score_ids(corpus, everyone), atol=1e-6)),
    "mean_score_positive": float(scores[truth].mean()),
    "mean_score_negative": float(scores[~truth].mean()),
    "suite_concepts": len(load_suite()),
    "demo_text_dim": int(demo.embed_texts(["a red star"]).shape[1]),
}))
"""


def venv_key(python: str) -> str:
    """What decides the venv's contents: pyproject's base requirements, the lock and the Python version.

    Only those parts of pyproject.toml count, so editing a comment or a pytest option builds nothing.
    """
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], check=True,
                             capture_output=True, text=True).stdout
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    base = {"build": pyproject["build-system"]["requires"], "dependencies": pyproject["project"]["dependencies"],
            "python": pyproject["project"].get("requires-python")}
    digest = hashlib.sha256()
    for part in (json.dumps(base, sort_keys=True).encode(), (ROOT / "requirements.lock").read_bytes(),
                 version.encode()):
        digest.update(part)
    return digest.hexdigest()[:16]


def copy_sources(dst: Path) -> Path:
    """The files a wheel is built from, so building leaves no build/ or egg-info in the checkout."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dst / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, dst / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dst


def pip(venv: Path, *args: str) -> None:
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--progress-bar",
                           "off", *args], env=clean_env(), stderr=subprocess.PIPE, text=True)
    # pip warns about every configured local index folder that lacks a package; keep real messages only.
    sys.stderr.writelines(line for line in done.stderr.splitlines(keepends=True)
                          if "is ignored: it is neither a file nor a directory" not in line)
    done.check_returncode()


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def build(venv: Path, python: str, rebuild: bool) -> dict[str, float | bool]:
    """Create the venv with the base dependencies if needed, then install the current sources into it."""
    timings: dict[str, float | bool] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sources = copy_sources(Path(tmp))
        if rebuild or not (venv / ".complete").exists():
            started = time.monotonic()
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([python, "-m", "venv", str(venv)], check=True)  # no --system-site-packages
            pip(venv, "-c", str(ROOT / "requirements.lock"), str(sources))
            (venv / ".complete").touch()
            timings["built"], timings["build_seconds"] = True, round(time.monotonic() - started, 1)
        else:
            started = time.monotonic()
            pip(venv, "--no-deps", "--force-reinstall", str(sources))
            timings["built"], timings["reinstall_seconds"] = False, round(time.monotonic() - started, 1)
    return timings


def check(venv: Path) -> dict:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as cwd:
        out = subprocess.run([str(venv / "bin" / "python"), "-c", PROBE, ",".join(MUST_BE_ABSENT)], cwd=cwd,
                             env=clean_env(), check=True, capture_output=True, text=True)
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    pip_check = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"], env=clean_env(),
                               capture_output=True, text=True)
    failures = []
    if probe["present"]:
        failures.append(f"packages of extras installed without them: {probe['present']}")
    if not Path(probe["agile"]).resolve().is_relative_to(venv.resolve()):
        failures.append(f"agile was imported from {probe['agile']}, not from the venv")
    if not probe["same_scores_after_reload"]:
        failures.append("the loaded version scores differently from the trained model")
    if not probe["mean_score_positive"] > probe["mean_score_negative"] + 0.2:
        failures.append("the model does not separate its concept")
    if not probe["cli_help"]:
        failures.append("`agile --help` fails or does not say which extra the server commands need")
    if pip_check.returncode != 0:
        failures.append(f"pip check: {pip_check.stdout.strip()}")
    return {**probe, "pip_check": pip_check.stdout.strip(), "check_seconds": round(time.monotonic() - started, 1),
            "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="build the venv again from nothing")
    parser.add_argument("--python", default=getattr(sys, "_base_executable", sys.executable),
                        help="the interpreter the venv is made from")
    args = parser.parse_args(argv)
    root = Path(os.environ.get("AGILE_VENV_ROOT") or Path.home() / ".cache" / "agile-modeling")
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"install-check-{venv_key(args.python)}"
    with open(root / ".install-check.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs must not build the same venv at once
        report = {"venv": str(venv), **build(venv, args.python, args.rebuild), **check(venv)}
    print(json.dumps(report, indent=2))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

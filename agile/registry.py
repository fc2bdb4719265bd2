"""Immutable, numbered model versions on disk.

A registry is a directory of versions ``v000001/``, ``v000002/``, ... each
holding ``weights.pt`` (the MLP's state dict), ``config.json`` (its
TrainConfig) and ``sidecar.json`` (what produced it: label snapshot hash and
counts, embedding model, training settings, time, metrics, and the sha256 of
the weights).

A version is written in full into a hidden temporary directory, every file
fsynced, and then renamed to its number in one step; renaming a directory onto
an existing non-empty one fails, so two writers never claim the same number.
A crash at any point leaves earlier versions untouched and no partial version
visible; `ModelRegistry.remove_stale()` clears temporaries of dead writers.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agile.atomic import _fsync_dir, atomic_write_json
from agile.errors import AgileError
from agile.training import TrainConfig, TrainedModel

_VERSION_DIR = re.compile(r"^v(\d{6,})$")
_TEMP_DIR = re.compile(r"^\.tmp-v\d+-(\d+)-")
WEIGHTS, CONFIG, SIDECAR = "weights.pt", "config.json", "sidecar.json"


class RegistryError(AgileError):
    """A version is missing or its files are damaged."""


@dataclass(frozen=True)
class VersionInfo:
    version: int
    path: Path
    created_at: str
    sidecar: dict[str, Any]


def label_snapshot(ids: np.ndarray, labels: np.ndarray, none_class: int | None = None,
                   classes: int = 1) -> dict[str, Any]:
    """Hash and counts of a set of ratings, to trace a version to its labels.

    Labels are 1/0, or of a multi-category task (``classes`` > 1) class indices: its "positives" are
    the images rated in a category, its "negatives" those rated "none of these" (``none_class``), and
    ``classes`` counts each class.
    """
    ids = np.asarray(ids, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    if classes == 1:
        answers = (np.asarray(labels)[order] > 0.5).astype(np.uint8)
        return {"sha256": _digest(ids[order], answers), "positives": int(answers.sum()),
                "negatives": int(len(ids) - answers.sum())}
    answers = np.asarray(labels)[order].astype(np.uint8)
    counts = np.bincount(answers, minlength=classes)
    none = int(counts[none_class]) if none_class is not None else 0
    return {"sha256": _digest(ids[order], answers), "positives": int(len(ids) - none), "negatives": none,
            "classes": counts.tolist()}


def _digest(ids: np.ndarray, answers: np.ndarray) -> str:
    return hashlib.sha256(ids.tobytes() + answers.tobytes()).hexdigest()


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class ModelRegistry:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, version: int) -> Path:
        return self.root / f"v{version:06d}"

    def _numbers(self) -> list[int]:
        return sorted(int(m.group(1)) for p in self.root.iterdir()
                      if (m := _VERSION_DIR.match(p.name)) and p.is_dir())

    def save(self, model: TrainedModel, sidecar: dict[str, Any]) -> VersionInfo:
        """Write ``model`` as the next version; returns its VersionInfo."""
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-v0-{os.getpid()}-", dir=self.root))
        try:
            buffer = _state_bytes(model)
            _write_synced(tmp / WEIGHTS, buffer)
            _write_synced(tmp / CONFIG, json.dumps(model.config.to_dict(), indent=2).encode())
            created_at = datetime.now(timezone.utc).isoformat()
            body = {**sidecar, "config": model.config.to_dict(), "created_at": created_at,
                    "weights_sha256": hashlib.sha256(buffer).hexdigest()}
            if model.stats is not None:
                body.setdefault("training", model.stats.to_dict())
            while True:
                version = (self._numbers() or [0])[-1] + 1
                _write_synced(tmp / SIDECAR, json.dumps({**body, "version": version}, indent=2).encode())
                _fsync_dir(tmp)
                try:
                    os.rename(tmp, self._dir(version))  # atomic; fails if the number is taken
                except OSError:
                    if self._dir(version).exists():
                        continue  # another writer claimed this number first
                    raise
                _fsync_dir(self.root)
                return self.info(version)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def add_metrics(self, version: int, metrics: dict[str, Any]) -> dict[str, Any]:
        """Merge ``metrics`` into a saved version's sidecar (rewritten atomically); returns the new sidecar.

        For figures measured after the version was saved (its cross-validated
        AUC-PR); the weights and everything else of the sidecar stay as written.
        """
        side = self.sidecar(version)
        side["metrics"] = {**side.get("metrics", {}), **metrics}
        atomic_write_json(self._dir(version) / SIDECAR, side)
        return side

    def versions(self) -> list[VersionInfo]:
        return [self.info(v) for v in self._numbers()]

    def latest(self) -> VersionInfo | None:
        numbers = self._numbers()
        return self.info(numbers[-1]) if numbers else None

    def info(self, version: int) -> VersionInfo:
        side = self.sidecar(version)
        return VersionInfo(version, self._dir(version), str(side.get("created_at", "")), side)

    def sidecar(self, version: int) -> dict[str, Any]:
        path = self._dir(version) / SIDECAR
        if not path.is_file():
            raise RegistryError(f"{path}: model version {version} does not exist in {self.root}")
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RegistryError(f"{path}: unreadable sidecar: {e}") from e

    def load(self, version: int) -> TrainedModel:
        side = self.sidecar(version)
        weights = self._dir(version) / WEIGHTS
        if side.get("weights_sha256") and _sha256(weights) != side["weights_sha256"]:
            raise RegistryError(f"{weights}: checksum differs from sidecar.json (damaged file)")
        try:
            config = TrainConfig.from_dict(json.loads((self._dir(version) / CONFIG).read_text()))
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except (OSError, ValueError, TypeError, RuntimeError) as e:
            raise RegistryError(f"{self._dir(version)}: cannot load version {version}: {e}") from e
        return TrainedModel.from_state(config, state)

    def remove_stale(self) -> int:
        """Delete temporary directories left by writers that are no longer running."""
        removed = 0
        for path in self.root.iterdir():
            match = _TEMP_DIR.match(path.name)
            if match and not _pid_alive(int(match.group(1))):
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        return removed


def _state_bytes(model: TrainedModel) -> bytes:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

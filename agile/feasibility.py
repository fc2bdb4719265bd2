"""Whether a target is met, can be met with more labels, or is out of reach — with what the answer rests on.

Measured on the owner-rated evaluation set (the stratified set of paper
§4.2, never trained on). Every version is scored on the same images, so a
bootstrap over those images gives paired resamples of every version's
metric at once: the interval of the latest version's value, and a learning
curve m(n) = a - b / sqrt(n) (n = training labels) fitted per resample,
whose asymptote ``a`` says whether more labels can reach the target and
whose inverse says how many. The inverse square root is the usual shape of
learning curves of a fixed model family; with two or three versions the fit
is rough, and the answer says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from agile.targets import Target, TargetError, target_value

State = Literal["met", "not_yet", "out_of_reach", "unknown"]
REACH_SHARE = 0.1        # out of reach when fewer resamples than this reach the target at any label count
PRACTICAL_FACTOR = 20    # ... or need more than this many times the labels rated so far


@dataclass(frozen=True)
class VersionPoint:
    version: int
    labels: int            # training labels the version learned from
    scores: np.ndarray     # its scores of the evaluation images
    threshold: float = 0.5


@dataclass(frozen=True)
class TargetStatus:
    state: State
    message: str
    rests_on: str
    version: int | None = None
    value: float | None = None
    interval: list[float] = field(default_factory=list)
    labels_needed: int | None = None           # more training labels, point estimate
    labels_interval: list[float] = field(default_factory=list)  # [low, high]; inf when unreachable
    asymptote: float | None = None


def _curve(labels: np.ndarray, values: np.ndarray) -> tuple[float, float] | None:
    """Least-squares (a, b) of m = a - b / sqrt(n); None with fewer than two label counts."""
    if len(np.unique(labels)) < 2:
        return None
    x = 1.0 / np.sqrt(labels)
    slope, intercept = np.polyfit(x, values, 1)
    return float(intercept), float(-slope)


def _labels_for(a: float, b: float, goal: float) -> float:
    """n with a - b / sqrt(n) = goal; inf when the curve never gets there."""
    if a <= goal or b <= 0:
        return float("inf")
    return (b / (a - goal)) ** 2


def _resamples(truth: np.ndarray, rounds: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < rounds:
        idx = rng.integers(0, len(truth), len(truth))
        if 0 < truth[idx].sum() < len(idx):
            out.append(idx)
    return out


def target_status(target: Target, truth: np.ndarray, points: Sequence[VersionPoint],
                  bootstrap: int = 200, seed: int = 0) -> TargetStatus:
    """Met, not yet (with a labels estimate) or out of reach, for versions scored on rated evaluation images."""
    truth = np.asarray(truth).astype(bool)
    basis = (f"{len(truth)} rated evaluation images ({int(truth.sum())} positive), a stratified set: "
             f"metrics on it are not those of a random sample of the corpus")
    if truth.all() or not truth.any():
        return TargetStatus("unknown", "rate the evaluation set (positives and negatives) to measure the target",
                            basis)
    if not points:
        return TargetStatus("unknown", "no model version yet: train one to measure the target", basis)
    points = sorted(points, key=lambda p: (p.labels, p.version))
    latest = points[-1]
    labels = np.array([p.labels for p in points], dtype=np.float64)
    values = np.array([_value(target, truth, p) for p in points])
    samples = np.array([[_value(target, truth[idx], p, idx) for p in points]
                        for idx in _resamples(truth, bootstrap, seed)])
    interval = np.percentile(samples[:, -1], [2.5, 97.5]).tolist()
    common = dict(version=latest.version, value=float(values[-1]), interval=interval)
    if values[-1] >= target.value:
        return TargetStatus("met", f"met by version {latest.version}: {values[-1]:.3f} (95% interval "
                            f"{interval[0]:.3f}-{interval[1]:.3f}) against {target.value:g}", basis, **common)
    fit = _curve(labels, values)
    if fit is None:
        return TargetStatus("not_yet", f"version {latest.version} reaches {values[-1]:.3f} of {target.value:g}; "
                            "a second version trained on more labels is needed to estimate how many more",
                            basis + f"; one label count ({int(latest.labels)})", **common)
    fits = [_curve(labels, row) for row in samples]
    needed = np.array([_labels_for(*f, target.value) for f in fits]) - latest.labels
    point_needed = _labels_for(*fit, target.value) - latest.labels
    low, high = np.percentile(needed, [2.5, 97.5], method="inverted_cdf")  # inf-safe: no interpolation
    rests = (basis + f"; a learning curve a - b/sqrt(n) fitted to {len(points)} versions "
                     f"({', '.join(str(int(n)) for n in labels)} labels), {bootstrap} paired bootstrap resamples")
    reach = float(np.mean(np.isfinite(needed)))
    common.update(asymptote=round(fit[0], 4), labels_interval=[float(low), float(high)])
    if reach < REACH_SHARE or point_needed > PRACTICAL_FACTOR * latest.labels:
        return TargetStatus("out_of_reach", f"out of reach: the curve levels off near {fit[0]:.3f}, below "
                            f"{target.value:g} ({100 * reach:.0f}% of resamples ever reach it); this embedding does "
                            "not separate the concept well enough, and more labels will not get there", rests, **common)
    more = int(np.ceil(max(point_needed, 0)))
    return TargetStatus("not_yet", f"not yet: {values[-1]:.3f} of {target.value:g}; about {more} more labels "
                        f"(95% interval {_count(low)}-{_count(high)})", rests, labels_needed=more, **common)


def _count(x: float) -> str:
    return "unbounded" if not np.isfinite(x) else str(int(np.ceil(max(x, 0))))


def _value(target: Target, truth: np.ndarray, point: VersionPoint, idx: np.ndarray | None = None) -> float:
    scores = point.scores if idx is None else point.scores[idx]
    try:
        return target_value(target, truth, scores, point.threshold)
    except TargetError:
        return float("nan")

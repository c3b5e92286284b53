"""3D pose error metrics with the Human3.6M protocols, so results compare with the VideoPose3D paper.

* MPJPE (protocol 1): mean Euclidean joint distance, no alignment.
* P-MPJPE (protocol 2): MPJPE after a per-frame similarity (Procrustes) alignment of the prediction.
* N-MPJPE: MPJPE after a per-frame least-squares scale of the root-relative prediction (the paper's metric
  for semi-supervised training, where the scale is ambiguous).
* MPJVE: MPJPE of the first differences along time, i.e. of the velocities; it measures jitter.

Poses are arrays (..., J, 3): every leading index is one frame. Errors are in the input's units. The
aggregate for several actions weights every frame equally, as the Human3.6M tables do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from ..skeleton import ROOT

logger = logging.getLogger(__name__)

OVERALL = "overall"


def mpjpe(pred: np.ndarray, target: np.ndarray) -> float:
    """Protocol 1: mean Euclidean distance over all frames and joints."""
    p, t = _check_pair(pred, target)
    return float(np.linalg.norm(p - t, axis=-1).mean())


def p_mpjpe(pred: np.ndarray, target: np.ndarray) -> float:
    """Protocol 2: MPJPE after aligning each predicted frame onto its target by rotation, scale, translation.

    The rotation is the proper one (det = +1): a mirrored prediction is not excused by a reflection.
    """
    p, t = _check_pair(pred, target)
    return mpjpe(_procrustes_align(p, t), t)


def n_mpjpe(pred: np.ndarray, target: np.ndarray, root: int = ROOT) -> float:
    """MPJPE of root-relative poses after scaling each predicted frame by its least-squares optimal factor."""
    p, t = _check_pair(pred, target)
    if not -p.shape[-2] <= root < p.shape[-2]:
        raise ValueError(f"root joint {root} out of range for {p.shape[-2]} joints")
    p = p - np.take(p, [root], axis=-2)
    t = t - np.take(t, [root], axis=-2)
    dot = np.sum(p * t, axis=(-2, -1), keepdims=True)
    power = np.sum(p * p, axis=(-2, -1), keepdims=True)
    scale = np.where(power > 0.0, dot / np.where(power > 0.0, power, 1.0), 0.0)
    return mpjpe(scale * p, t)


def mpjve(pred: np.ndarray, target: np.ndarray, axis: int = 0) -> float:
    """Mean per-joint velocity error: MPJPE of the first differences along the time ``axis``."""
    p, t = _check_pair(pred, target)
    frame_dims = p.ndim - 2
    normalized = axis + p.ndim if axis < 0 else axis
    if not 0 <= normalized < frame_dims:
        raise ValueError(f"time axis {axis} is not a leading (frame) axis of poses with shape {p.shape}")
    if p.shape[axis] < 2:
        raise ValueError(f"MPJVE needs at least 2 frames along axis {axis}, got {p.shape[axis]}")
    return mpjpe(np.diff(p, axis=axis), np.diff(t, axis=axis))


def speed_ratio(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean predicted joint speed over mean true joint speed, root-relative, for a clip (T, J, 3): below 1 the
    motion is damped towards a mean pose, above 1 it jitters."""
    p, t = _check_pair(pred, target)
    p = p - p[:, :1]
    t = t - t[:, :1]
    true_speed = np.linalg.norm(np.diff(t, axis=0), axis=-1).mean()
    return float(np.linalg.norm(np.diff(p, axis=0), axis=-1).mean() / max(true_speed, 1e-12))


def per_frame_errors(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean joint error of every frame, shape (...,) for poses (..., J, 3)."""
    p, t = _check_pair(pred, target)
    return np.linalg.norm(p - t, axis=-1).mean(axis=-1)


@dataclass
class MetricReport:
    """All metrics of one clip, one action or a whole evaluation set."""

    mpjpe: float
    p_mpjpe: float
    n_mpjpe: float
    mpjve: float
    frames: int
    speed_ratio: float = float("nan")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def evaluate(pred: np.ndarray, target: np.ndarray) -> MetricReport:
    """All metrics of one clip of poses (T, J, 3), T >= 2."""
    p, t = _check_pair(pred, target)
    if p.ndim != 3:
        raise ValueError(f"a clip must have shape (T, J, 3), got {p.shape}")
    return MetricReport(
        mpjpe=mpjpe(p, t), p_mpjpe=p_mpjpe(p, t), n_mpjpe=n_mpjpe(p, t), mpjve=mpjve(p, t, axis=0), frames=len(p),
        speed_ratio=speed_ratio(p, t),
    )


def evaluate_by_action(clips: Iterable[tuple[str, np.ndarray, np.ndarray]]) -> dict[str, MetricReport]:
    """Frame-weighted reports per action and an ``"overall"`` one, from ``(action, pred, target)`` clips.

    Every metric, MPJVE included, is computed per clip and then averaged with the clips' frame counts as
    weights, so a long clip counts as much as its frames and MPJVE never differences across clip borders.
    """
    reports: dict[str, list[MetricReport]] = {}
    for action, pred, target in clips:
        if action == OVERALL:
            raise ValueError(f"action name {OVERALL!r} is reserved for the aggregate over all clips")
        reports.setdefault(action, []).append(evaluate(pred, target))
    if not reports:
        raise ValueError("no clips to evaluate")
    result = {action: _frame_weighted(clip_reports) for action, clip_reports in reports.items()}
    result[OVERALL] = _frame_weighted([r for clip_reports in reports.values() for r in clip_reports])
    logger.debug("evaluated %d actions, %d frames", len(reports), result[OVERALL].frames)
    return result


def _frame_weighted(reports: list[MetricReport]) -> MetricReport:
    weights = np.array([r.frames for r in reports], dtype=np.float64)

    def mean(name: str) -> float:
        return float(np.average([getattr(r, name) for r in reports], weights=weights))

    return MetricReport(
        mpjpe=mean("mpjpe"), p_mpjpe=mean("p_mpjpe"), n_mpjpe=mean("n_mpjpe"), mpjve=mean("mpjve"),
        frames=int(weights.sum()), speed_ratio=mean("speed_ratio"),
    )


def _procrustes_align(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Similarity transform of every frame of ``pred`` that best fits ``target`` (Umeyama, no reflection)."""
    shape = pred.shape
    p = pred.reshape(-1, shape[-2], 3)
    t = target.reshape(-1, shape[-2], 3)
    mu_p = p.mean(axis=1, keepdims=True)
    mu_t = t.mean(axis=1, keepdims=True)
    p0, t0 = p - mu_p, t - mu_t
    norm_p = np.sqrt(np.sum(p0 * p0, axis=(1, 2), keepdims=True))
    norm_t = np.sqrt(np.sum(t0 * t0, axis=(1, 2), keepdims=True))
    p0 = p0 / np.maximum(norm_p, 1e-12)
    t0 = t0 / np.maximum(norm_t, 1e-12)
    # Row-vector convention: aligned = scale * p0 @ R. H = p0^T t0 = U S V^T gives R = U V^T.
    u, s, vt = np.linalg.svd(np.einsum("fji,fjk->fik", p0, t0))
    sign = np.sign(np.linalg.det(u @ vt))
    sign = np.where(sign == 0.0, 1.0, sign)
    u[:, :, -1] *= sign[:, None]
    s[:, -1] *= sign
    rotation = u @ vt
    scale = s.sum(axis=1)[:, None, None] * norm_t
    aligned = scale * (p0 @ rotation) + mu_t
    return aligned.reshape(shape)


def _check_pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"prediction shape {p.shape} differs from target shape {t.shape}")
    if p.ndim < 2 or p.shape[-1] != 3:
        raise ValueError(f"poses must have shape (..., J, 3), got {p.shape}")
    if p.size == 0:
        raise ValueError(f"poses are empty, shape {p.shape}")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        which = "prediction" if not np.isfinite(p).all() else "target"
        raise ValueError(f"{which} contains NaN or infinite values")
    return p, t

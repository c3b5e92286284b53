"""Linear resampling along time (axis 0), shared by the lifter and the mocap readers."""

from __future__ import annotations

import numpy as np


def interpolate_frames(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``values`` (T, ...) linearly interpolated at fractional frame ``positions``, held at the ends."""
    positions = np.clip(positions, 0, len(values) - 1)
    lower = np.floor(positions).astype(int)
    upper = np.minimum(lower + 1, len(values) - 1)
    weight = (positions - lower).reshape((-1,) + (1,) * (values.ndim - 1))
    return values[lower] * (1 - weight) + values[upper] * weight


def resample(values: np.ndarray, source_fps: float, target_fps: float) -> np.ndarray:
    """Linear resampling from one frame rate to another (same start time; ends at or before the last frame)."""
    if source_fps <= 0 or target_fps <= 0:
        raise ValueError(f"frame rates must be positive, got {source_fps} and {target_fps}")
    frames = values.shape[0]
    if frames < 2 or abs(source_fps - target_fps) < 1e-6 * target_fps:
        return values.copy()
    count = int(np.floor((frames - 1) / source_fps * target_fps + 1e-6)) + 1
    return interpolate_frames(values, np.arange(count) / target_fps * source_fps)

"""Unlabeled 2D from real videos for semi-supervised training: keypoint files as windows.

A keypoint file is an ``.npz`` (loaded without pickle) holding ``keypoints`` (T, 17, 2|3) COCO-17 pixels with
an optional confidence column, ``image_size`` (width, height) and optionally ``focal_px`` and ``fps``. Frames
are converted to the lifter's input (normalised coordinates, confidence), resampled to 30 fps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..lift.camera import Intrinsics, pixels_to_normalized
from ..lift.lifter import fill_missing
from ..lift.resampling import resample
from ..skeleton import COCO17

MODEL_FPS = 30.0

@dataclass
class UnlabeledKeypoints:
    sequences: list[np.ndarray]  # each (T, 17, 3) float32: normalised x, y, confidence

    def sample_windows(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        lengths = np.array([len(s) for s in self.sequences])
        which = rng.choice(len(self.sequences), size=batch, p=lengths / lengths.sum())
        offsets = np.arange(length) - (length - 1) // 2
        out = np.empty((batch, length, 17, 3), dtype=np.float32)
        for i, s in enumerate(which):
            centre = rng.integers(lengths[s])
            out[i] = self.sequences[s][np.clip(centre + offsets, 0, lengths[s] - 1)]
            if rng.random() < 0.5:  # mirror, as the labeled data is
                out[i] = out[i][:, _FLIP]
                out[i, :, :, 0] *= -1
        return out

def load_unlabeled_keypoints(paths: list[Path]) -> UnlabeledKeypoints:
    sequences = []
    for path in paths:
        with np.load(path, allow_pickle=False) as data:
            try:
                keypoints = np.asarray(data["keypoints"], dtype=np.float64)
                width, height = (float(v) for v in data["image_size"])
            except KeyError as exc:
                raise ValueError(f"{path}: keypoint file needs 'keypoints' and 'image_size' arrays") from exc
            focal = float(data["focal_px"]) if "focal_px" in data else None
            fps = float(data["fps"]) if "fps" in data else MODEL_FPS
        if keypoints.ndim != 3 or keypoints.shape[1:] not in ((17, 2), (17, 3)):
            raise ValueError(f"{path}: keypoints must be (T, 17, 2|3), got {keypoints.shape}")
        confidence = keypoints[..., 2] if keypoints.shape[2] == 3 else np.ones(keypoints.shape[:2])
        intrinsics = Intrinsics.default(int(width), int(height), focal_px=focal)
        xy = pixels_to_normalized(keypoints[..., :2], intrinsics)
        confidence = np.where(np.isfinite(xy).all(-1), np.nan_to_num(confidence), 0.0)
        if not (confidence > 0).any():
            raise ValueError(f"{path}: no keypoint has a confidence above 0")
        xy = fill_missing(xy, confidence)  # gaps filled exactly as the lifter fills them at run time
        sequence = np.concatenate([xy, confidence[..., None]], axis=-1)
        sequences.append(resample(sequence, fps, MODEL_FPS).astype(np.float32))
    return UnlabeledKeypoints(sequences)

_FLIP = COCO17.flip_permutation()

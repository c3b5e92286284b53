"""The world's up direction in the camera frame, learned from mocap: the prior of the world alignment.

A body leaning as one straight line (the demo's forward lean) looks upright to every geometric test of the
body's shape, so the alignment's body axis followed the lean and took half of it away. People's poses say
more than their shape: over a clip, a small network that has seen which way gravity points for many poses
through many cameras (:mod:`core.training.up_estimator`) averages to a better up. Per frame it sees the
lifter's pelvis-relative joints, in the camera frame and divided by their RMS distance from the pelvis
(scale-free), and predicts a unit up vector; the clip's up is the normalised mean of the frames' predictions.

The bundled ``up_estimator.npz`` is trained on CMU mocap alone (validation subjects held out) through the
CMU-only lifter, so it may ship in commercial products like ``vp3d_cmu``. Inference is numpy; the file is read
without pickle. ``benchmarks/world_alignment.py`` measures it beside the body axis on held-out mocap,
``benchmarks/video_accuracy.py`` the capture's alignment (with it) against calibrated cameras.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_atomically
from ..lift.bundled import bundled_dirs
from ..npz import NpzFormat
from ..skeleton import H36M17

logger = logging.getLogger(__name__)

FILE_NAME = "up_estimator.npz"
FORMAT = NpzFormat("blender_vp3d.up_estimator", 1)
_INPUT_SIZE = H36M17.num_joints * 3


def pose_features(joints_camera: np.ndarray) -> np.ndarray:
    """(T, 17, 3) camera-frame joints -> (T, 51) pelvis-relative joints over their RMS distance from the pelvis."""
    joints = np.asarray(joints_camera, dtype=np.float64)
    relative = joints - joints[:, :1]
    scale = np.sqrt((relative**2).sum(-1).mean(-1))[:, None, None]
    return (relative / np.maximum(scale, 1e-9)).reshape(len(joints), -1)


@dataclass(frozen=True)
class UpEstimator:
    """A ReLU multilayer perceptron, 51 pose features -> an up vector (3,), with its file's metadata."""

    weights: tuple[np.ndarray, ...]   # per layer (inputs, outputs)
    biases: tuple[np.ndarray, ...]    # per layer (outputs,)
    metadata: dict[str, Any]

    def __post_init__(self) -> None:
        if not self.weights or len(self.weights) != len(self.biases):
            raise ValueError("an up estimator needs as many bias vectors as weight matrices, at least one")
        size = _INPUT_SIZE
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or w.shape[0] != size or b.shape != (w.shape[1],):
                raise ValueError(f"up estimator layer {k}: weight {w.shape} and bias {b.shape} do not chain "
                                 f"from {size} inputs")
            size = w.shape[1]
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise ValueError(f"up estimator layer {k} holds NaN or inf")
        if size != 3:
            raise ValueError(f"an up estimator must output 3 values, this one outputs {size}")

    @classmethod
    def load(cls, path: str | Path) -> UpEstimator:
        """Read an estimator file; ValueError naming the problem."""
        arrays, metadata = FORMAT.read(Path(path))
        layers = metadata.get("layers")
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
            raise ValueError(f"{path}: metadata 'layers' must be a positive integer, got {layers!r}")
        try:
            weights = tuple(arrays[f"weight_{k}"].astype(np.float64) for k in range(layers))
            biases = tuple(arrays[f"bias_{k}"].astype(np.float64) for k in range(layers))
        except KeyError as exc:
            raise ValueError(f"{path}: missing array {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: the weights are not numbers ({exc})") from None
        try:
            return cls(weights, biases, metadata)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def save(self, path: str | Path) -> None:
        """Write the estimator (and its metadata) to ``path`` atomically, with a readable ``.json`` beside it."""
        metadata = {**self.metadata, "format": FORMAT.name, "format_version": FORMAT.version,
                    "layers": len(self.weights)}
        arrays = {f"weight_{k}": w.astype(np.float32) for k, w in enumerate(self.weights)}
        arrays.update({f"bias_{k}": b.astype(np.float32) for k, b in enumerate(self.biases)})
        arrays["metadata"] = np.array(json.dumps(metadata))
        path = Path(path)
        write_atomically(path, lambda f: np.savez(f, **arrays))
        text = (json.dumps(metadata, indent=2) + "\n").encode()
        write_atomically(path.with_suffix(".json"), lambda f: f.write(text))

    def frame_ups(self, joints_camera: np.ndarray) -> np.ndarray:
        """(T, 17, 3) camera-frame joints -> (T, 3) unit up vectors in the camera frame, one per frame."""
        hidden = pose_features(joints_camera)
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            hidden = hidden @ w + b
            if k < len(self.weights) - 1:
                hidden = np.maximum(hidden, 0.0)
        return hidden / np.maximum(np.linalg.norm(hidden, axis=-1, keepdims=True), 1e-9)

    def up(self, joints_camera: np.ndarray) -> np.ndarray:
        """The clip's up (3,) in the camera frame: the normalised mean of :meth:`frame_ups`."""
        mean = self.frame_ups(joints_camera).mean(axis=0)
        norm = np.linalg.norm(mean)
        if not np.isfinite(norm) or norm < 1e-6:
            raise ValueError("the up estimator's frames disagree completely: no up direction")
        return mean / norm


@lru_cache(maxsize=1)
def bundled_up_estimator() -> UpEstimator | None:
    """The bundled estimator, or None (with a warning) where no file ships: the alignment then uses the body axis."""
    for folder in bundled_dirs():
        path = folder / FILE_NAME
        if path.is_file():
            return UpEstimator.load(path)
    logger.warning("no bundled %s: the world alignment falls back to the body axis", FILE_NAME)
    return None

"""The public entry point: 2D keypoints in pixels to 3D joints and root trajectory in metres.

``Lifter.load()`` reads a model file (by default the bundled one) and ``Lifter.lift`` does everything between a
detector's output and the 3D result, so the add-on, the CLI and tests all call the same code:

1. validate the keypoints; NaN coordinates and confidence 0 mean "missing";
2. fill missing keypoints by linear interpolation over time (edge hold at the ends); a joint never seen takes
   the mean position of the joints that were seen in that frame, and keeps confidence 0;
3. convert pixels to undistorted normalised camera coordinates with the given (or default) intrinsics;
4. resample to the model's frame rate when the clip's differs (linear), and the results back at the end;
5. pad both ends by edge replication so that every frame gets an output, however short the clip;
6. run the pose and trajectory networks on the clip and on its mirror image, and average (test-time flip);
7. zero the pelvis row of the root-relative joints;
8. with ``refine`` (the default), fit the result to the 2D keypoints through the same camera
   (:mod:`core.lift.refine`): rigid bones, limbs that reproject onto the confident keypoints, smooth in time.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import check_positive
from ..skeleton import COCO17, H36M17, ROOT
from .bundled import resolve_model
from .camera import Intrinsics, pixels_to_normalized
from .inference import DEFAULT_CHUNK_FRAMES, NumpyTemporalModel
from .model_file import ModelFileError, load_model_file, network_configs, network_weights
from .refine import RefineSettings, reprojection_error
from .refine import refine as refine_to_keypoints
from .resampling import interpolate_frames

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiftResult:
    """The lifter's output for a clip of T frames (float64 arrays).

    joints:      (T, 17, 3) H36M-17 joints relative to the pelvis (row 0 is zero), camera frame (x right,
                 y down, z forward), metres.
    trajectory:  (T, 3) pelvis position in the camera frame, metres.
    confidence:  (T, 17) input confidence per COCO-17 keypoint; 0 where the keypoint was missing and filled.
    fps:         frame rate of the frames above: the ``fps`` given to ``lift``, else the model's.
    focal_px:    focal length in pixels that the pixels were converted with (``fx`` of the intrinsics).
    reprojection_px: median distance in pixels between the limb joints projected through the camera and
                 their confident keypoints, (network output, returned result); equal without ``refine``.
    """

    joints: np.ndarray
    trajectory: np.ndarray
    confidence: np.ndarray
    fps: float
    focal_px: float
    reprojection_px: tuple[float, float] = (float("nan"), float("nan"))


class Lifter:
    """Pose and trajectory networks of one model file, with the conventions they were trained under."""

    def __init__(self, pose: NumpyTemporalModel, trajectory: NumpyTemporalModel, metadata: dict[str, Any],
                 path: Path | None = None):
        _check_compatible(pose, trajectory, metadata)
        self.pose = pose
        self.trajectory = trajectory
        self.metadata = metadata
        self.path = path

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, *, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> Lifter:
        """Load a model file, or a bundled model by name (``"default"``, the one without ``path``; see
        :mod:`.bundled`).

        Raises ``model_file.ModelFileError`` (a ``ValueError``) when the file is missing or invalid.
        """
        path = resolve_model(path)
        weights, metadata = load_model_file(path)
        configs = network_configs(metadata)
        pose, trajectory = (
            NumpyTemporalModel(configs[net], network_weights(weights, net), chunk_frames=chunk_frames)
            for net in ("pose", "trajectory")
        )
        logger.info("loaded model %s (receptive field %d, %g fps)", path, pose.receptive_field, metadata["fps"])
        return cls(pose, trajectory, metadata, path)

    @property
    def fps(self) -> float:
        """Frame rate the networks were trained at."""
        return float(self.metadata["fps"])

    @property
    def receptive_field(self) -> int:
        return self.pose.receptive_field

    @property
    def licence(self) -> str:
        """The model file's licence of its weights (which data they were trained on binds them)."""
        return str(self.metadata["licence"])

    @property
    def causal(self) -> bool:
        return self.pose.config.causal

    def lift(self, keypoints: np.ndarray, image_size: tuple[int, int], focal_px: float | None = None,
             fps: float | None = None, refine: bool = True, *, flip: bool = True,
             intrinsics: Intrinsics | None = None, refine_settings: RefineSettings | None = None) -> LiftResult:
        """Lift COCO-17 keypoints, (T, 17, 2) pixels or (T, 17, 3) with confidence, to 3D.

        ``image_size`` is (width, height) in pixels. ``focal_px`` is the focal length in pixels if known;
        otherwise ``camera.Intrinsics.default`` assumes a 26 mm-equivalent lens. ``fps`` is the clip's frame
        rate if it differs from the model's (:attr:`fps`). ``refine`` fits the result to the keypoints
        (:func:`core.lift.refine.refine`, with ``refine_settings``); ``False`` returns the networks' output as it
        is. ``flip`` averages with the mirrored clip.
        ``intrinsics`` replaces the default camera (principal point, distortion); it must match
        ``image_size`` and excludes ``focal_px``.
        """
        points, confidence = _check_keypoints(keypoints)
        width, height = _check_image_size(image_size)
        focal_px = _positive_or_none("focal_px", focal_px)
        fps = _positive_or_none("fps", fps)
        if intrinsics is not None:
            if not isinstance(intrinsics, Intrinsics):
                raise ValueError(f"intrinsics must be a camera.Intrinsics, got {type(intrinsics).__name__}")
            if focal_px is not None:
                raise ValueError("give either focal_px or intrinsics, not both")
            if (intrinsics.width, intrinsics.height) != (width, height):
                raise ValueError(
                    f"intrinsics are for a {intrinsics.width}x{intrinsics.height} image, image_size is {width}x{height}"
                )
            intr = intrinsics
        else:
            intr = Intrinsics.default(width, height, focal_px)

        points = fill_missing(points, confidence)
        normalized = pixels_to_normalized(points, intr)
        features = np.concatenate([normalized, confidence[..., None]], axis=-1)
        frames = len(features)
        resample = fps is not None and not math.isclose(fps, self.fps, rel_tol=1e-9)
        if resample:
            model_frames = math.ceil((frames - 1) * self.fps / fps - 1e-9) + 1
            features = interpolate_frames(features, np.arange(model_frames) * (fps / self.fps))
        joints, trajectory = self._run(features.astype(np.float32), flip)
        if resample:
            positions = np.arange(frames) * (self.fps / fps)
            joints, trajectory = interpolate_frames(joints, positions), interpolate_frames(trajectory, positions)
        joints[:, ROOT] = 0.0
        clip_fps = float(fps) if fps is not None else self.fps
        if refine:
            fit = refine_to_keypoints(joints, trajectory, normalized, confidence, fps=clip_fps,
                                      settings=refine_settings)
            joints, trajectory = fit.joints, fit.trajectory
            errors = (fit.error_before * intr.fx, fit.error_after * intr.fx)
        else:
            error = reprojection_error(joints + trajectory[:, None], normalized, confidence) * intr.fx
            errors = (error, error)
        return LiftResult(
            joints=joints,
            trajectory=trajectory,
            confidence=confidence,
            fps=clip_fps,
            focal_px=float(intr.fx),
            reprojection_px=errors,
        )

    def _run(self, features: np.ndarray, flip: bool) -> tuple[np.ndarray, np.ndarray]:
        """(T, 17, 3) model input at the model's rate -> joints (T, 17, 3), trajectory (T, 3), float64."""
        rf = self.receptive_field
        before = rf - 1 if self.causal else (rf - 1) // 2
        padded = np.pad(features, ((before, rf - 1 - before), (0, 0), (0, 0)), mode="edge")
        batch = [padded]
        if flip:
            mirrored = padded[:, COCO17.flip_permutation()].copy()
            mirrored[..., 0] *= -1
            batch.append(mirrored)
        batch = np.stack(batch)
        poses = self.pose(batch).astype(np.float64)            # (B, T, 17, 3)
        roots = self.trajectory(batch)[:, :, 0].astype(np.float64)  # (B, T, 3)
        joints, trajectory = poses[0], roots[0]
        if flip:
            unmirrored = poses[1][:, H36M17.flip_permutation()]
            unmirrored[..., 0] *= -1
            root = roots[1].copy()
            root[..., 0] *= -1
            joints = 0.5 * (joints + unmirrored)
            trajectory = 0.5 * (trajectory + root)
        return joints, trajectory


def _check_compatible(pose: NumpyTemporalModel, trajectory: NumpyTemporalModel, metadata: dict[str, Any]) -> None:
    """What the lifter needs beyond a valid model file (``model_file.validate`` checked shapes, shared receptive
    field and causality, fps): COCO-17 in, H36M-17 out."""
    expected = {
        "input_layout": COCO17.name,
        "output_layout": H36M17.name,
    }
    for key, value in expected.items():
        if metadata.get(key) != value:
            raise ModelFileError(f"the lifter needs {key} {value!r}, the model has {metadata.get(key)!r}")
    for net, model, joints_out in (("pose", pose, H36M17.num_joints), ("trajectory", trajectory, 1)):
        cfg = model.config
        if (cfg.num_joints_in, cfg.in_features, cfg.num_joints_out) != (COCO17.num_joints, 3, joints_out):
            raise ModelFileError(
                f"the {net} network maps {cfg.num_joints_in} joints x {cfg.in_features} features to "
                f"{cfg.num_joints_out} joints; the lifter needs {COCO17.num_joints} x 3 to {joints_out}"
            )


def _check_keypoints(keypoints: Any) -> tuple[np.ndarray, np.ndarray]:
    """-> pixel positions (T, 17, 2) with NaN where missing, confidence (T, 17) with 0 where missing."""
    array = np.asarray(keypoints)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"keypoints must be a numeric array, got dtype {array.dtype}")
    if array.ndim != 3 or array.shape[1] != COCO17.num_joints or array.shape[2] not in (2, 3):
        raise ValueError(f"keypoints must have shape (T, 17, 2) or (T, 17, 3), got {array.shape}")
    if array.shape[0] < 1:
        raise ValueError(f"keypoints must have at least one frame, got shape {array.shape}")
    array = array.astype(np.float64)
    points = array[..., :2].copy()
    if np.isinf(points).any():
        raise ValueError("keypoints contain infinite coordinates (use NaN for missing keypoints)")
    if array.shape[2] == 3:
        confidence = array[..., 2].copy()
        bad = ~np.isnan(confidence) & ((confidence < 0) | (confidence > 1))
        if bad.any():
            raise ValueError(
                f"keypoint confidence must lie in [0, 1], got values from {np.nanmin(confidence):g} "
                f"to {np.nanmax(confidence):g}"
            )
        confidence = np.nan_to_num(confidence, nan=0.0)
    else:
        confidence = np.ones(array.shape[:2])
    confidence[np.isnan(points).any(axis=-1)] = 0.0
    if not (confidence > 0).any():
        raise ValueError("no valid keypoints: every joint is missing (NaN or confidence 0) in every frame")
    points[confidence == 0] = np.nan
    return points, confidence


def _check_image_size(image_size: Any) -> tuple[Any, Any]:
    try:
        width, height = image_size
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (width, height), got {image_size!r}") from None
    for name, value in (("width", width), ("height", height)):
        check_positive(f"image_size {name}", value)
    return width, height


def _positive_or_none(name: str, value: Any) -> float | None:
    if value is None:
        return None
    return check_positive(name, value)


def fill_missing(points: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Replace missing (NaN) positions: per joint linear in time with edge hold; unseen joints get the frame's
    mean of the seen ones."""
    filled = points.copy()
    frames = np.arange(len(points))
    seen = np.zeros(points.shape[1], dtype=bool)
    for j in range(points.shape[1]):
        valid = confidence[:, j] > 0
        if not valid.any():
            continue
        seen[j] = True
        if not valid.all():
            for c in range(2):
                filled[:, j, c] = np.interp(frames, frames[valid], points[valid, j, c])
    if not seen.all():
        filled[:, ~seen] = filled[:, seen].mean(axis=1, keepdims=True)
    return filled

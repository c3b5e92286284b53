"""The result of a capture, and its file: a ``.npz`` of arrays plus one JSON metadata string, no pickle.

A :class:`Motion` is what every consumer reads (the add-on's retargeting, the BVH export, the preview), so a
capture can be re-retargeted without running the video pipeline again. The file holds:

* ``joints`` (T, 17, 3) float64: H36M-17 joints in the Z-up world (``core.cleanup.world``), metres, absolute
  (root-relative joints plus the root trajectory);
* ``trajectory`` (T, 3) float64: the root (pelvis) position in the same world;
* ``contacts`` (T, 2) bool: left and right foot planted (``core.cleanup.foot_contact``);
* ``keypoints_2d`` (T, 17, 3) float64, optional: the detector's COCO-17 keypoints in pixels plus confidence;
* ``metadata``: a JSON string with ``format``, ``version``, ``fps``, ``image_size``, ``source_video``,
  ``settings``, ``alignment`` and the joint layouts.

Writes go to a temporary file in the target's folder, then replace the target in one rename, so a crash
never leaves half a file under the real name.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_atomically
from ..checks import check_positive
from ..npz import NpzFormat
from ..skeleton import COCO17, H36M17

logger = logging.getLogger(__name__)

FORMAT_NAME = "blender_vp3d.motion"
FORMAT_VERSION = 1
FORMAT = NpzFormat(FORMAT_NAME, FORMAT_VERSION, version_key="version")


class MotionFileError(ValueError):
    """A motion file is missing, unreadable, corrupt, or does not hold a consistent motion."""


@dataclass(kw_only=True)
class Motion:
    """A captured motion; see the module docstring for the arrays' shapes and frames.

    fps:          frames per second of every array.
    image_size:   (width, height) of the source video in pixels, if there was one.
    source_video: path of the video the motion came from ("" if none).
    settings:     the capture settings (JSON-serialisable), for reproducing it.
    alignment:    ``world.WorldAlignment.to_dict()`` of the alignment used (empty if none).
    """

    joints: np.ndarray
    trajectory: np.ndarray
    fps: float
    contacts: np.ndarray | None = None
    keypoints_2d: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    source_video: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    alignment: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.joints = np.asarray(self.joints, dtype=np.float64)
        if self.joints.ndim != 3 or self.joints.shape[1:] != (H36M17.num_joints, 3) or len(self.joints) == 0:
            raise ValueError(f"joints must be (T, 17, 3) with T >= 1, got {self.joints.shape}")
        frames = len(self.joints)
        self.trajectory = np.asarray(self.trajectory, dtype=np.float64)
        if self.trajectory.shape != (frames, 3):
            raise ValueError(f"trajectory must be (T, 3) = ({frames}, 3), got {self.trajectory.shape}")
        if not (np.all(np.isfinite(self.joints)) and np.all(np.isfinite(self.trajectory))):
            raise ValueError("joints or trajectory contain NaN or inf")
        if self.contacts is None:
            self.contacts = np.zeros((frames, 2), dtype=bool)
        self.contacts = np.asarray(self.contacts)
        if self.contacts.shape != (frames, 2) or self.contacts.dtype != bool:
            raise ValueError(
                f"contacts must be bool (T, 2) = ({frames}, 2), got {self.contacts.dtype} {self.contacts.shape}"
            )
        if self.keypoints_2d is not None:
            self.keypoints_2d = np.asarray(self.keypoints_2d, dtype=np.float64)
            if self.keypoints_2d.shape != (frames, COCO17.num_joints, 3):
                raise ValueError(
                    f"keypoints_2d must be (T, 17, 3) = ({frames}, 17, 3) pixels + confidence, "
                    f"got {self.keypoints_2d.shape}"
                )
        self.fps = check_positive("fps", self.fps)
        if self.image_size is not None:
            size = tuple(self.image_size)
            if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
                raise ValueError(f"image_size must be (width, height) positive integers, got {self.image_size!r}")
            self.image_size = (int(size[0]), int(size[1]))
        self.source_video = str(self.source_video)

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    def bone_length_cv(self) -> dict[str, float]:
        """Coefficient of variation (std / mean over frames) of each bone's length, keyed by the bone's child
        joint (``"left_knee"`` is the left thigh). Rigid bones give 0; the issue's bar for a capture is 0.05.
        """
        out = {}
        for parent, child in H36M17.bones():
            lengths = np.linalg.norm(self.joints[:, child] - self.joints[:, parent], axis=-1)
            mean = float(lengths.mean())
            out[H36M17.joint_names[child]] = float(lengths.std() / mean) if mean > 0 else float("inf")
        return out

    # ------------------------------------------------------------------------------------------ file

    def save(self, path: str | os.PathLike) -> Path:
        """Write the motion to ``path`` (conventionally ``.npz``) atomically; returns the path."""
        path = Path(path)
        metadata = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "fps": self.fps,
            "image_size": list(self.image_size) if self.image_size is not None else None,
            "source_video": self.source_video,
            "settings": self.settings,
            "alignment": self.alignment,
            "joint_layout": H36M17.name,
            "keypoint_layout": COCO17.name,
            "frames": self.num_frames,
        }
        try:
            text = json.dumps(metadata, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"motion settings/alignment are not JSON-serialisable: {exc}") from exc
        arrays = {"joints": self.joints, "trajectory": self.trajectory, "contacts": self.contacts,
                  "metadata": np.array(text)}
        if self.keypoints_2d is not None:
            arrays["keypoints_2d"] = self.keypoints_2d
        if path.is_dir():
            raise ValueError(f"cannot write a motion file over the folder {path}")
        write_atomically(path, lambda handle: np.savez_compressed(handle, **arrays))
        logger.info("saved motion (%d frames, %g fps) to %s", self.num_frames, self.fps, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Motion:
        """Read a file written by :meth:`save`; raises :class:`MotionFileError` saying what is wrong."""
        path = Path(path)
        if not path.is_file():
            raise MotionFileError(f"motion file not found: {path}")
        try:
            arrays, metadata = FORMAT.read(path)
        except ValueError as exc:
            raise MotionFileError(f"{path} is not a readable motion file (.npz): {exc}") from None
        missing = {"joints", "trajectory", "contacts"} - set(arrays)
        if missing:
            raise MotionFileError(f"{path} is not a motion file: it lacks {', '.join(sorted(missing))}")
        if metadata.get("joint_layout") != H36M17.name:
            raise MotionFileError(
                f"{path} holds joint layout {metadata.get('joint_layout')!r}, expected {H36M17.name!r}"
            )
        if metadata.get("frames") != len(arrays["joints"]):
            raise MotionFileError(
                f"{path}: the metadata says {metadata.get('frames')} frames, the joints hold {len(arrays['joints'])}"
            )
        image_size = metadata.get("image_size")
        try:
            return cls(
                joints=arrays["joints"],
                trajectory=arrays["trajectory"],
                contacts=arrays["contacts"],
                keypoints_2d=arrays.get("keypoints_2d"),
                fps=metadata.get("fps"),
                image_size=tuple(image_size) if image_size is not None else None,
                source_video=metadata.get("source_video", ""),
                settings=metadata.get("settings", {}),
                alignment=metadata.get("alignment", {}),
            )
        except (ValueError, TypeError) as exc:
            raise MotionFileError(f"{path} holds an inconsistent motion: {exc}") from exc

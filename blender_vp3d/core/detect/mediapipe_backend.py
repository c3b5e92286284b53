"""The mediapipe package's BlazePose as a detector backend: optional, and the reference for our own BlazePose.

``mediapipe==0.10.21`` is the last release with these models and exists for CPython 3.11 only, with ``numpy<2``
and ``protobuf<5`` pins, so the add-on never needs it: it is imported lazily, and its absence is a clear
ImportError naming the package. Settings match :class:`.blazepose.BlazePoseDetector`: video mode (tracking),
the "full" landmark model (``model_complexity=1``), no landmark smoothing (the pipeline filters later).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .base import BLAZEPOSE_TO_COCO17, FrameDetections, check_frame

logger = logging.getLogger(__name__)


def import_mediapipe() -> Any:
    """The ``mediapipe`` module, or an ImportError that says how to get it."""
    try:
        import mediapipe
    except ImportError as exc:
        raise ImportError(
            "the mediapipe detector backend needs the mediapipe package (pip install mediapipe==0.10.21, "
            "CPython 3.11 only); the default 'blazepose' backend does not"
        ) from exc
    return mediapipe


class MediaPipeDetector:
    """``mp.solutions.pose.Pose`` behind the :class:`.base.PoseDetector` interface; one person per frame.

    Keypoint confidence = the landmark's visibility, person score = 1 (the solution does not expose its pose
    presence score), box = extent of the 33 landmarks, as for ``BlazePoseDetector``.
    """

    name = "mediapipe"

    def __init__(self, *, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        mp = import_mediapipe()
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=False,
            model_complexity=1,
            smooth_landmarks=False,
            enable_segmentation=False,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def detect_landmarks(self, frame_rgb: np.ndarray) -> np.ndarray | None:
        """(33, 4) x, y pixels, visibility, presence of the tracked person, or None."""
        check_frame(frame_rgb)
        if self._pose is None:
            raise ValueError("MediaPipeDetector is closed")
        result = self._pose.process(np.ascontiguousarray(frame_rgb))
        if result.pose_landmarks is None:
            return None
        height, width = frame_rgb.shape[:2]
        return np.array(
            [(p.x * width, p.y * height, p.visibility, p.presence) for p in result.pose_landmarks.landmark]
        )

    def detect(self, frame_rgb: np.ndarray) -> FrameDetections:
        landmarks = self.detect_landmarks(frame_rgb)
        if landmarks is None:
            return FrameDetections()
        keypoints = landmarks[list(BLAZEPOSE_TO_COCO17)][:, :3][None]
        box = np.concatenate([landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)])[None]
        return FrameDetections(keypoints=keypoints, boxes=box, scores=np.ones(1))

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

"""The one interface every 2D detector backend implements, and the COCO-17 mapping of BlazePose's 33 landmarks.

A detector is stateful: it is fed the frames of one video in order (BlazePose tracks its region of interest
from frame to frame) and returns, per frame, every person it found as COCO-17 keypoints in pixels with a
confidence per keypoint. Tracking people *across* frames (identity) is not the detector's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

# BlazePose / MediaPipe Pose landmark index for each COCO-17 keypoint, in COCO order.
BLAZEPOSE_TO_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


@dataclass
class FrameDetections:
    """People found in one frame.

    keypoints: (N, 17, 3) COCO-17 x, y in pixels of the frame as given, and a confidence in [0, 1].
    boxes:     (N, 4) x0, y0, x1, y1 pixels (the person's extent; from the detector or the keypoints).
    scores:    (N,) person score in [0, 1].
    """

    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 17, 3)))
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,)))

    def __post_init__(self) -> None:
        n = len(self.keypoints)
        if self.keypoints.shape != (n, 17, 3) or self.boxes.shape != (n, 4) or self.scores.shape != (n,):
            raise ValueError(
                f"inconsistent detections: keypoints {self.keypoints.shape}, boxes {self.boxes.shape}, "
                f"scores {self.scores.shape}"
            )

    @property
    def count(self) -> int:
        return len(self.keypoints)

    def unscaled(self, scale: tuple[float, float]) -> FrameDetections:
        """Keypoints and boxes found on an image resized by ``scale`` (x, y), in the original image's pixels.

        A frame read with ``max_side`` passes its ``VideoFrame.scale``; confidences are unchanged.
        """
        sx, sy = scale
        if sx == 1.0 and sy == 1.0:
            return self
        keypoints = self.keypoints.astype(np.float64, copy=True)
        keypoints[..., 0] /= sx
        keypoints[..., 1] /= sy
        boxes = self.boxes.astype(np.float64, copy=True)
        boxes[:, 0::2] /= sx
        boxes[:, 1::2] /= sy
        return replace(self, keypoints=keypoints, boxes=boxes)


class PoseDetector(Protocol):
    """Feed frames in order; ``close`` releases models and worker resources."""

    name: str

    def detect(self, frame_rgb: np.ndarray) -> FrameDetections:
        """frame_rgb: (H, W, 3) uint8 RGB."""
        ...

    def close(self) -> None: ...


def check_frame(frame: np.ndarray) -> np.ndarray:
    """Validate a frame for a detector: (H, W, 3) uint8. Raises ValueError naming the problem."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(f"frame must have shape (height, width, 3), got {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 RGB, got {frame.dtype}")
    return frame


def boxes_from_keypoints(keypoints: np.ndarray, min_confidence: float = 0.1) -> np.ndarray:
    """(N, 17, 3) -> (N, 4) box around the confident keypoints (all keypoints where none is confident)."""
    boxes = np.zeros((len(keypoints), 4))
    for i, person in enumerate(keypoints):
        good = person[:, 2] >= min_confidence
        xy = person[good, :2] if good.any() else person[:, :2]
        boxes[i] = [*xy.min(0), *xy.max(0)]
    return boxes

"""BlazePose's region of interest: a rotated square in the frame, cut out as the landmark model's input.

Geometry follows what MediaPipe's pose graphs document (``pose_detection_to_roi``, ``pose_landmarks_to_roi``,
``ImageToTensorCalculator``, ``LandmarkProjectionCalculator``), in pixels rather than normalised coordinates:

* two alignment points give the region: a centre point (the detector's hip-centre keypoint, or landmark 33 when
  tracking) and a scale point (detector keypoint 1, or landmark 34) that lies along the hips-to-shoulders
  direction. Side = 2 x |scale - centre| x 1.25 (the margin used in training); rotation = 90 degrees minus the
  angle of centre->scale in a y-up frame, so a standing person gets rotation 0 and an upright crop;
* the crop maps the rotated square onto the model input so that its corners land on the input's outer corners
  (a perspective transform from the ``cv::RotatedRect`` corners, as in MediaPipe), bilinear sampling;
  a normalised input position (u, v) in [0, 1] is the frame point ``centre + R(rotation) (u - 0.5, v - 0.5) side``;
* the detector's letterboxed input is the same construction with the frame's centre, side max(width, height),
  rotation 0 and a zero border;
* between frames the two tracking points are smoothed by a one-euro filter (min cutoff 0.01 Hz, beta 10,
  derivative cutoff 1 Hz, values scaled by the region's size) exactly as MediaPipe always does for its auxiliary
  landmarks, whatever ``smooth_landmarks`` says: a still person keeps a steady crop. MediaPipe's Python solution
  stamps frames 1/30 s apart whatever the video's rate, and so does :class:`AlignmentPointFilter` by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

ROI_ENLARGE = 1.25
TARGET_ANGLE = math.pi / 2


@dataclass(frozen=True)
class Roi:
    """A rotated square in frame pixels: centre, side length, rotation in radians (clockwise on screen)."""

    cx: float
    cy: float
    side: float
    rotation: float

    @property
    def valid(self) -> bool:
        return bool(np.isfinite([self.cx, self.cy, self.side, self.rotation]).all() and self.side >= 1.0)


def _normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def roi_from_alignment_points(centre: np.ndarray, scale: np.ndarray, enlarge: float = ROI_ENLARGE) -> Roi:
    """Region around ``centre`` (x, y pixels) whose size and rotation come from ``scale`` (x, y pixels)."""
    dx, dy = float(scale[0] - centre[0]), float(scale[1] - centre[1])
    side = 2.0 * math.hypot(dx, dy) * enlarge
    rotation = _normalize_radians(TARGET_ANGLE - math.atan2(-dy, dx))
    return Roi(float(centre[0]), float(centre[1]), side, rotation)


def letterbox_roi(width: int, height: int) -> Roi:
    """The whole frame, padded to a square around its centre (the detector's letterboxed input)."""
    return Roi(width / 2.0, height / 2.0, float(max(width, height)), 0.0)


def crop(frame: np.ndarray, roi: Roi, size: int, *, zero_border: bool) -> np.ndarray:
    """(size, size, channels) uint8 cut of ``roi``; outside the frame: zeros or the replicated edge.

    Built as MediaPipe's CPU converter builds it (float32 rectangle corners mapped onto the output's outer corners
    by a perspective transform, bilinear sampling), so that the same region gives the same pixels: with
    MediaPipe's own regions our landmarks then match its landmarks to within 0.01 px. (The transform is affine,
    but ``cv2.warpAffine`` with the same matrix rounds sample positions differently: 0.03 px median apart.)
    """
    corners = cv2.boxPoints(
        (
            (np.float32(roi.cx), np.float32(roi.cy)),
            (np.float32(roi.side), np.float32(roi.side)),
            np.float32(math.degrees(roi.rotation)),
        )
    ).astype(np.float32)  # bottom-left, top-left, top-right, bottom-right
    targets = np.array([[0, size], [0, 0], [size, 0], [size, size]], dtype=np.float32)
    return cv2.warpPerspective(
        frame,
        cv2.getPerspectiveTransform(corners, targets),
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT if zero_border else cv2.BORDER_REPLICATE,
        borderValue=0,
    )


def to_frame(points: np.ndarray, roi: Roi) -> np.ndarray:
    """(N, 2) positions normalised to the ROI's input (0..1) -> (N, 2) frame pixels."""
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    u = points[:, 0] - 0.5
    v = points[:, 1] - 0.5
    return np.stack([roi.cx + roi.side * (c * u - s * v), roi.cy + roi.side * (s * u + c * v)], axis=1)


class AlignmentPointFilter:
    """One-euro filter on the two tracking points (pixels), so the next frame's region stays steady.

    Per coordinate: ``speed = (x - x_prev_raw) * scale * rate`` low-passed at ``derivative_cutoff``; the value is
    then low-passed at ``min_cutoff + beta * |speed|``, where a low-pass at cutoff f has
    ``alpha = 1 / (1 + rate / (2 pi f))``. ``scale`` is 1 / the region's unenlarged side, so the filter responds
    to motion relative to the person's size. The first sample passes through. Casiez et al., "1 euro filter",
    CHI 2012.
    """

    def __init__(
        self, *, rate_hz: float = 30.0, min_cutoff: float = 0.01, beta: float = 10.0, derivative_cutoff: float = 1.0
    ) -> None:
        if rate_hz <= 0 or min_cutoff <= 0 or derivative_cutoff <= 0:
            raise ValueError(
                f"one-euro filter needs positive rate and cutoffs, got rate_hz={rate_hz}, "
                f"min_cutoff={min_cutoff}, derivative_cutoff={derivative_cutoff}"
            )
        self.rate_hz = rate_hz
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.derivative_cutoff = derivative_cutoff
        self.reset()

    def reset(self) -> None:
        self._raw: np.ndarray | None = None
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        return 1.0 / (1.0 + self.rate_hz / (2.0 * math.pi * np.asarray(cutoff)))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """points: (2, 2) centre and scale point in pixels -> filtered copy."""
        points = np.asarray(points, dtype=np.float64)
        if self._raw is None or self._value is None or self._speed is None:
            self._raw, self._value, self._speed = points.copy(), points.copy(), np.zeros_like(points)
            return points.copy()
        side = 2.0 * float(np.hypot(*(points[1] - points[0])))
        scale = 1.0 / side if side > 1e-6 else 0.0
        speed = (points - self._raw) * scale * self.rate_hz
        self._speed = self._speed + self._alpha(self.derivative_cutoff) * (speed - self._speed)
        alpha = self._alpha(self.min_cutoff + self.beta * np.abs(self._speed))
        self._value = self._value + alpha * (points - self._value)
        self._raw = points.copy()
        return self._value.copy()

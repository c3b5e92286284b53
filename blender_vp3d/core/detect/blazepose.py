"""BlazePose on LiteRT: the default 2D detector, which needs neither the mediapipe package nor torch.

It runs Google's two BlazePose models (Apache-2.0; see :mod:`.model_paths`) with ``ai_edge_litert`` and does the
pre- and post-processing itself, following what MediaPipe's pose graphs document, so that its landmarks match
``mp.solutions.pose.Pose(model_complexity=1, smooth_landmarks=False)`` (given the same region, the landmarks
are the same to within 0.01 px; see ``tests/test_blazepose.py``):

1. no region yet: the person detector runs on the letterboxed frame (:mod:`.blazepose_anchors`) and the best
   detection's alignment keypoints give the region of interest (:mod:`.blazepose_roi`);
2. the landmark model runs on the rotated 256x256 crop of the region: 39 landmarks x (x, y, z, visibility,
   presence) in crop pixels, a pose presence score, and 39 heatmaps that refine each landmark's position (the
   sigmoid-weighted mean of its 9x9 heatmap neighbourhood when the neighbourhood's peak is at least 0.5; the
   published graph asks for 7x7, but mediapipe 0.10.21 measurably uses the calculator's default of 9x9: with 9
   its landmarks and ours agree to 0.03 px on a detection frame, with 7 to 0.3-3 px);
3. presence below ``min_presence`` (0.5, MediaPipe's ``min_tracking_confidence``): nothing is reported for this
   frame and the next frame starts again at step 1. Otherwise landmarks 33 and 34 (auxiliary points: body
   centre and a size/rotation point), smoothed over time, give the next frame's region and the detector is not
   run again. A person leaving and re-entering the view is therefore re-detected.

The landmark model runs without its segmentation decoder (see :mod:`.litert_model`), which halves its cost.

Output: one person at most (BlazePose is single-person; with several people in view it follows whoever it
locked on to). Landmarks map to COCO-17 through ``BLAZEPOSE_TO_COCO17``; each keypoint's confidence is the
landmark's *visibility* (sigmoid of the model's logit: the probability that the point is in view and not
occluded); the person score is the pose presence score; the box spans the 33 landmarks.
"""

from __future__ import annotations

import copy

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import blazepose_anchors as ssd
from .base import BLAZEPOSE_TO_COCO17, FrameDetections, check_frame
from .blazepose_roi import AlignmentPointFilter, Roi, crop, letterbox_roi, roi_from_alignment_points, to_frame
from .litert_model import load_interpreter, output_index
from .model_paths import DETECTION_MODEL, LANDMARK_MODEL, blazepose_model_dir

logger = logging.getLogger(__name__)

LANDMARK_INPUT = 256
NUM_LANDMARKS = 39  # 33 body landmarks, 2 auxiliary tracking points (33 centre, 34 scale), 4 unused
NUM_BODY = 33
HEATMAP_KERNEL = 9  # what mediapipe 0.10.21 does (see the module docstring)
HEATMAP_MIN_CONFIDENCE = 0.5
MIN_PRESENCE = 0.5


@dataclass(frozen=True)
class PoseLandmarks:
    """One person's BlazePose landmarks in frame pixels.

    xy:         (33, 2) x, y pixels.
    z:          (33,) depth relative to the hips, in the same pixel scale (smaller = nearer the camera).
    visibility: (33,) sigmoid, probability the landmark is in view and unoccluded.
    presence:   (33,) sigmoid, probability the landmark is inside the frame.
    score:      pose presence score of the landmark model.
    roi:        the region the landmarks were read from; ``from_detection`` when the detector produced it.
    """

    xy: np.ndarray
    z: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    score: float
    roi: Roi
    from_detection: bool


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))  # clipped: no overflow warnings, same result


def _unused_landmark_output(name: str, shape: tuple[int, ...]) -> bool:
    """The landmark model's outputs we never read: the segmentation mask and the world landmarks."""
    return shape in ((1, LANDMARK_INPUT, LANDMARK_INPUT, 1), (1, NUM_LANDMARKS * 3))


def refine_from_heatmaps(xy: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Move each landmark (normalised crop coordinates, (39, 2)) to the sigmoid-weighted mean of its heatmap.

    heatmaps: (rows, cols, 39) logits. A landmark whose heatmap cell lies outside the grid, or whose 9x9
    neighbourhood peaks below 0.5, keeps its regressed position. Positions are cell indices / grid size, as in
    MediaPipe's ``RefineLandmarksFromHeatmapCalculator``.
    """
    rows, cols, count = heatmaps.shape
    col = np.trunc(xy[:, 0] * cols).astype(int)  # truncation toward zero, like a C++ float->int cast
    row = np.trunc(xy[:, 1] * rows).astype(int)
    inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    offsets = np.arange(HEATMAP_KERNEL) - (HEATMAP_KERNEL - 1) // 2
    window_rows = row[:, None] + offsets  # (39, kernel)
    window_cols = col[:, None] + offsets
    rows_ok = (window_rows >= 0) & (window_rows < rows)
    cols_ok = (window_cols >= 0) & (window_cols < cols)
    in_grid = rows_ok[:, :, None] & cols_ok[:, None, :]
    values = heatmaps[
        np.clip(window_rows, 0, rows - 1)[:, :, None],
        np.clip(window_cols, 0, cols - 1)[:, None, :],
        np.arange(count)[:, None, None],
    ]
    weights = np.where(in_grid, _sigmoid(values), 0.0)  # (39, k, k); cells off the grid count for nothing
    total = weights.sum(axis=(1, 2))
    refine = inside & (weights.max(axis=(1, 2)) >= HEATMAP_MIN_CONFIDENCE) & (total > 0)
    safe = np.where(total > 0, total, 1.0)
    refined = xy.copy()
    refined[:, 0] = np.where(refine, (weights.sum(axis=1) * window_cols).sum(axis=1) / safe / cols, xy[:, 0])
    refined[:, 1] = np.where(refine, (weights.sum(axis=2) * window_rows).sum(axis=1) / safe / rows, xy[:, 1])
    return refined


class BlazePoseDetector:
    """BlazePose (full landmark model) on LiteRT; one person, tracked from frame to frame.

    model_dir:          folder with the two ``.tflite`` files (default: :func:`.model_paths.blazepose_model_dir`).
    num_threads:        LiteRT threads per model (1 is fastest on small machines; parallelise across frames with
                        :mod:`.parallel` instead).
    min_detection_score: person detector threshold (MediaPipe's ``min_detection_confidence``).
    min_presence:       pose presence needed to keep tracking (MediaPipe's ``min_tracking_confidence``).
    tracking_rate_hz:   time base of the tracking-point filter; 30 matches MediaPipe's Python solution.
    """

    name = "blazepose"

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        num_threads: int = 1,
        min_detection_score: float = ssd.MIN_SCORE,
        min_presence: float = MIN_PRESENCE,
        tracking_rate_hz: float = 30.0,
    ) -> None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        for label, value in (("min_detection_score", min_detection_score), ("min_presence", min_presence)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{label} must be in [0, 1], got {value}")
        folder = Path(model_dir) if model_dir is not None else blazepose_model_dir()
        self._detector_path = folder / DETECTION_MODEL
        self._landmark_path = folder / LANDMARK_MODEL
        self._detector = load_interpreter(
            self._detector_path, num_threads=num_threads, input_shape=(1, ssd.INPUT_SIZE, ssd.INPUT_SIZE, 3)
        )
        self._landmarker = load_interpreter(
            self._landmark_path,
            num_threads=num_threads,
            input_shape=(1, LANDMARK_INPUT, LANDMARK_INPUT, 3),
            drop=_unused_landmark_output,
        )
        self._detector_in = int(self._detector.get_input_details()[0]["index"])
        self._detector_boxes = output_index(self._detector, (1, ssd.NUM_ANCHORS, 12), self._detector_path)
        self._detector_scores = output_index(self._detector, (1, ssd.NUM_ANCHORS, 1), self._detector_path)
        self._landmark_in = int(self._landmarker.get_input_details()[0]["index"])
        self._landmark_out = output_index(self._landmarker, (1, NUM_LANDMARKS * 5), self._landmark_path)
        self._presence_out = output_index(self._landmarker, (1, 1), self._landmark_path)
        self._heatmap_out = output_index(self._landmarker, (1, 64, 64, NUM_LANDMARKS), self._landmark_path)
        self._anchors = ssd.ssd_anchor_centres()
        self.min_detection_score = min_detection_score
        self.min_presence = min_presence
        self._filter = AlignmentPointFilter(rate_hz=tracking_rate_hz)
        self._roi: Roi | None = None
        self.detector_runs = 0  # how often the person detector ran (tracking keeps this low)

    # -- the two models -------------------------------------------------------------------------------------

    def _detect_person(self, frame: np.ndarray, bgr: bool) -> Roi | None:
        height, width = frame.shape[:2]
        box = letterbox_roi(width, height)
        image = crop(frame, box, ssd.INPUT_SIZE, zero_border=True)
        if bgr:
            image = image[:, :, ::-1]
        tensor = (image.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0))[None]
        self._detector.set_tensor(self._detector_in, tensor)
        self._detector.invoke()
        self.detector_runs += 1
        found = ssd.decode_detections(
            self._detector.get_tensor(self._detector_boxes)[0],
            self._detector.get_tensor(self._detector_scores)[0],
            self._anchors,
            min_score=self.min_detection_score,
        )
        if found.count == 0:
            return None
        best = ssd.weighted_nms(found)
        keypoints = to_frame(best.keypoints[0].astype(np.float64), box)  # letterbox removal, in pixels
        roi = roi_from_alignment_points(keypoints[0], keypoints[1])
        return roi if roi.valid else None

    def _landmarks(self, frame: np.ndarray, roi: Roi, bgr: bool) -> tuple[np.ndarray, float]:
        """(39, 5) x, y (frame pixels), z (pixels), visibility, presence; and the pose presence score."""
        image = crop(frame, roi, LANDMARK_INPUT, zero_border=False)
        if bgr:
            image = image[:, :, ::-1]
        self._landmarker.set_tensor(self._landmark_in, (image.astype(np.float32) * np.float32(1.0 / 255.0))[None])
        self._landmarker.invoke()
        score = float(self._landmarker.get_tensor(self._presence_out).ravel()[0])
        raw = self._landmarker.get_tensor(self._landmark_out).reshape(NUM_LANDMARKS, 5).astype(np.float64)
        out = np.full_like(raw, np.nan)
        if score < self.min_presence:
            return out, score
        xy = refine_from_heatmaps(raw[:, :2] / LANDMARK_INPUT, self._landmarker.get_tensor(self._heatmap_out)[0])
        out[:, :2] = to_frame(xy, roi)
        out[:, 2] = raw[:, 2] / LANDMARK_INPUT * roi.side
        out[:, 3:5] = _sigmoid(raw[:, 3:5])
        return out, score

    # -- public interface -----------------------------------------------------------------------------------

    def tracking_state(self) -> tuple:
        """A snapshot of the frame-to-frame tracking state, for :meth:`restore_tracking`."""
        return self._roi, copy.deepcopy(self._filter)

    def restore_tracking(self, state: tuple) -> None:
        """Continue tracking from a snapshot (e.g. the end of the previous segment of a video)."""
        self._roi, self._filter = state[0], copy.deepcopy(state[1])

    def reset(self) -> None:
        """Forget the tracked region: the next frame starts with person detection."""
        self._roi = None
        self._filter.reset()

    def detect_landmarks(self, frame: np.ndarray, *, bgr: bool = False) -> PoseLandmarks | None:
        """All 33 landmarks of the tracked person in ``frame`` ((H, W, 3) uint8), or None when nobody is found.

        ``bgr=True`` takes OpenCV's channel order as decoded (saves converting the whole frame).
        """
        check_frame(frame)
        if self._landmarker is None:
            raise ValueError("BlazePoseDetector is closed")
        from_detection = self._roi is None
        roi = self._detect_person(frame, bgr) if from_detection else self._roi
        if roi is None:
            self.reset()
            return None
        landmarks, score = self._landmarks(frame, roi, bgr)
        if not score >= self.min_presence or not np.isfinite(landmarks[: NUM_BODY + 2, :2]).all():
            logger.debug("pose presence %.2f < %.2f: tracking lost", score, self.min_presence)
            self.reset()
            return None
        tracking_points = self._filter(landmarks[NUM_BODY:NUM_BODY + 2, :2])
        next_roi = roi_from_alignment_points(tracking_points[0], tracking_points[1])
        self._roi = next_roi if next_roi.valid else None
        if self._roi is None:
            self._filter.reset()
        body = landmarks[:NUM_BODY]
        return PoseLandmarks(body[:, :2].copy(), body[:, 2].copy(), body[:, 3].copy(), body[:, 4].copy(),
                             score, roi, from_detection)

    def detect(self, frame_rgb: np.ndarray, *, bgr: bool = False) -> FrameDetections:
        """COCO-17 keypoints of the tracked person (0 or 1 person); see the module docstring."""
        found = self.detect_landmarks(frame_rgb, bgr=bgr)
        if found is None:
            return FrameDetections()
        return to_frame_detections(found)

    def close(self) -> None:
        self._detector = None
        self._landmarker = None
        self.reset()


def to_frame_detections(found: PoseLandmarks) -> FrameDetections:
    """One person's 33 landmarks -> COCO-17 detections (confidence = visibility)."""
    index = list(BLAZEPOSE_TO_COCO17)
    keypoints = np.concatenate([found.xy[index], found.visibility[index, None]], axis=1)[None]
    box = np.concatenate([found.xy.min(axis=0), found.xy.max(axis=0)])[None]
    return FrameDetections(keypoints=keypoints, boxes=box, scores=np.array([found.score]))

"""Follow people across frames and pick the one to capture, with the coverage report and refusal around it.

Detectors return everyone in each frame with no identity (detectron2 and imported files often give several
people; a bystander or a poster can be detected too). This module links detections into tracks, chooses the
main person, lets the user choose another, and hands the lifter one (T, 17, 3) array with missing frames
marked (NaN coordinates, confidence 0); the lifter fills those gaps.

Linking, frame by frame: every track seen in the last ``max_gap`` frames predicts its box and keypoints at
the current frame by constant velocity (of its box centre), and is scored against every detection:
``iou_weight * IoU + (1 - iou_weight) * keypoint similarity``, the latter an OKS-like mean of
``exp(-d^2 / (2 (sigma * size)^2))`` over joints confident in both (size = sqrt of the box area). The
assignment maximises the total score (Hungarian algorithm, in numpy below); pairs scoring under
``min_similarity`` are not linked, and unlinked detections start new tracks. Velocity is what keeps two
people apart when their paths cross and their boxes overlap.

Main person: the track with the largest sum, over its frames, of sqrt(box area) times the person score, i.e.
large and persistent (linear size, so someone twice as far away counts half, not a quarter). Track ids are
numbered by that weight, so track 0 is the main person and ids are the same on every run over the same
detections.

Refusal: :class:`PersonNotFoundError` when nobody is found, or when the chosen person is in fewer than
``min_frames`` (10) frames or under ``min_coverage`` (25%) of the clip: gap filling over three quarters of a
clip invents the motion rather than recovering it, and under 10 frames (a sixth of a second at 60 fps) there
is no motion to speak of.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .base import FrameDetections
from .boxes import iou as box_iou

logger = logging.getLogger(__name__)

NUM_KEYPOINTS = 17
MIN_COVERAGE = 0.25
MIN_FRAMES = 10


class PersonNotFoundError(ValueError):
    """The person to capture is in no frame, or in too few."""


@dataclass(frozen=True)
class TrackerSettings:
    """How detections are linked into tracks (see the module docstring)."""

    min_similarity: float = 0.2   # a track and a detection scoring less are not linked
    max_gap: int = 30             # frames a track may go undetected and still be continued
    iou_weight: float = 0.5       # share of box IoU in the score; the rest is keypoint similarity
    keypoint_sigma: float = 0.1   # keypoint distance scale, as a fraction of the person's size
    min_confidence: float = 0.3   # joints less confident are not compared, nor counted as covered
    max_predict: int = 10         # frames of constant-velocity extrapolation at most

    def __post_init__(self) -> None:
        for name in ("min_similarity", "iou_weight", "min_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if not self.keypoint_sigma > 0:
            raise ValueError(f"keypoint_sigma must be positive, got {self.keypoint_sigma!r}")
        for name in ("max_gap", "max_predict"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True)
class Track:
    """One person followed across frames.

    frames:        frame numbers where the person was detected, increasing.
    indices:       for each of those frames, the index of the person in that frame's detections.
    coverage:      len(frames) / number of frames in the clip.
    mean_box_size: mean (width, height) of the person's box, pixels.
    mean_score:    mean person score.
    weight:        sum over frames of sqrt(box area) * score; the main person has the largest.
    """

    track_id: int
    frames: tuple[int, ...]
    indices: tuple[int, ...]
    coverage: float
    mean_box_size: tuple[float, float]
    mean_score: float
    weight: float

    @property
    def frame_count(self) -> int:
        return len(self.frames)

    @property
    def first_frame(self) -> int:
        return self.frames[0]

    @property
    def last_frame(self) -> int:
        return self.frames[-1]

    def describe(self) -> str:
        """One line for a person to read, e.g. in the CLI's list of tracks."""
        width, height = self.mean_box_size
        return (f"track {self.track_id}: frames {self.first_frame}-{self.last_frame}, seen in {self.frame_count} "
                f"({100 * self.coverage:.0f}%), about {width:.0f}x{height:.0f} px")


@dataclass(frozen=True)
class SelectedPerson:
    """The person to lift, frame by frame.

    keypoints:      (T, 17, 3) COCO-17 x, y pixels and confidence; NaN, NaN, 0 where the person is absent.
    boxes:          (T, 4) x0, y0, x1, y1; NaN where absent.
    present:        (T,) whether the person was detected in each frame.
    track_id:       the chosen track.
    coverage:       fraction of frames where the person is present.
    joint_coverage: (17,) fraction of frames where each joint has confidence >= ``min_confidence``.
    tracks:         every track, main person first (for the user to choose another).
    """

    keypoints: np.ndarray
    boxes: np.ndarray
    present: np.ndarray
    track_id: int
    coverage: float
    joint_coverage: np.ndarray
    tracks: list[Track] = field(default_factory=list)


def track_people(detections: Sequence[FrameDetections], settings: TrackerSettings | None = None) -> list[Track]:
    """Link the detections of consecutive frames into tracks; main person first (track 0)."""
    settings = settings or TrackerSettings()
    _check_detections(detections)
    open_tracks: list[_Building] = []
    finished: list[_Building] = []
    for t, frame in enumerate(detections):
        still_open = []
        for track in open_tracks:
            (still_open if t - track.last_frame - 1 <= settings.max_gap else finished).append(track)
        open_tracks = still_open
        if frame.count == 0:
            continue
        similarity = _similarity(open_tracks, frame, t, settings)
        linked = set()
        for row, col in linear_assignment(-similarity):
            if similarity[row, col] >= settings.min_similarity:
                open_tracks[row].add(t, col, frame)
                linked.add(col)
        for col in range(frame.count):
            if col not in linked:
                open_tracks.append(_Building(t, col, frame))
    finished.extend(open_tracks)
    return _finish(finished, detections)


def main_track(tracks: Sequence[Track]) -> Track:
    """The large, persistent track (largest weight). Raises PersonNotFoundError when there is none."""
    if not tracks:
        raise PersonNotFoundError("no person was found in any frame")
    return max(tracks, key=lambda track: track.weight)


def select_track(detections: Sequence[FrameDetections], track_id: int | None = None, *,
                 settings: TrackerSettings | None = None, min_coverage: float = MIN_COVERAGE,
                 min_frames: int = MIN_FRAMES) -> SelectedPerson:
    """Track everyone, take the main person (or ``track_id``) and return their keypoints frame by frame.

    Raises :class:`PersonNotFoundError` when nobody is found or the person is in fewer than ``min_frames``
    frames or under ``min_coverage`` of them, and ``ValueError`` for a ``track_id`` that does not exist.
    """
    settings = settings or TrackerSettings()
    tracks = track_people(detections, settings)
    total = len(detections)
    if not tracks:
        raise PersonNotFoundError(f"no person was found in any of the {total} frames")
    if track_id is None:
        chosen = main_track(tracks)
    else:
        by_id = {track.track_id: track for track in tracks}
        if track_id not in by_id:
            raise ValueError(f"there is no track {track_id!r}; the tracks are "
                             f"{', '.join(str(i) for i in sorted(by_id))}")
        chosen = by_id[track_id]
    if chosen.frame_count < min_frames or chosen.coverage < min_coverage:
        others = "" if len(tracks) == 1 else f" ({len(tracks)} tracks were found; another can be chosen)"
        raise PersonNotFoundError(
            f"the person (track {chosen.track_id}) is found in only {chosen.frame_count} of {total} frames "
            f"({100 * chosen.coverage:.0f}%); at least {min_frames} frames and {100 * min_coverage:.0f}% of "
            f"the clip are needed{others}")
    keypoints = np.full((total, NUM_KEYPOINTS, 3), np.nan)
    keypoints[..., 2] = 0.0
    boxes = np.full((total, 4), np.nan)
    present = np.zeros(total, dtype=bool)
    for t, index in zip(chosen.frames, chosen.indices):
        keypoints[t] = detections[t].keypoints[index]
        boxes[t] = detections[t].boxes[index]
        present[t] = True
    confident = np.nan_to_num(keypoints[..., 2], nan=0.0) >= settings.min_confidence
    joint_coverage = confident.mean(axis=0) if total else np.zeros(NUM_KEYPOINTS)
    logger.info("person: %s; least covered joint %.0f%%", chosen.describe(), 100 * float(joint_coverage.min()))
    ordered = [chosen] + [track for track in tracks if track is not chosen]
    return SelectedPerson(keypoints, boxes, present, chosen.track_id, chosen.coverage, joint_coverage, ordered)


def fill_frames(person: SelectedPerson, step: int, count: int) -> SelectedPerson:
    """The person tracked on every ``step``-th frame (frames 0, step, 2 step, ...), on all ``count`` frames.

    Why: the lifter works at 30 fps, so on a 60 fps video detecting every other frame gives it the same input
    for half the detection work (``benchmarks/video_accuracy.py --detect-every 2``). A frame between two
    detected ones gets their linear interpolation (keypoints, confidences, box) where the person is present in
    both, else nothing; frames after the last detected one hold it. ``tracks`` keep the detected frames' indices.
    """
    if step < 1:
        raise ValueError(f"step must be at least 1, got {step}")
    detected = len(person.present)
    if detected != len(range(0, count, step)):
        raise ValueError(f"{detected} detected frames do not match every {step}th of {count} frames")
    if step == 1:
        return person
    position = np.minimum(np.arange(count) / step, detected - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, detected - 1)
    weight = position - lower
    present = person.present[lower] & (person.present[upper] | (weight == 0))
    keypoints = np.full((count, NUM_KEYPOINTS, 3), np.nan)
    keypoints[..., 2] = 0.0
    boxes = np.full((count, 4), np.nan)
    w = weight[present, None, None]
    a, b = lower[present], upper[present]
    keypoints[present] = person.keypoints[a] * (1 - w) + np.where(w > 0, person.keypoints[b], 0.0) * w
    boxes[present] = person.boxes[a] * (1 - w[:, 0]) + np.where(w[:, 0] > 0, person.boxes[b], 0.0) * w[:, 0]
    return SelectedPerson(keypoints, boxes, present, person.track_id, float(present.mean()), person.joint_coverage,
                          person.tracks)


def linear_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost matching of rows to columns (Hungarian algorithm, O(n^2 m)); (row, column) pairs.

    Every row is matched when there are no more rows than columns, and every column otherwise.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a matrix, got shape {cost.shape}")
    if cost.size == 0:
        return []
    if not np.all(np.isfinite(cost)):
        raise ValueError("cost must be finite")
    transposed = cost.shape[0] > cost.shape[1]
    if transposed:
        cost = cost.T
    rows, cols = cost.shape
    u = np.zeros(rows + 1)
    v = np.zeros(cols + 1)
    owner = np.zeros(cols + 1, dtype=int)  # owner[j]: row (1-based) matched to column j; column 0 is a sentinel
    way = np.zeros(cols + 1, dtype=int)
    for row in range(1, rows + 1):
        owner[0] = row
        column = 0
        min_reduced = np.full(cols + 1, np.inf)
        used = np.zeros(cols + 1, dtype=bool)
        while True:
            used[column] = True
            current_row = owner[column]
            reduced = cost[current_row - 1] - u[current_row] - v[1:]
            free = ~used[1:]
            better = free & (reduced < min_reduced[1:])
            min_reduced[1:][better] = reduced[better]
            way[1:][better] = column
            candidates = np.where(free, min_reduced[1:], np.inf)
            next_column = int(np.argmin(candidates)) + 1
            delta = candidates[next_column - 1]
            used_columns = np.flatnonzero(used)
            u[owner[used_columns]] += delta
            v[used_columns] -= delta
            min_reduced[1:][free] -= delta
            column = next_column
            if owner[column] == 0:
                break
        while column:
            previous = way[column]
            owner[column] = owner[previous]
            column = previous
    pairs = [(int(owner[j]) - 1, j - 1) for j in range(1, cols + 1) if owner[j]]
    if transposed:
        pairs = [(c, r) for r, c in pairs]
    return sorted(pairs)


# --- internals -------------------------------------------------------------------------------------------------

class _Building:
    """A track while tracking: its detections and a constant-velocity model of its box centre."""

    def __init__(self, t: int, index: int, frame: FrameDetections):
        self.frames = [t]
        self.indices = [index]
        self.keypoints = frame.keypoints[index]
        self.box = frame.boxes[index]
        self.velocity = np.zeros(2)

    @property
    def last_frame(self) -> int:
        return self.frames[-1]

    def add(self, t: int, index: int, frame: FrameDetections) -> None:
        box = frame.boxes[index]
        step = (_centre(box) - _centre(self.box)) / (t - self.last_frame)
        if np.all(np.isfinite(step)):
            self.velocity = step if len(self.frames) == 1 else 0.5 * self.velocity + 0.5 * step
        self.frames.append(t)
        self.indices.append(index)
        self.keypoints = frame.keypoints[index]
        self.box = box

    def predict(self, t: int, max_predict: int) -> tuple[np.ndarray, np.ndarray]:
        shift = self.velocity * min(t - self.last_frame, max_predict)
        keypoints = self.keypoints.copy()
        keypoints[:, :2] += shift
        return self.box + np.tile(shift, 2), keypoints


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([box[0] + box[2], box[1] + box[3]]) / 2.0


def _similarity(tracks: list[_Building], frame: FrameDetections, t: int, settings: TrackerSettings) -> np.ndarray:
    scores = np.zeros((len(tracks), frame.count))
    for row, track in enumerate(tracks):
        box, keypoints = track.predict(t, settings.max_predict)
        for col in range(frame.count):
            iou = float(box_iou(box, frame.boxes[col])[0])
            keypoint = _keypoint_similarity(keypoints, frame.keypoints[col], box, frame.boxes[col], settings)
            scores[row, col] = iou if keypoint is None else \
                settings.iou_weight * iou + (1.0 - settings.iou_weight) * keypoint
    return scores


def _area(box: np.ndarray) -> float:
    area = float((box[2] - box[0]) * (box[3] - box[1]))
    return area if math.isfinite(area) and area > 0 else 0.0


def _keypoint_similarity(a: np.ndarray, b: np.ndarray, box_a: np.ndarray, box_b: np.ndarray,
                         settings: TrackerSettings) -> float | None:
    """OKS-like similarity over joints confident in both, or None when fewer than 3 are."""
    both = (np.nan_to_num(a[:, 2]) >= settings.min_confidence) & (np.nan_to_num(b[:, 2]) >= settings.min_confidence)
    both &= np.isfinite(a[:, :2]).all(1) & np.isfinite(b[:, :2]).all(1)
    if both.sum() < 3:
        return None
    size = math.sqrt(max(0.5 * (_area(box_a) + _area(box_b)), 1.0))
    squared = np.sum((a[both, :2] - b[both, :2]) ** 2, axis=1)
    return float(np.mean(np.exp(-squared / (2.0 * (settings.keypoint_sigma * size) ** 2))))


def _finish(building: list[_Building], detections: Sequence[FrameDetections]) -> list[Track]:
    total = len(detections)
    stats = []
    for track in building:
        boxes = np.array([detections[t].boxes[i] for t, i in zip(track.frames, track.indices)])
        scores = np.array([detections[t].scores[i] for t, i in zip(track.frames, track.indices)])
        sizes = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
        sizes = np.where(np.isfinite(sizes) & (sizes > 0), sizes, 0.0)
        weight = float(np.sum(np.sqrt(sizes[:, 0] * sizes[:, 1]) * np.clip(np.nan_to_num(scores), 0.0, 1.0)))
        stats.append((track, tuple(float(s) for s in sizes.mean(0)), float(np.nanmean(scores)), weight))
    stats.sort(key=lambda item: (-item[3], item[0].frames[0]))
    return [
        Track(track_id=n, frames=tuple(track.frames), indices=tuple(track.indices),
              coverage=len(track.frames) / total, mean_box_size=size, mean_score=score, weight=weight)
        for n, (track, size, score, weight) in enumerate(stats)
    ]


def _check_detections(detections: Sequence[FrameDetections]) -> None:
    if len(detections) == 0:
        raise PersonNotFoundError("there are no frames to look for a person in")
    for t, frame in enumerate(detections):
        if not isinstance(frame, FrameDetections):
            raise ValueError(f"frame {t}: expected FrameDetections, got {type(frame).__name__}")

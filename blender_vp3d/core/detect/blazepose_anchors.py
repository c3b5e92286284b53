"""Decoding BlazePose's person detector: SSD anchors, box and keypoint decoding, weighted non-max suppression.

The detector (``pose_detection.tflite``, 224x224 letterboxed input in [-1, 1]) predicts, for each of 2254 SSD
anchors, 12 offsets and one logit. The anchors and the decoding follow the options that MediaPipe's
``pose_detection_cpu`` graph documents for this model:

* anchors (``SsdAnchorsCalculator``): 5 layers with strides 8, 16, 32, 32, 32 on a 224x224 input, anchor centre
  at cell offset 0.5, aspect ratio 1 plus the interpolated-scale anchor, fixed anchor size (width = height = 1).
  Layers that share a stride share a grid, so the grids are 28x28 (2 anchors per cell), 14x14 (2) and 7x7
  (3 layers x 2 = 6): 1568 + 392 + 294 = 2254 anchors, in that order (row-major cells, anchors within a cell);
* decoding (``TensorsToDetectionsCalculator``): values in x, y, w, h order (``reverse_output_order``), all scaled
  by 224: ``x = raw_x / 224 * anchor_w + anchor_x`` (anchor_w = 1), ``w = raw_w / 224``; four keypoints follow at
  offset 4 as (x, y) pairs, decoded like the centre. Score = sigmoid(logit clipped to [-100, 100]); anchors under
  the minimum score (0.5, ``min_detection_confidence``) are dropped;
* suppression (``NonMaxSuppressionCalculator``, WEIGHTED, IoU > 0.3): the best remaining detection absorbs every
  remaining one that overlaps it by more than 0.3 IoU (itself included); box corners and keypoints become the
  score-weighted mean of the absorbed ones, the score stays the best one's.

Keypoints of a pose detection: 0 mid-hip centre, 1 a point that encodes full-body size and rotation, 2 mid-shoulder
centre, 3 the same for the upper body. Coordinates here are normalised to the detector's (letterboxed) input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .boxes import iou

INPUT_SIZE = 224
NUM_ANCHORS = 2254
NUM_KEYPOINTS = 4
STRIDES = (8, 16, 32, 32, 32)
ANCHORS_PER_LAYER = 2  # aspect ratio 1.0, plus the interpolated-scale anchor (also aspect ratio 1.0)
ANCHOR_OFFSET = 0.5
SCORE_CLIP = 100.0
MIN_SCORE = 0.5
IOU_THRESHOLD = 0.3


@dataclass(frozen=True)
class PersonDetections:
    """Person detections, coordinates normalised to the detector input (0..1 across the letterboxed square).

    boxes:     (N, 4) x0, y0, x1, y1.
    keypoints: (N, 4, 2) x, y of the four alignment keypoints (see the module docstring).
    scores:    (N,) in [0, 1], best first after :func:`weighted_nms`.
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    @property
    def count(self) -> int:
        return len(self.scores)


def ssd_anchor_centres(input_size: int = INPUT_SIZE, strides: tuple[int, ...] = STRIDES) -> np.ndarray:
    """(num_anchors, 2) anchor centres x, y in [0, 1], in the order the model emits its predictions."""
    centres = []
    layer = 0
    while layer < len(strides):
        # Consecutive layers with the same stride share one grid; each contributes its anchors to every cell.
        same = 1
        while layer + same < len(strides) and strides[layer + same] == strides[layer]:
            same += 1
        cells = int(np.ceil(input_size / strides[layer]))
        grid = (np.arange(cells) + ANCHOR_OFFSET) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        per_cell = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(per_cell, same * ANCHORS_PER_LAYER, axis=0))
        layer += same
    return np.concatenate(centres).astype(np.float32)


def decode_detections(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    *,
    min_score: float = MIN_SCORE,
    input_size: int = INPUT_SIZE,
) -> PersonDetections:
    """Raw model outputs (num_anchors, 12) and (num_anchors, 1) -> detections above ``min_score`` (unsorted)."""
    raw_boxes = np.asarray(raw_boxes, dtype=np.float32).reshape(len(anchors), -1)
    logits = np.clip(np.asarray(raw_scores, dtype=np.float64).reshape(len(anchors)), -SCORE_CLIP, SCORE_CLIP)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = np.flatnonzero(scores >= min_score)
    if keep.size == 0:
        return PersonDetections(np.zeros((0, 4), np.float32), np.zeros((0, NUM_KEYPOINTS, 2), np.float32),
                                np.zeros(0, np.float32))
    raw = raw_boxes[keep] / input_size
    centre = anchors[keep]
    xy = raw[:, 0:2] + centre
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([xy - half, xy + half], axis=1)
    keypoints = raw[:, 4:4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) + centre[:, None, :]
    # Negative sizes are model noise that downstream steps must not see (MediaPipe drops them too).
    valid = (half >= 0).all(axis=1)
    return PersonDetections(boxes[valid], keypoints[valid], scores[keep][valid])


def weighted_nms(detections: PersonDetections, iou_threshold: float = IOU_THRESHOLD) -> PersonDetections:
    """Weighted non-max suppression; the result is sorted by score, best first."""
    order = np.argsort(-detections.scores, kind="stable")
    boxes, keypoints, scores = detections.boxes[order], detections.keypoints[order], detections.scores[order]
    out_boxes, out_keypoints, out_scores = [], [], []
    remaining = np.arange(len(scores))
    while remaining.size:
        best = remaining[0]
        absorbed = iou(boxes[best], boxes[remaining]) > iou_threshold
        members = remaining[absorbed] if absorbed.any() else remaining[:1]
        weights = scores[members] / scores[members].sum()
        out_boxes.append(weights @ boxes[members])
        out_keypoints.append(np.tensordot(weights, keypoints[members], axes=1))
        out_scores.append(scores[best])
        remaining = remaining[~absorbed]
        if absorbed.sum() == 0:  # cannot happen for a box with positive area; guards a degenerate box
            remaining = remaining[1:]
    if not out_scores:
        return detections
    return PersonDetections(np.array(out_boxes, np.float32), np.array(out_keypoints, np.float32),
                            np.array(out_scores, np.float32))

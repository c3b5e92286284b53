"""Box overlap, the one IoU of the project (detector suppression, tracking, the parallel detector's seams)."""

from __future__ import annotations

import numpy as np


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union (N,) of one box (4,) with each of ``boxes`` (N, 4), all ``x0, y0, x1, y1``.

    0 where the union is empty or a box holds NaN (a person absent from a frame); areas of inverted boxes
    count as 0.
    """
    box = np.asarray(box, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    width = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    height = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.clip(width, 0.0, None) * np.clip(height, 0.0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0.0, None) * np.clip(b[..., 3] - b[..., 1], 0.0, None)  # noqa: E731
    union = area(box) + area(boxes) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return np.nan_to_num(result, nan=0.0)

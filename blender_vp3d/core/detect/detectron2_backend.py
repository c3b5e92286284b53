"""Detectron2 Keypoint R-CNN as a :class:`PoseDetector`: the detector of VideoPose3D's in-the-wild pipeline.

detectron2 is not on PyPI and needs torch, so it is imported only when a :class:`Detectron2Detector` is made,
and its absence is a :class:`Detectron2UnavailableError` that says how to install it. Nothing is downloaded:
the user gives the config file (e.g. ``COCO-Keypoints/keypoint_rcnn_R_101_FPN_3x.yaml`` from detectron2's
``configs/`` folder, or that model-zoo name, which detectron2 resolves inside its installed package) and a
local weights file (``model_final_997cc7.pkl`` for that config, from detectron2's model zoo). Detectron2 reads
``.pkl`` weights with pickle, which can run code: point it only at weights from a source you trust.

The model is used through detectron2's documented API (``get_cfg``, ``merge_from_file``, ``DefaultPredictor``)
and its output (``outputs["instances"]``: ``pred_keypoints`` (N, 17, 3), ``pred_boxes``, ``scores``,
``pred_classes``) is converted by :func:`detections_from_instances`, which works on any object with those
attributes, so it is tested without detectron2.

Keypoint scores. ``pred_keypoints[..., 2]`` is not a calibrated confidence: detectron2's
``heatmaps_to_keypoints`` gives the spatial-softmax probability at the heatmap's peak, normalised over the
56x56 heatmap (so > 0, and well-located joints are far from 1), and older versions gave the raw logit. Its
own ``Visualizer`` hides keypoints scoring 0.05 or less. :func:`keypoint_scores_to_confidence` maps a score s
to ``1 - 2**(-s / 0.05)``: 0.05 -> 0.5, 0.1 -> 0.75, 0.2 -> 0.94, monotone and in [0, 1); values outside
[0, 1] are taken for logits and go through a sigmoid instead. Coordinates are kept as detectron2 gives them:
continuous pixels with pixel centres at i + 0.5, the convention of our camera model.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from .base import FrameDetections, boxes_from_keypoints, check_frame

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = "COCO-Keypoints/keypoint_rcnn_R_101_FPN_3x.yaml"
HALF_CONFIDENCE_SCORE = 0.05  # detectron2's Visualizer keypoint threshold; maps to confidence 0.5
PERSON_CLASS = 0
INSTALL_HELP = (
    "detectron2 is not on PyPI: install torch and torchvision first, then "
    "pip install 'git+https://github.com/facebookresearch/detectron2.git' into the same Python "
    "(it compiles, so a C++ compiler is needed; see https://detectron2.readthedocs.io/en/latest/tutorials/"
    "install.html), or use the mediapipe detector"
)


class Detectron2UnavailableError(ImportError, ValueError):
    """detectron2 (or torch) cannot be imported; the message says how to install it.

    An ImportError like the mediapipe backend's, and a ValueError so that handlers of bad input catch it too.
    """


def keypoint_scores_to_confidence(scores: np.ndarray) -> np.ndarray:
    """Detectron2 keypoint scores to confidences in [0, 1] (see the module docstring); NaN -> 0."""
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    clean = np.where(finite, scores, 0.0)
    if np.any(clean > 1.0) or np.any(clean < 0.0):
        confidence = 1.0 / (1.0 + np.exp(-clean))
    else:
        confidence = 1.0 - np.exp2(-clean / HALF_CONFIDENCE_SCORE)
    return np.where(finite, confidence, 0.0)


def detections_from_instances(instances: Any, *, min_score: float = 0.0) -> FrameDetections:
    """Convert detectron2 ``Instances`` (or anything with the same attributes) to :class:`FrameDetections`.

    Uses ``pred_keypoints`` (N, 17, 3), ``scores`` (N,), and ``pred_boxes.tensor`` (N, 4) and
    ``pred_classes`` (N,) when present; tensors on any device or numpy arrays. Keeps people of the person
    class scoring at least ``min_score``.
    """
    if not hasattr(instances, "pred_keypoints"):
        raise ValueError("detectron2 output has no pred_keypoints: the config is not a keypoint model "
                         "(use a COCO-Keypoints config)")
    keypoints = _to_numpy(instances.pred_keypoints).astype(np.float64)
    count = len(keypoints)
    if keypoints.shape != (count, 17, 3):
        raise ValueError(f"detectron2 pred_keypoints must be (N, 17, 3) COCO keypoints, got {keypoints.shape}")
    scores = _to_numpy(instances.scores).astype(np.float64).reshape(-1) if hasattr(instances, "scores") \
        else np.ones(count)
    boxes = _to_numpy(instances.pred_boxes.tensor).astype(np.float64).reshape(-1, 4) \
        if hasattr(instances, "pred_boxes") else boxes_from_keypoints(keypoints)
    classes = _to_numpy(instances.pred_classes).reshape(-1) if hasattr(instances, "pred_classes") \
        else np.full(count, PERSON_CLASS)
    if len(scores) != count or len(boxes) != count or len(classes) != count:
        raise ValueError(f"detectron2 output is inconsistent: {count} keypoint sets, {len(scores)} scores, "
                         f"{len(boxes)} boxes, {len(classes)} classes")
    keep = (classes == PERSON_CLASS) & (scores >= min_score)
    keypoints = keypoints[keep]
    keypoints[..., 2] = keypoint_scores_to_confidence(keypoints[..., 2])
    return FrameDetections(keypoints, boxes[keep], np.clip(scores[keep], 0.0, 1.0))


class Detectron2Detector:
    """Keypoint R-CNN through detectron2's ``DefaultPredictor``.

    config_file:     a detectron2 config (a path, or a model-zoo name such as :data:`DEFAULT_CONFIG`).
    weights:         local weights file for that config.
    device:          "cpu", "cuda", "cuda:1", ...; None picks CUDA when torch sees it.
    score_threshold: person detections below this score are dropped (``ROI_HEADS.SCORE_THRESH_TEST``).
    """

    name = "detectron2"

    def __init__(self, config_file: str | os.PathLike, weights: str | os.PathLike, *, device: str | None = None,
                 score_threshold: float = 0.5):
        if not isinstance(score_threshold, (int, float)) or not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold!r}")
        torch, get_cfg, model_zoo, predictor_class = _import_detectron2()
        config_path = _resolve_config(config_file, model_zoo)
        weights_path = Path(weights)
        if not weights_path.is_file():
            raise ValueError(f"detectron2 weights not found: {weights_path} (download the weights of "
                             f"{Path(str(config_file)).name} from detectron2's model zoo and give their path)")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        cfg = get_cfg()
        try:
            cfg.merge_from_file(str(config_path))
        except Exception as exc:  # yacs/yaml raise a variety of types; one line for the user
            raise ValueError(f"{config_path}: not a usable detectron2 config ({type(exc).__name__}: {exc})") from exc
        if not cfg.MODEL.KEYPOINT_ON:
            raise ValueError(f"{config_path}: is not a keypoint model config (MODEL.KEYPOINT_ON is false)")
        if cfg.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS != 17:
            raise ValueError(f"{config_path}: predicts {cfg.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS} keypoints, "
                             f"COCO-17 needs 17")
        cfg.MODEL.WEIGHTS = str(weights_path)
        cfg.MODEL.DEVICE = device
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = float(score_threshold)
        cfg.freeze()
        self._predictor = predictor_class(cfg)
        self.score_threshold = float(score_threshold)
        self.settings = {
            "config": str(config_path),
            "weights": str(weights_path.resolve()),
            "weights_size": weights_path.stat().st_size,
            "score_threshold": self.score_threshold,
        }
        logger.info("detectron2 %s with %s on %s", config_path.name, weights_path.name, device)

    def detect(self, frame_rgb: np.ndarray) -> FrameDetections:
        """People in one (H, W, 3) uint8 RGB frame, COCO-17 keypoints in that frame's pixels."""
        frame = check_frame(frame_rgb)
        outputs = self._predictor(np.ascontiguousarray(frame[:, :, ::-1]))  # DefaultPredictor takes BGR
        return detections_from_instances(outputs["instances"].to("cpu"), min_score=self.score_threshold)

    def close(self) -> None:
        self._predictor = None


def _import_detectron2() -> tuple[Any, Any, Any, Any]:
    """(torch, get_cfg, model_zoo, DefaultPredictor), or Detectron2UnavailableError with install help."""
    try:
        from detectron2 import model_zoo
        from detectron2.config import get_cfg
        from detectron2.engine import DefaultPredictor
        import torch
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        if missing.split(".")[0] in ("detectron2", "torch"):
            raise Detectron2UnavailableError(f"the detectron2 detector needs {missing.split('.')[0]}, which is not "
                                             f"installed; {INSTALL_HELP}") from None
        raise Detectron2UnavailableError(f"detectron2 is installed but does not import ({exc}); {INSTALL_HELP}") \
            from exc
    return torch, get_cfg, model_zoo, DefaultPredictor


def _resolve_config(config_file: str | os.PathLike, model_zoo: Any) -> Path:
    path = Path(config_file)
    if path.is_file():
        return path
    try:
        resolved = Path(model_zoo.get_config_file(str(config_file)))
    except RuntimeError:
        resolved = None
    if resolved is None or not resolved.is_file():
        raise ValueError(f"detectron2 config not found: {config_file} (give the path of a .yaml from "
                         f"detectron2's configs/ folder, or a model-zoo name such as {DEFAULT_CONFIG})")
    return resolved


def _to_numpy(value: Any) -> np.ndarray:
    """A torch tensor (any device) or array-like as a numpy array, without importing torch."""
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "cpu"):
        value = value.cpu()
    if hasattr(value, "numpy"):
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype == object:
        raise ValueError("detectron2 output holds Python objects where numbers were expected")
    return array


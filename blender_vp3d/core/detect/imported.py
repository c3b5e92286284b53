"""Keypoints detected elsewhere, read into the detector interface, so people can detect on another machine.

Every reader returns an :class:`ImportedKeypoints`: one :class:`FrameDetections` per frame (COCO-17 pixels,
confidence in [0, 1], NaN coordinates with confidence 0 for joints a file marks missing; a person with no
confident joint is dropped), plus the image size and frame rate where the file knows them. Files are data,
never code: JSON through ``json``, ``.npz`` with ``allow_pickle=False``.

Formats (:func:`load_keypoints` picks one from the path):

- **COCO results JSON** (``.json``): a list of ``{"image_id", "category_id", "keypoints": [51 numbers],
  "score"}`` as detectron2, mmpose and others write; or a COCO dataset ``{"images", "annotations"}`` (then
  frames follow the images sorted by id, and their ``width``/``height`` give the image size). Integer image
  ids are frame numbers counted from ``first_image_id`` (default: the smallest id seen), so frames without a
  detection stay in place; other ids are put in natural order and must each be a frame. Only category 1
  (person) is kept. COCO writes pixel indices (pixel centres at integers); we add 0.5 to match our
  continuous pixel coordinates (centres at i + 0.5, as detectron2 and MediaPipe give).
- **OpenPose** (a directory of ``*_keypoints.json``, one per frame, in natural order of their names):
  ``people[].pose_keypoints_2d`` in BODY_25 (75 numbers) or COCO-18 (54 numbers), mapped to COCO-17; (0, 0, 0)
  is a missing joint. Pixel indices, +0.5 as above.
- **VideoPose3D 2D** (``.npz`` with ``positions_2d``): VideoPose3D's own ``data_2d_custom_*.npz`` keeps
  ``positions_2d`` and ``metadata`` as *pickled* Python dicts, and a pickle can run code when loaded, so those
  files are refused with a message saying how to convert them. Accepted: ``positions_2d`` as a plain float
  array (T, 17, 2|3) in COCO order (VideoPose3D's "coco" custom layout), with optional ``image_size`` (2,) or
  ``res_w`` and ``res_h``, and ``fps``.
- **Ours** (``.npz`` with ``keypoints``), written by :func:`save_keypoints_npz`: ``keypoints`` (T, 17, 3) or
  (T, N, 17, 3) float (x, y pixels, confidence; a (..., 2) array means confidence 1; NaN pads absent
  people), ``image_size`` (2,) width and height, optional ``fps``, ``focal_px``, ``boxes`` (T, N, 4) and
  ``scores`` (T, N). Its (T, 17, 2|3) form is also what ``training/keypoint_files.py`` reads.

Confidence (``score_kind``, COCO JSON): ``"confidence"`` takes the third number as it is (clipped to [0, 1]);
``"visibility"`` reads COCO ground-truth flags (0 missing, 1 or 2 labelled -> 1.0); ``"detectron2"`` maps
detectron2 keypoint scores with :func:`.detectron2_backend.keypoint_scores_to_confidence`; ``"logit"`` applies a
sigmoid (heatmap logits, as some tools write); ``"auto"`` picks visibility when every value is 0, 1 or 2,
logit when a value lies outside [0, 1], and confidence otherwise. Detectron2's scores lie in (0, 1] but are
not calibrated confidences, so pass ``"detectron2"`` for its COCO JSON.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_atomically
from ..npz import read_npz
from .base import FrameDetections, boxes_from_keypoints
from .detectron2_backend import keypoint_scores_to_confidence

logger = logging.getLogger(__name__)

NUM_KEYPOINTS = 17
SCORE_KINDS = ("auto", "confidence", "visibility", "detectron2", "logit")
MIN_CONFIDENCE = 0.05  # a person needs one joint at least this confident to be kept

# OpenPose joint index for each COCO-17 keypoint, in COCO order.
OPENPOSE_BODY25_TO_COCO17 = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
OPENPOSE_COCO18_TO_COCO17 = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)
_OPENPOSE_LAYOUTS = {25: OPENPOSE_BODY25_TO_COCO17, 18: OPENPOSE_COCO18_TO_COCO17}


@dataclass
class ImportedKeypoints:
    """Detections read from a file.

    detections: one per frame, in frame order.
    image_size: (width, height) in pixels if the file says, else None.
    fps:        frame rate if the file says, else None.
    focal_px:   focal length in pixels if the file says, else None.
    source:     the format read: "coco", "openpose", "videopose3d" or "vp3d".
    """

    detections: list[FrameDetections]
    image_size: tuple[int, int] | None
    fps: float | None
    focal_px: float | None
    source: str

    @property
    def frame_count(self) -> int:
        return len(self.detections)


def load_keypoints(path: str | os.PathLike, *, frame_count: int | None = None,
                   image_size: tuple[int, int] | None = None, score_kind: str = "auto",
                   first_image_id: int | None = None) -> ImportedKeypoints:
    """Read any supported keypoint file (see the module docstring) and check it against the video.

    ``frame_count`` and ``image_size`` (width, height) are the video's; a file that disagrees raises
    ``ValueError`` naming both numbers. ``score_kind`` and ``first_image_id`` apply to COCO JSON.
    """
    path = Path(path)
    if path.is_dir():
        result = load_openpose_dir(path)
    elif not path.is_file():
        raise ValueError(f"keypoint file not found: {path}")
    elif path.suffix.lower() == ".json":
        result = load_coco_json(path, frame_count=frame_count, score_kind=score_kind, first_image_id=first_image_id)
    elif path.suffix.lower() == ".npz":
        names = _npz_names(path)
        if "positions_2d" in names:
            result = load_videopose3d_npz(path)
        elif "keypoints" in names:
            result = load_keypoints_npz(path)
        else:
            raise ValueError(f"{path}: an .npz keypoint file needs a 'keypoints' array (ours) or 'positions_2d' "
                             f"(VideoPose3D); it has {sorted(names)}")
    else:
        raise ValueError(f"{path}: unknown keypoint file type {path.suffix!r}: expected a COCO .json, an .npz, "
                         f"or a directory of OpenPose *_keypoints.json files")
    check_against_video(result, path, frame_count=frame_count, image_size=image_size)
    return result


def check_against_video(imported: ImportedKeypoints, path: str | os.PathLike, *, frame_count: int | None = None,
                        image_size: tuple[int, int] | None = None) -> None:
    """Raise ``ValueError`` when the file's frame count or image size differs from the video's."""
    if frame_count is not None and imported.frame_count != frame_count:
        raise ValueError(f"{path}: has keypoints for {imported.frame_count} frames, the video has {frame_count}")
    if image_size is not None and imported.image_size is not None:
        if tuple(int(v) for v in image_size) != tuple(imported.image_size):
            raise ValueError(f"{path}: keypoints are for a {imported.image_size[0]}x{imported.image_size[1]} "
                             f"image, the video is {image_size[0]}x{image_size[1]}")


# --- COCO ---------------------------------------------------------------------------------------------------

def load_coco_json(path: str | os.PathLike, *, frame_count: int | None = None, score_kind: str = "auto",
                   first_image_id: int | None = None) -> ImportedKeypoints:
    """COCO keypoint results (a list) or a COCO dataset (``images`` + ``annotations``); see the module docstring."""
    path = Path(path)
    if score_kind not in SCORE_KINDS:
        raise ValueError(f"score_kind must be one of {SCORE_KINDS}, got {score_kind!r}")
    data = _read_json(path)
    image_size = None
    ordered_ids: list[Any] | None = None
    if isinstance(data, dict):
        if "annotations" not in data:
            raise ValueError(f"{path}: a COCO JSON object needs an 'annotations' list")
        annotations = data["annotations"]
        images = data.get("images") or []
        if images:
            try:
                ordered_ids = sorted((image["id"] for image in images), key=_natural_key)
                sizes = {(int(image["width"]), int(image["height"])) for image in images if "width" in image}
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}: COCO 'images' entries need 'id', 'width' and 'height' ({exc})") from None
            if len(sizes) > 1:
                raise ValueError(f"{path}: images of different sizes {sorted(sizes)} are not frames of one video")
            image_size = sizes.pop() if sizes else None
    elif isinstance(data, list):
        annotations = data
    else:
        raise ValueError(f"{path}: expected a COCO results list or a COCO dataset object, got {type(data).__name__}")
    if not isinstance(annotations, list):
        raise ValueError(f"{path}: 'annotations' must be a list")

    people: list[tuple[Any, np.ndarray, float]] = []
    for n, item in enumerate(annotations):
        if not isinstance(item, dict) or "image_id" not in item or "keypoints" not in item:
            raise ValueError(f"{path}: entry {n} needs 'image_id' and 'keypoints'")
        if item.get("category_id", 1) != 1:
            continue
        values = np.asarray(item["keypoints"], dtype=np.float64) if _is_number_list(item["keypoints"]) else None
        if values is None or values.shape != (NUM_KEYPOINTS * 3,):
            count = len(item["keypoints"]) if isinstance(item["keypoints"], list) else "?"
            raise ValueError(f"{path}: entry {n} has {count} keypoint numbers; COCO-17 needs "
                             f"{NUM_KEYPOINTS * 3} (x, y, score for 17 keypoints)")
        score = item.get("score", 1.0)
        if not _is_number_list([score]):
            raise ValueError(f"{path}: entry {n} has a score of {score!r}; expected a number")
        people.append((item["image_id"], values.reshape(NUM_KEYPOINTS, 3), float(score)))
    if not people and ordered_ids is None:
        raise ValueError(f"{path}: contains no person keypoints")

    frame_of = _coco_frame_numbers(path, [p[0] for p in people], ordered_ids, frame_count, first_image_id)
    total = (len(ordered_ids) if ordered_ids is not None else
             frame_count if frame_count is not None else max(frame_of.values()) + 1)
    raw = np.stack([p[1] for p in people]) if people else np.zeros((0, NUM_KEYPOINTS, 3))
    kind = _resolve_score_kind(raw[..., 2], score_kind)
    keypoints = raw.copy()
    keypoints[..., 2] = _to_confidence(raw[..., 2], kind)
    keypoints[..., :2] += 0.5
    missing = (raw[..., 2] == 0) & (raw[..., 0] == 0) & (raw[..., 1] == 0) if kind != "visibility" \
        else raw[..., 2] == 0
    keypoints[missing] = (np.nan, np.nan, 0.0)

    frames: list[list[tuple[np.ndarray, float]]] = [[] for _ in range(total)]
    for (image_id, _, score), person in zip(people, keypoints):
        frames[frame_of[image_id]].append((person, score))
    detections = [_frame_detections(entries) for entries in frames]
    return ImportedKeypoints(detections, image_size, None, None, "coco")


def _coco_frame_numbers(path: Path, ids: list[Any], ordered_ids: list[Any] | None, frame_count: int | None,
                        first_image_id: int | None) -> dict[Any, int]:
    if ordered_ids is not None:
        frame_of = {image_id: i for i, image_id in enumerate(ordered_ids)}
        unknown = [i for i in ids if i not in frame_of]
        if unknown:
            raise ValueError(f"{path}: annotations refer to image ids not in 'images', e.g. {unknown[0]!r}")
        return frame_of
    unique = sorted(set(ids), key=_natural_key)
    if all(isinstance(i, int) and not isinstance(i, bool) for i in unique):
        first = min(unique) if first_image_id is None else first_image_id
        frame_of = {i: i - first for i in unique}
        bad = [i for i in unique if frame_of[i] < 0 or (frame_count is not None and frame_of[i] >= frame_count)]
        if bad:
            limit = f"{first}..{first + frame_count - 1}" if frame_count is not None else f">= {first}"
            raise ValueError(f"{path}: image id {bad[0]} is not a frame of the video (ids {limit} are frames "
                             f"0..{(frame_count or 0) - 1}; set first_image_id if the numbering starts elsewhere)")
        return frame_of
    if frame_count is not None and len(unique) != frame_count:
        raise ValueError(f"{path}: has keypoints for {len(unique)} distinct image ids that are not frame numbers; "
                         f"the video has {frame_count} frames and each needs one")
    return {image_id: i for i, image_id in enumerate(unique)}


def _resolve_score_kind(scores: np.ndarray, score_kind: str) -> str:
    if score_kind != "auto":
        return score_kind
    if scores.size and np.all(np.isin(scores, (0.0, 1.0, 2.0))):
        return "visibility"
    if scores.size and (np.nanmax(scores) > 1.0 or np.nanmin(scores) < 0.0):
        return "logit"
    return "confidence"


def _to_confidence(scores: np.ndarray, kind: str) -> np.ndarray:
    if kind == "visibility":
        return (scores > 0).astype(np.float64)
    if kind == "detectron2":
        return keypoint_scores_to_confidence(scores)
    if kind == "logit":
        return 1.0 / (1.0 + np.exp(-np.nan_to_num(scores, nan=-np.inf)))
    return np.clip(np.nan_to_num(scores, nan=0.0), 0.0, 1.0)


# --- OpenPose -----------------------------------------------------------------------------------------------

def load_openpose_dir(path: str | os.PathLike) -> ImportedKeypoints:
    """A directory of OpenPose ``*_keypoints.json`` files, one per frame (BODY_25 or COCO-18)."""
    path = Path(path)
    files = sorted(path.glob("*_keypoints.json"), key=lambda p: _natural_key(p.name))
    if not files:
        raise ValueError(f"{path}: no OpenPose *_keypoints.json files in this directory")
    detections = []
    layout = None
    for file in files:
        data = _read_json(file)
        if not isinstance(data, dict) or not isinstance(data.get("people"), list):
            raise ValueError(f"{file}: an OpenPose file needs a 'people' list")
        entries = []
        for n, person in enumerate(data["people"]):
            values = person.get("pose_keypoints_2d", person.get("pose_keypoints")) if isinstance(person, dict) \
                else None
            if not _is_number_list(values) or len(values) % 3 or len(values) // 3 not in _OPENPOSE_LAYOUTS:
                count = len(values) if isinstance(values, list) else "no"
                raise ValueError(f"{file}: person {n} has {count} pose_keypoints_2d numbers; expected 75 (BODY_25) "
                                 f"or 54 (COCO-18)")
            joints = len(values) // 3
            if layout is not None and joints != layout:
                raise ValueError(f"{file}: mixes {joints}-joint and {layout}-joint people")
            layout = joints
            raw = np.asarray(values, dtype=np.float64).reshape(joints, 3)[list(_OPENPOSE_LAYOUTS[joints])]
            keypoints = raw.copy()
            keypoints[:, :2] += 0.5
            keypoints[:, 2] = np.clip(raw[:, 2], 0.0, 1.0)
            keypoints[raw[:, 2] <= 0] = (np.nan, np.nan, 0.0)
            entries.append((keypoints, float(np.mean(keypoints[:, 2]))))
        detections.append(_frame_detections(entries))
    logger.info("read %d OpenPose frames (%s) from %s", len(files),
                "BODY_25" if layout == 25 else "COCO-18" if layout == 18 else "no people", path)
    return ImportedKeypoints(detections, None, None, None, "openpose")


# --- npz: VideoPose3D's and ours -----------------------------------------------------------------------------

_PICKLE_HELP = (
    "VideoPose3D's data_2d_custom_*.npz stores its arrays as pickled Python objects, which can run code when "
    "loaded, so it is not read here; on a machine you trust, convert it to plain arrays, e.g. "
    "d = np.load(f, allow_pickle=True); kp = d['positions_2d'].item()[VIDEO]['custom'][0]; "
    "np.savez(OUT, positions_2d=kp, image_size=(W, H))"
)


def load_videopose3d_npz(path: str | os.PathLike) -> ImportedKeypoints:
    """``positions_2d`` stored as a plain (T, 17, 2|3) array; pickled VideoPose3D files are refused."""
    path = Path(path)
    arrays = _load_npz(path, _PICKLE_HELP)
    keypoints = _float_array(path, arrays, "positions_2d")
    if keypoints.ndim != 3 or keypoints.shape[1:] not in ((NUM_KEYPOINTS, 2), (NUM_KEYPOINTS, 3)):
        raise ValueError(f"{path}: positions_2d must be (frames, 17, 2 or 3) COCO-17 keypoints, got "
                         f"{keypoints.shape}")
    if "image_size" in arrays:
        image_size = _image_size(path, arrays["image_size"])
    elif "res_w" in arrays and "res_h" in arrays:
        image_size = _image_size(path, np.array([arrays["res_w"], arrays["res_h"]]).ravel())
    else:
        image_size = None
    detections = _detections_from_array(path, keypoints[:, None])
    return ImportedKeypoints(detections, image_size, _optional_positive(path, arrays, "fps"), None, "videopose3d")


def load_keypoints_npz(path: str | os.PathLike) -> ImportedKeypoints:
    """Our keypoint file (see the module docstring and :func:`save_keypoints_npz`)."""
    path = Path(path)
    arrays = _load_npz(path, "VideoPose3D's inference output (keypoints, boxes, metadata as Python objects) is "
                             "pickled and not read here; save plain arrays instead")
    keypoints = _float_array(path, arrays, "keypoints")
    if keypoints.ndim == 3:
        keypoints = keypoints[:, None]
    if keypoints.ndim != 4 or keypoints.shape[2:] not in ((NUM_KEYPOINTS, 2), (NUM_KEYPOINTS, 3)):
        raise ValueError(f"{path}: keypoints must be (frames, 17, 3) or (frames, people, 17, 3), got "
                         f"{_float_array(path, arrays, 'keypoints').shape}")
    if "image_size" not in arrays:
        raise ValueError(f"{path}: the 'image_size' array (width, height) is missing")
    image_size = _image_size(path, arrays["image_size"])
    boxes = scores = None
    if "boxes" in arrays:
        boxes = _float_array(path, arrays, "boxes")
        if boxes.shape != keypoints.shape[:2] + (4,):
            raise ValueError(f"{path}: boxes must be {keypoints.shape[:2] + (4,)}, got {boxes.shape}")
    if "scores" in arrays:
        scores = _float_array(path, arrays, "scores")
        if scores.shape != keypoints.shape[:2]:
            raise ValueError(f"{path}: scores must be {keypoints.shape[:2]}, got {scores.shape}")
    detections = _detections_from_array(path, keypoints, boxes, scores)
    return ImportedKeypoints(detections, image_size, _optional_positive(path, arrays, "fps"),
                             _optional_positive(path, arrays, "focal_px"), "vp3d")


def save_keypoints_npz(path: str | os.PathLike, keypoints: np.ndarray | Sequence[FrameDetections],
                       image_size: tuple[int, int], *, fps: float | None = None,
                       focal_px: float | None = None) -> Path:
    """Write our keypoint file atomically (temporary file, then rename) and return its path.

    ``keypoints`` is (T, 17, 2|3), (T, N, 17, 2|3), or a list of :class:`FrameDetections` (then boxes and
    scores are stored too, and frames with fewer people are padded with NaN).
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"keypoint file name must end in .npz, got {path.name!r}")
    width, height = _image_size(path, np.asarray(image_size))
    arrays: dict[str, np.ndarray] = {"image_size": np.array([width, height], dtype=np.int64)}
    if isinstance(keypoints, np.ndarray):
        array = np.asarray(keypoints, dtype=np.float64)
        if array.ndim not in (3, 4) or array.shape[-2:] not in ((NUM_KEYPOINTS, 2), (NUM_KEYPOINTS, 3)):
            raise ValueError(f"keypoints must be (frames, 17, 2|3) or (frames, people, 17, 2|3), got {array.shape}")
        arrays["keypoints"] = array
    else:
        frames = list(keypoints)
        if not all(isinstance(f, FrameDetections) for f in frames):
            raise ValueError("keypoints must be an array or a list of FrameDetections")
        people = max((f.count for f in frames), default=0)
        kp = np.full((len(frames), people, NUM_KEYPOINTS, 3), np.nan)
        boxes = np.full((len(frames), people, 4), np.nan)
        scores = np.full((len(frames), people), np.nan)
        for t, frame in enumerate(frames):
            kp[t, :frame.count] = frame.keypoints
            boxes[t, :frame.count] = frame.boxes
            scores[t, :frame.count] = frame.scores
        arrays.update(keypoints=kp, boxes=boxes, scores=scores)
    for name, value in (("fps", fps), ("focal_px", focal_px)):
        if value is not None:
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be positive and finite, got {value!r}")
            arrays[name] = np.array(float(value))
    write_atomically(path, lambda f: np.savez_compressed(f, **arrays))
    logger.info("wrote %d frames of keypoints to %s", len(arrays["keypoints"]), path)
    return path


# --- helpers --------------------------------------------------------------------------------------------------

def _frame_detections(entries: list[tuple[np.ndarray, float]]) -> FrameDetections:
    """People as (17, 3) keypoints and a score; those with no confident joint are dropped."""
    kept = [(kp, score) for kp, score in entries if np.any(kp[:, 2] >= MIN_CONFIDENCE)]
    if not kept:
        return FrameDetections()
    keypoints = np.stack([kp for kp, _ in kept])
    scores = np.clip(np.array([s for _, s in kept], dtype=np.float64), 0.0, 1.0)
    return FrameDetections(keypoints, boxes_from_keypoints(keypoints, MIN_CONFIDENCE), scores)


def _detections_from_array(path: Path, keypoints: np.ndarray, boxes: np.ndarray | None = None,
                           scores: np.ndarray | None = None) -> list[FrameDetections]:
    """(T, N, 17, 2|3) with NaN padding -> one FrameDetections per frame."""
    if keypoints.shape[-1] == 2:
        confidence = np.where(np.isfinite(keypoints).all(-1), 1.0, 0.0)
        keypoints = np.concatenate([keypoints, confidence[..., None]], axis=-1)
    keypoints = keypoints.copy()
    if np.any(np.isinf(keypoints)):
        raise ValueError(f"{path}: keypoints contain infinite values")
    missing = ~np.isfinite(keypoints[..., :2]).all(-1) | ~np.isfinite(keypoints[..., 2])
    keypoints[..., 2] = np.clip(np.where(missing, 0.0, keypoints[..., 2]), 0.0, 1.0)
    keypoints[missing] = (np.nan, np.nan, 0.0)
    frames = []
    for t in range(len(keypoints)):
        present = np.any(keypoints[t, :, :, 2] >= MIN_CONFIDENCE, axis=-1)
        kp = keypoints[t, present]
        if boxes is not None and np.all(np.isfinite(boxes[t, present])):
            box = boxes[t, present]
        else:
            box = boxes_from_keypoints(kp, MIN_CONFIDENCE)
        if scores is not None and np.all(np.isfinite(scores[t, present])):
            score = np.clip(scores[t, present], 0.0, 1.0)
        else:
            score = np.array([np.mean(p[:, 2]) for p in kp])
        frames.append(FrameDetections(kp, box.reshape(-1, 4), score.reshape(-1)))
    return frames


def _read_json(path: Path) -> Any:
    try:
        with path.open("r", encoding="utf-8") as f:
            return json.load(f)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: is not a text JSON file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _npz_names(path: Path) -> set[str]:
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: is not an .npz file (not a zip archive; truncated or wrong file?)")
    with zipfile.ZipFile(path) as archive:
        return {name[:-4] if name.endswith(".npy") else name for name in archive.namelist()}


def _load_npz(path: Path, pickle_help: str) -> dict[str, np.ndarray]:
    return read_npz(path, pickle_help=pickle_help)


def _float_array(path: Path, arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in arrays:
        raise ValueError(f"{path}: the {name!r} array is missing")
    array = arrays[name]
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{path}: {name!r} must be numeric, got dtype {array.dtype}")
    return array.astype(np.float64)


def _image_size(path: Path, value: np.ndarray) -> tuple[int, int]:
    value = np.asarray(value)
    if value.shape != (2,) or not np.issubdtype(value.dtype, np.number) or not np.all(np.isfinite(value)) \
            or np.any(value < 2) or np.any(value != np.round(value)):
        raise ValueError(f"{path}: image_size must be two whole numbers (width, height) of at least 2, "
                         f"got {value.tolist()}")
    return int(value[0]), int(value[1])


def _optional_positive(path: Path, arrays: dict[str, np.ndarray], name: str) -> float | None:
    if name not in arrays:
        return None
    value = arrays[name]
    if value.size != 1 or not np.issubdtype(value.dtype, np.number):
        raise ValueError(f"{path}: {name!r} must be a single number, got shape {value.shape} {value.dtype}")
    number = float(value.reshape(()))
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{path}: {name!r} must be positive and finite, got {number}")
    return number


def _is_number_list(values: Any) -> bool:
    return isinstance(values, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _natural_key(value: Any) -> tuple:
    """Sort key putting "frame_2" before "frame_10" and numbers in numeric order."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    parts = re.split(r"(\d+)", str(value))
    return (1, tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts))

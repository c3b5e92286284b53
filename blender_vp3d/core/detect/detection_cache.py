"""Detections cached per video content, detector and settings, so re-lifting a clip never runs the detector again.

Detection is the slow stage of a capture; lifting, clean-up and retargeting are cheap and get re-run with other
options. An entry is keyed by the SHA-256 of the video's bytes (so a renamed or copied file still hits and an
edited one misses), the detector's name and a settings dict. The caller puts in it what changes the detections;
``capture.detect`` gives the frame range, stride, ``max_side``, a hand-raised version for the detector code, and
``capture.detector_identity``: the SHA-256 of the detector's model files and its thresholds. A different dict is
a different entry.

Hashing a large video takes a while (about 1 s per GB), so hashes are remembered in ``video_hashes.json`` by
resolved path, size and modification time, and recomputed when any of them changes.

Layout under the cache folder (default ``$VP3D_CACHE_DIR``, else the user cache folder: ``$XDG_CACHE_HOME`` or
``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows, plus ``blender_vp3d``)::

    video_hashes.json
    detections/<key>.npz    counts (T,), keypoints (P, 17, 3), boxes (P, 4), scores (P,) float32,
                            frame_indices (T,), timestamps_s (T,) when known; P = all people of all frames
    detections/<key>.json   what the entry is: video, detector, settings, frame and people counts
    models/<name>-pruned-<hash>.tflite   the BlazePose landmark model without its unused outputs, kept by
                            :mod:`.litert_model` (not an entry of this cache)

Both are written atomically (temporary file, then rename), the ``.npz`` first: an entry counts only once its
``.json`` exists and agrees with the arrays, so an interrupted write is a miss, never a half-read entry. Nothing
is pickled; a damaged entry is logged and treated as a miss.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_atomically
from ..npz import NpzFormat, read_npz
from .base import FrameDetections

logger = logging.getLogger(__name__)

ENV_VAR = "VP3D_CACHE_DIR"
FORMAT_NAME = "blender_vp3d.detections"
FORMAT_VERSION = 1
FORMAT = NpzFormat(FORMAT_NAME, FORMAT_VERSION)
MAX_REMEMBERED_HASHES = 2000
_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """``$VP3D_CACHE_DIR`` if set, else the platform's user cache folder plus ``blender_vp3d``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "blender_vp3d" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "blender_vp3d"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "blender_vp3d"


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks; remembered for this process by path, size and
    modification time (each capture's cache key hashes the detector's models, which a ready child process
    does before its video arrives)."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _sha256(str(resolved), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class CachedDetections:
    """A cache entry.

    detections:    one FrameDetections per frame that was detected on.
    frame_indices: (T,) the video frame number of each.
    timestamps_s:  (T,) their presentation times, or None if they were not stored.
    metadata:      the entry's JSON (video, detector, settings, counts, creation time, extra fields).
    """

    detections: list[FrameDetections]
    frame_indices: np.ndarray
    timestamps_s: np.ndarray | None
    metadata: dict[str, Any]


class DetectionCache:
    """Detections on disk, keyed by video content, detector name and settings."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    @property
    def entries_dir(self) -> Path:
        return self.root / "detections"

    def video_hash(self, video: str | os.PathLike) -> str:
        """SHA-256 of the video, remembered by path, size and modification time."""
        path = Path(video).resolve()
        try:
            stat = path.stat()
        except OSError:
            raise ValueError(f"video not found: {video}") from None
        remembered = self._read_hashes()
        entry = remembered.get(str(path))
        if entry and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
            return str(entry["sha256"])
        started = time.perf_counter()
        digest = sha256_file(path)
        logger.info("hashed %s (%.1f MB) in %.2f s", path, stat.st_size / 1e6, time.perf_counter() - started)
        remembered.pop(str(path), None)
        remembered[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
        while len(remembered) > MAX_REMEMBERED_HASHES:
            remembered.pop(next(iter(remembered)))
        try:
            text = json.dumps(remembered, indent=1)
            write_atomically(self.root / "video_hashes.json", lambda f: f.write(text.encode("utf-8")))
        except OSError as exc:
            logger.warning("cannot remember the video hash in %s: %s", self.root, exc)
        return digest

    def load(self, video: str | os.PathLike, detector: str, settings: Mapping[str, Any]) -> CachedDetections | None:
        """The cached detections, or None on a miss (including a damaged entry, which is logged)."""
        canonical = canonical_settings(settings)
        key = _key(self.video_hash(video), detector, canonical)
        json_path, npz_path = self._paths(key)
        if not json_path.is_file() or not npz_path.is_file():
            logger.debug("detection cache miss for %s (%s)", video, detector)
            return None
        try:
            metadata = json.loads(json_path.read_text(encoding="utf-8"))
            cached = _read_entry(npz_path, metadata, key)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring damaged detection cache entry %s: %s", npz_path, exc)
            return None
        logger.info("detection cache hit for %s (%s, %d frames)", video, detector, len(cached.detections))
        return cached

    def save(self, video: str | os.PathLike, detector: str, settings: Mapping[str, Any],
             detections: Sequence[FrameDetections], *, frame_indices: Sequence[int] | np.ndarray | None = None,
             timestamps_s: Sequence[float] | np.ndarray | None = None,
             extra: Mapping[str, Any] | None = None) -> Path:
        """Store detections (frame numbers default to 0..T-1); returns the entry's ``.npz`` path.

        ``extra`` is JSON-serialisable information kept in the entry's metadata (e.g. image size, fps).
        """
        canonical = canonical_settings(settings)
        digest = self.video_hash(video)
        key = _key(digest, detector, canonical)
        frames = list(detections)
        if not all(isinstance(f, FrameDetections) for f in frames):
            raise ValueError("detections must be a list of FrameDetections")
        count = len(frames)
        indices = np.arange(count) if frame_indices is None else np.asarray(frame_indices)
        if indices.shape != (count,) or not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(f"frame_indices must be {count} integers, got shape {indices.shape} {indices.dtype}")
        arrays = {
            "counts": np.array([f.count for f in frames], dtype=np.int64),
            "keypoints": _concat([f.keypoints for f in frames], (0, 17, 3)),
            "boxes": _concat([f.boxes for f in frames], (0, 4)),
            "scores": _concat([f.scores for f in frames], (0,)),
            "frame_indices": indices.astype(np.int64),
        }
        if timestamps_s is not None:
            times = np.asarray(timestamps_s, dtype=np.float64)
            if times.shape != (count,):
                raise ValueError(f"timestamps_s must have {count} values, got shape {times.shape}")
            arrays["timestamps_s"] = times
        metadata = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "key": key,
            "video": {"path": str(Path(video).resolve()), "sha256": digest, "size": Path(video).stat().st_size},
            "detector": detector,
            "settings": json.loads(canonical),
            "frames": count,
            "people": int(arrays["counts"].sum()),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "extra": _json_ready(dict(extra or {}), "extra"),
        }
        text = json.dumps(metadata, indent=2, sort_keys=True, allow_nan=False)
        json_path, npz_path = self._paths(key)
        write_atomically(npz_path, lambda f: np.savez_compressed(f, **arrays))
        write_atomically(json_path, lambda f: f.write((text + "\n").encode("utf-8")))
        logger.info("cached %d frames of %s detections for %s", count, detector, video)
        return npz_path

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.entries_dir / f"{key}.json", self.entries_dir / f"{key}.npz"

    def _read_hashes(self) -> dict[str, dict[str, Any]]:
        path = self.root / "video_hashes.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable %s: %s", path, exc)
            return {}
        return data if isinstance(data, dict) else {}


def canonical_settings(settings: Mapping[str, Any]) -> str:
    """Settings as canonical JSON (sorted keys; paths as strings, tuples as lists, numpy numbers as numbers).

    Raises ``ValueError`` naming a value that JSON cannot hold.
    """
    if not isinstance(settings, Mapping):
        raise ValueError(f"detector settings must be a dict, got {type(settings).__name__}")
    return json.dumps(_json_ready(dict(settings), "settings"), sort_keys=True, separators=(",", ":"),
                      allow_nan=False)


def _json_ready(value: Any, where: str) -> Any:
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: keys must be strings, got {key!r}")
            out[key] = _json_ready(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_json_ready(item, f"{where}[{n}]") for n, item in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        raise ValueError(f"{where} is {value!r}; settings must be finite numbers")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"{where} is a {type(value).__name__}, which cannot be stored as JSON")


def _key(video_sha256: str, detector: str, canonical: str) -> str:
    if not isinstance(detector, str) or not detector:
        raise ValueError(f"detector must be a non-empty name, got {detector!r}")
    text = json.dumps({"format_version": FORMAT_VERSION, "video": video_sha256, "detector": detector,
                       "settings": json.loads(canonical)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _concat(arrays: list[np.ndarray], empty_shape: tuple[int, ...]) -> np.ndarray:
    if not arrays:
        return np.zeros(empty_shape, dtype=np.float32)
    return np.concatenate([np.asarray(a, dtype=np.float32).reshape((-1,) + empty_shape[1:]) for a in arrays])


def _read_entry(npz_path: Path, metadata: dict[str, Any], key: str) -> CachedDetections:
    FORMAT.check(metadata)
    if metadata.get("key") != key:
        raise ValueError("its key does not match its name")
    data = read_npz(npz_path)
    counts = data["counts"].astype(np.int64)
    keypoints = data["keypoints"].astype(np.float64)
    boxes = data["boxes"].astype(np.float64)
    scores = data["scores"].astype(np.float64)
    frame_indices = data["frame_indices"].astype(np.int64)
    timestamps = data["timestamps_s"].astype(np.float64) if "timestamps_s" in data else None
    frames = len(counts)
    people = int(counts.sum()) if frames else 0
    if frames != metadata.get("frames") or people != metadata.get("people") or np.any(counts < 0):
        raise ValueError("its arrays do not match its metadata")
    if keypoints.shape != (people, 17, 3) or boxes.shape != (people, 4) or scores.shape != (people,):
        raise ValueError(f"arrays of the wrong shape: keypoints {keypoints.shape}, boxes {boxes.shape}")
    if frame_indices.shape != (frames,) or (timestamps is not None and timestamps.shape != (frames,)):
        raise ValueError("frame_indices or timestamps_s of the wrong length")
    ends = np.cumsum(counts)
    starts = ends - counts
    detections = [FrameDetections(keypoints[a:b], boxes[a:b], scores[a:b]) for a, b in zip(starts, ends)]
    return CachedDetections(detections, frame_indices, timestamps, metadata)

"""Detection cache: hits, misses on any change, remembered hashes, damaged entries."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from blender_vp3d.core.detect import detection_cache
from blender_vp3d.core.detect.base import FrameDetections
from blender_vp3d.core.detect.detection_cache import DetectionCache, canonical_settings, default_cache_dir

SETTINGS = {"model": "pose_landmark_full", "max_side": 1920, "start": 0, "end": None, "stride": 1}


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(50_000))
    return path


@pytest.fixture
def cache(tmp_path):
    return DetectionCache(tmp_path / "cache")


def some_detections(frames: int = 5) -> list[FrameDetections]:
    rng = np.random.default_rng(0)
    out = []
    for t in range(frames):
        people = t % 3  # 0, 1 or 2 people
        keypoints = rng.uniform(0, 500, (people, 17, 3))
        keypoints[..., 2] = rng.uniform(0, 1, (people, 17))
        out.append(FrameDetections(keypoints, rng.uniform(0, 500, (people, 4)), rng.uniform(0, 1, people)))
    return out


def assert_same(a: list[FrameDetections], b: list[FrameDetections]) -> None:
    assert [f.count for f in a] == [f.count for f in b]
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.keypoints, y.keypoints, rtol=1e-6)
        np.testing.assert_allclose(x.boxes, y.boxes, rtol=1e-6)
        np.testing.assert_allclose(x.scores, y.scores, rtol=1e-6)


def test_miss_then_hit(cache, video):
    assert cache.load(video, "mediapipe", SETTINGS) is None
    detections = some_detections()
    path = cache.save(video, "mediapipe", SETTINGS, detections, frame_indices=[0, 2, 4, 6, 8],
                      timestamps_s=[0.0, 0.1, 0.2, 0.3, 0.4], extra={"image_size": (640, 480), "fps": 20.0})
    assert path.parent == cache.entries_dir
    assert sorted(p.suffix for p in cache.entries_dir.iterdir()) == [".json", ".npz"]  # no temporary files
    hit = cache.load(video, "mediapipe", dict(reversed(list(SETTINGS.items()))))  # key order does not matter
    assert hit is not None
    assert_same(hit.detections, detections)
    assert hit.frame_indices.tolist() == [0, 2, 4, 6, 8]
    np.testing.assert_allclose(hit.timestamps_s, [0.0, 0.1, 0.2, 0.3, 0.4])
    assert hit.metadata["extra"] == {"image_size": [640, 480], "fps": 20.0}
    assert hit.metadata["settings"]["max_side"] == 1920


def test_any_change_is_a_miss(cache, video, tmp_path):
    cache.save(video, "mediapipe", SETTINGS, some_detections())
    assert cache.load(video, "mediapipe", {**SETTINGS, "max_side": 1280}) is None
    assert cache.load(video, "mediapipe", {**SETTINGS, "extra_option": True}) is None
    assert cache.load(video, "detectron2", SETTINGS) is None
    copy = tmp_path / "renamed copy.mp4"
    copy.write_bytes(video.read_bytes())
    assert cache.load(copy, "mediapipe", SETTINGS) is not None  # same content, other name: a hit
    edited = bytearray(video.read_bytes())
    edited[100] ^= 0xFF
    video.write_bytes(bytes(edited))
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 1_000_000))
    assert cache.load(video, "mediapipe", SETTINGS) is None


def test_hash_is_remembered_until_the_file_changes(cache, video, monkeypatch):
    calls = []
    real = detection_cache.sha256_file
    monkeypatch.setattr(detection_cache, "sha256_file", lambda path: calls.append(path) or real(path))
    first = cache.video_hash(video)
    assert cache.video_hash(video) == first
    assert DetectionCache(cache.root).video_hash(video) == first  # remembered on disk too
    assert len(calls) == 1
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 1_000_000))
    assert cache.video_hash(video) == first
    assert len(calls) == 2
    with pytest.raises(ValueError, match="video not found"):
        cache.video_hash(video.with_name("absent.mp4"))


def test_damaged_entries_are_misses(cache, video, caplog):
    npz = cache.save(video, "mediapipe", SETTINGS, some_detections())
    npz.write_bytes(b"not an npz")
    assert cache.load(video, "mediapipe", SETTINGS) is None
    assert "damaged" in caplog.text
    npz = cache.save(video, "mediapipe", SETTINGS, some_detections())
    meta_path = npz.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["frames"] = 7
    meta_path.write_text(json.dumps(meta))
    assert cache.load(video, "mediapipe", SETTINGS) is None
    meta_path.unlink()  # the arrays alone (an interrupted save) are not an entry
    assert cache.load(video, "mediapipe", SETTINGS) is None


def test_settings_must_be_json(cache, video):
    with pytest.raises(ValueError, match=r"settings\.callback is a builtin_function_or_method, which cannot be"):
        cache.save(video, "mediapipe", {"callback": print}, some_detections())
    with pytest.raises(ValueError, match="finite"):
        canonical_settings({"threshold": float("nan")})
    assert canonical_settings({"b": (1, 2), "a": np.float32(0.5)}) == '{"a":0.5,"b":[1,2]}'
    with pytest.raises(ValueError, match="frame_indices"):
        cache.save(video, "mediapipe", SETTINGS, some_detections(), frame_indices=[0, 1])


def test_default_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("VP3D_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    assert DetectionCache().root == tmp_path / "here"
    monkeypatch.delenv("VP3D_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and os.uname().sysname == "Linux":
        assert default_cache_dir() == tmp_path / "xdg" / "blender_vp3d"


def test_capture_key_holds_model_hashes_and_thresholds(monkeypatch):
    """The key of a capture's entry changes with the model files' bytes and the detector's thresholds."""
    import hashlib

    from blender_vp3d.core.capture import detector_identity
    from blender_vp3d.core.detect import blazepose_anchors
    from blender_vp3d.core.detect.model_paths import MODEL_FILES, blazepose_model_dir
    from blender_vp3d.core.settings import CaptureSettings

    folder = blazepose_model_dir()
    identity = detector_identity("blazepose", CaptureSettings())
    assert identity["models"] == {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in MODEL_FILES}
    monkeypatch.setattr(blazepose_anchors, "MIN_SCORE", 0.6)
    changed = detector_identity("blazepose", CaptureSettings())
    assert changed["thresholds"]["min_score"] == 0.6 and changed != identity

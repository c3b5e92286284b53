"""Motion files: round trip, atomic writes, and clear errors for missing, corrupt and mismatched files."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from blender_vp3d.core.output.motion import FORMAT_VERSION, Motion, MotionFileError


def z_up(joints_y_up: np.ndarray) -> np.ndarray:
    j = np.asarray(joints_y_up, dtype=np.float64)
    return np.stack([j[..., 0], -j[..., 2], j[..., 1]], axis=-1)


@pytest.fixture()
def motion(bandai_split) -> Motion:
    _, validation = bandai_split
    joints = z_up(next(c for c in validation if c.action == "walk").joints)
    rng = np.random.default_rng(0)
    frames = len(joints)
    keypoints = np.concatenate([rng.uniform(0, 1920, (frames, 17, 2)), rng.uniform(0, 1, (frames, 17, 1))], -1)
    return Motion(
        joints=joints, trajectory=joints[:, 0], fps=30.0, contacts=rng.random((frames, 2)) < 0.5,
        keypoints_2d=keypoints, image_size=(1920, 1080), source_video="/videos/walk.mp4",
        settings={"smoothing": {"method": "savgol", "window_s": 0.23}, "detector": "mediapipe"},
        alignment={"scale": 1.0, "rotation": np.eye(3).tolist(), "facing_deg": 12.5},
    )


def test_save_load_round_trip(tmp_path, motion):
    path = motion.save(tmp_path / "out" / "walk.npz")
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["walk.npz"]  # no temporary left over
    loaded = Motion.load(path)
    for name in ("joints", "trajectory", "contacts", "keypoints_2d"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(motion, name))
    assert loaded.contacts.dtype == bool
    assert (loaded.fps, loaded.image_size, loaded.source_video) == (30.0, (1920, 1080), "/videos/walk.mp4")
    assert loaded.settings == motion.settings and loaded.alignment == motion.alignment
    assert loaded.num_frames == motion.num_frames and loaded.duration_s == pytest.approx(motion.num_frames / 30.0)
    with np.load(path, allow_pickle=False) as data:  # plain arrays and a JSON string: no pickle needed
        assert json.loads(str(data["metadata"]))["version"] == FORMAT_VERSION


def test_optional_parts_and_overwrite(tmp_path, motion):
    bare = Motion(joints=motion.joints, trajectory=motion.trajectory, fps=60)
    path = tmp_path / "m.npz"
    motion.save(path)
    bare.save(path)  # replaces the earlier file in one rename
    loaded = Motion.load(path)
    assert loaded.keypoints_2d is None and loaded.image_size is None and loaded.source_video == ""
    assert loaded.contacts.shape == (motion.num_frames, 2) and not loaded.contacts.any()
    assert loaded.fps == 60.0


def test_bone_length_cv_is_small_for_mocap_and_grows_with_noise(motion):
    cv = motion.bone_length_cv()
    assert len(cv) == 16 and set(cv) >= {"left_knee", "right_elbow", "head_top"}
    assert max(cv.values()) < 0.05
    noisy = Motion(joints=motion.joints + np.random.default_rng(1).normal(scale=0.02, size=motion.joints.shape),
                   trajectory=motion.trajectory, fps=30.0)
    assert max(noisy.bone_length_cv().values()) > 2 * max(cv.values())


def _rewrite(path, **changes):
    """Copy of the npz at ``path`` with arrays replaced (None removes one)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    for name, value in changes.items():
        if value is None:
            arrays.pop(name)
        else:
            arrays[name] = value
    np.savez(path, **arrays)


def test_bad_files_get_clear_errors(tmp_path, motion):
    with pytest.raises(MotionFileError, match="not found"):
        Motion.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip archive")
    with pytest.raises(MotionFileError, match="not a readable motion file"):
        Motion.load(junk)
    good = motion.save(tmp_path / "good.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(MotionFileError):
        Motion.load(truncated)

    meta = json.loads(str(np.load(good, allow_pickle=False)["metadata"]))
    cases = {
        "no_metadata": ({"metadata": None}, "no 'metadata' array"),
        "not_json": ({"metadata": np.array("{oops")}, "not valid JSON"),
        "other_format": ({"metadata": np.array(json.dumps({**meta, "format": "x"}))}, "not a blender_vp3d"),
        "future": ({"metadata": np.array(json.dumps({**meta, "version": FORMAT_VERSION + 1}))}, "version"),
        "layout": ({"metadata": np.array(json.dumps({**meta, "joint_layout": "coco17"}))}, "joint layout"),
        "frames": ({"joints": motion.joints[:-1]}, "frames"),
        "contacts": ({"contacts": motion.contacts[:-1]}, "inconsistent motion: contacts"),
        "keypoints": ({"keypoints_2d": motion.keypoints_2d[:, :5]}, "inconsistent motion: keypoints_2d"),
        "pickled": ({"contacts": np.array([{"a": 1}] * motion.num_frames, dtype=object)}, "not a readable motion"),
    }
    for name, (changes, message) in cases.items():
        path = tmp_path / f"{name}.npz"
        path.write_bytes(good.read_bytes())
        _rewrite(path, **changes)
        with pytest.raises(MotionFileError, match=message):
            Motion.load(path)
    assert issubclass(MotionFileError, ValueError)
    assert zipfile.is_zipfile(io.BytesIO(good.read_bytes()))


def test_invalid_motions_are_refused(tmp_path, motion):
    with pytest.raises(ValueError, match="joints"):
        Motion(joints=np.zeros((5, 16, 3)), trajectory=np.zeros((5, 3)), fps=30)
    with pytest.raises(ValueError, match="trajectory"):
        Motion(joints=np.zeros((5, 17, 3)), trajectory=np.zeros((4, 3)), fps=30)
    with pytest.raises(ValueError, match="fps"):
        Motion(joints=np.zeros((5, 17, 3)), trajectory=np.zeros((5, 3)), fps=0)
    with pytest.raises(ValueError, match="contacts"):
        Motion(joints=np.zeros((5, 17, 3)), trajectory=np.zeros((5, 3)), fps=30, contacts=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="image_size"):
        Motion(joints=np.zeros((5, 17, 3)), trajectory=np.zeros((5, 3)), fps=30, image_size=(1920, -1))
    with pytest.raises(ValueError, match="NaN"):
        Motion(joints=np.full((5, 17, 3), np.nan), trajectory=np.zeros((5, 3)), fps=30)
    unserialisable = Motion(joints=motion.joints, trajectory=motion.trajectory, fps=30, settings={"f": object()})
    with pytest.raises(ValueError, match="JSON"):
        unserialisable.save(tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists() and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="folder"):
        motion.save(tmp_path)

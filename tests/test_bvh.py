"""BVH reader and forward kinematics on the real Bandai files, plus malformed input."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest

from blender_vp3d.core.rotations import euler_to_matrix
from blender_vp3d.core.training.mocap.bandai import ARCHIVES, default_data_dir
from blender_vp3d.core.training.mocap.bvh import BvhError, parse_bvh, read_bvh


def _bandai_text(dataset: int, stem: str) -> str:
    with tarfile.open(default_data_dir() / ARCHIVES[dataset], "r:xz") as tar:
        member = next(m for m in tar if m.name.endswith(f"{stem}.bvh"))
        return tar.extractfile(member).read().decode()


@pytest.mark.parametrize("dataset,stem", [(1, "dataset-1_walk_normal_001"), (2, "dataset-2_run_feminine_021")])
def test_bandai_clip_has_rigid_bones_and_stands_on_the_floor(dataset, stem):
    clip = parse_bvh(_bandai_text(dataset, stem))
    assert abs(clip.fps - 30.0) < 0.01
    positions, _ = clip.forward_kinematics()
    for child, parent in enumerate(clip.parents):
        if parent > 0:  # the root-to-Hips link carries the motion
            lengths = np.linalg.norm(positions[:, child] - positions[:, parent], axis=-1)
            assert lengths.std() < 1e-3 * max(lengths.mean(), 1.0), clip.joint_names[child]
    toes = positions[:, [clip.index("Toes_L"), clip.index("Toes_R")], 1]
    assert 0 < toes.min() < 10  # centimetres, Y up: the feet touch the floor
    head = positions[:, clip.index("Head"), 1]
    assert 120 < head.mean() < 180


def test_channel_order_and_position_channels(tmp_path):
    text = """HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation
  JOINT arm
  {
    OFFSET 10 0 0
    CHANNELS 3 Xrotation Zrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.01
1 2 3 0 0 0 0 0 0
1 2 3 90 0 0 0 0 90
"""
    path = tmp_path / "t.bvh"
    path.write_text(text)
    clip = read_bvh(path)
    assert clip.joint_names == ["hips", "arm", "arm_end"]
    assert clip.fps == pytest.approx(100.0)
    positions, rotations = clip.forward_kinematics()
    np.testing.assert_allclose(positions[0], [[1, 2, 3], [11, 2, 3], [11, 7, 3]], atol=1e-9)
    # frame 1: hips yaw 90 (Y), arm rotated 90 about its own Y (its third channel)
    expected_hips = euler_to_matrix(np.array([90.0, 0, 0]), "YXZ")
    expected_arm = expected_hips @ euler_to_matrix(np.array([0.0, 0, 90]), "XZY")
    np.testing.assert_allclose(rotations[1, 1], expected_arm, atol=1e-9)
    np.testing.assert_allclose(positions[1, 1], [1, 2, 3] + expected_hips @ [10, 0, 0], atol=1e-9)
    np.testing.assert_allclose(positions[1, 2], positions[1, 1] + expected_arm @ [0, 5, 0], atol=1e-9)


def test_euler_order_matters():
    """Worked by hand: channels ``Zrotation Xrotation`` of 90 degrees each mean R = Rz(90) @ Rx(90), right-handed;
    listed the other way round, Rx(90) @ Rz(90)."""
    np.testing.assert_allclose(euler_to_matrix(np.array([90.0, 0, 0]), "XYZ"), [[1, 0, 0], [0, 0, -1], [0, 1, 0]],
                               atol=1e-12)
    np.testing.assert_allclose(euler_to_matrix(np.array([90.0, 90, 0]), "ZXY"), [[0, 0, 1], [1, 0, 0], [0, 1, 0]],
                               atol=1e-12)
    np.testing.assert_allclose(euler_to_matrix(np.array([90.0, 90, 0]), "XZY"), [[0, -1, 0], [0, 0, -1], [1, 0, 0]],
                               atol=1e-12)


@pytest.mark.parametrize("text,message", [
    ("hello", "not a BVH file"),
    ("HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 3 Xrotation Yrotation Zrotation\n}\nMOTION\nFrames: 2\nFrame Time: 0.1\n0 0 0\n", "expected 2 frames x 3 channels"),
    ("HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 1 Wrotation\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\n0\n", "unknown channel"),
    ("HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 3 Xrotation Yrotation Zrotation\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\n0 x 0\n", "not a number"),
    ("HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 3 Xrotation Yrotation Zrotation\nMOTION\nFrames: 1\nFrame Time: 0.1\n0 0 0\n", "braces"),
])
def test_malformed_bvh_is_rejected_with_a_reason(text, message):
    with pytest.raises(BvhError, match=message):
        parse_bvh(text)

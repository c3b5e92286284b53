"""BVH export: exact round trip through our reader, Euler continuity, and Blender's own importer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blender_vp3d.core.output.export_bvh import (
    JOINT_PIVOTS,
    JOINTS,
    ROTATION_ORDERS,
    bvh_text,
    from_bvh_frame,
    write_bvh,
)
from blender_vp3d.core.rotations import axis_angle_to_matrix, euler_to_matrix, matrix_to_euler
from blender_vp3d.core.skeleton import H36M17
from blender_vp3d.core.training.mocap.bvh import parse_bvh, read_bvh


def z_up(joints_y_up: np.ndarray) -> np.ndarray:
    j = np.asarray(joints_y_up, dtype=np.float64)
    return np.stack([j[..., 0], -j[..., 2], j[..., 1]], axis=-1)


def real_clip(bandai_split, action: str) -> np.ndarray:
    _, validation = bandai_split
    return z_up(next(c for c in validation if c.action == action and c.num_frames >= 60).joints)


def reconstructed(clip) -> np.ndarray:
    """H36M-17 joints (T, 17, 3), Z-up world, read back from a parsed BVH by forward kinematics."""
    positions, _ = clip.forward_kinematics()
    out = np.zeros((clip.num_frames, 17, 3))
    for bvh_name, h36m_name in JOINT_PIVOTS.items():
        out[:, H36M17.index(h36m_name)] = positions[:, clip.index(bvh_name)]
    out[:, H36M17.index("head_top")] = positions[:, clip.index("Head_end")]
    return from_bvh_frame(out)


def with_mean_bone_lengths(joints: np.ndarray) -> np.ndarray:
    """The same bone directions with every bone at its mean length (what a BVH skeleton can hold)."""
    out = joints.copy()
    for parent, child in H36M17.bones():
        bone = joints[:, child] - joints[:, parent]
        length = np.linalg.norm(bone, axis=-1)
        out[:, child] = out[:, parent] + bone * (length.mean() / length)[:, None]
    return out


@pytest.mark.parametrize("action", ["walk", "run", "bow", "wave-both-hands"])
def test_round_trip_through_our_reader(bandai_split, action):
    joints = real_clip(bandai_split, action)
    clip = parse_bvh(bvh_text(joints, fps=30.0))
    assert clip.fps == pytest.approx(30.0, rel=1e-6)
    assert [n for n in clip.joint_names if not n.endswith("_end")] == [j.name for j in JOINTS]
    back = reconstructed(clip)
    # exact up to the file's 6 decimals once bones have their mean lengths ...
    np.testing.assert_allclose(back, with_mean_bone_lengths(joints), atol=2e-5)
    # ... and within a few millimetres of the mocap itself (its H36M bones are nearly rigid)
    assert np.linalg.norm(back - joints, axis=-1).max() < 0.01


def test_units_and_atomic_write(tmp_path, bandai_split):
    joints = real_clip(bandai_split, "walk")[:40]
    metres = read_bvh(write_bvh(tmp_path / "m.bvh", joints, fps=25.0))
    centimetres = read_bvh(write_bvh(tmp_path / "cm.bvh", joints, fps=25.0, units="cm"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cm.bvh", "m.bvh"]
    np.testing.assert_allclose(centimetres.forward_kinematics()[0], 100 * metres.forward_kinematics()[0], atol=1e-3)
    assert metres.fps == pytest.approx(25.0)
    with pytest.raises(ValueError, match="units"):
        bvh_text(joints, fps=25.0, units="inch")
    with pytest.raises(ValueError, match="fps"):
        bvh_text(joints, fps=-1.0)
    with pytest.raises(ValueError, match=r"\(T, 17, 3\)"):
        bvh_text(joints[:, :12], fps=25.0)
    with pytest.raises(ValueError, match="folder"):
        write_bvh(tmp_path, joints, fps=25.0)


@pytest.mark.parametrize("order", ["ZXY", "ZYX", "XYZ", "YXZ"])
def test_euler_decomposition_inverts_composition_and_stays_continuous(order):
    rng = np.random.default_rng(0)
    rotations = axis_angle_to_matrix(rng.normal(size=(200, 3)) * 1.5)
    angles = matrix_to_euler(rotations, order)
    np.testing.assert_allclose(euler_to_matrix(angles, order), rotations, atol=1e-9)
    # a steady spin over several turns about an axis near the first one (clear of gimbal lock, which no
    # Euler order escapes): no jumps, and the angles run on past 180 degrees instead of wrapping
    axis = np.zeros(3)
    axis["XYZ".index(order[0])], axis["XYZ".index(order[1])], axis["XYZ".index(order[2])] = 1.0, 0.2, 0.3
    axis /= np.linalg.norm(axis)
    spin = axis_angle_to_matrix(axis[None] * np.linspace(0, 6 * math.pi, 400)[:, None])
    angles = matrix_to_euler(spin, order)
    np.testing.assert_allclose(euler_to_matrix(angles, order), spin, atol=1e-9)
    assert np.abs(np.diff(angles, axis=0)).max() < 10.0
    assert np.abs(angles).max() > 360.0


def test_knees_and_spine_stay_clear_of_gimbal_lock(bandai_split):
    joints = real_clip(bandai_split, "run")
    text = bvh_text(joints, fps=30.0)
    values = np.array(text.split("Frame Time:")[1].split()[1:], dtype=float).reshape(len(joints), -1)
    channels = values[:, 3:].reshape(len(joints), len(JOINTS), 3)
    for name in ("LeftLeg", "RightLeg", "LeftUpLeg", "Spine", "Chest"):
        assert ROTATION_ORDERS[name] == "ZYX"
        middle = channels[:, [j.name for j in JOINTS].index(name), 1]
        assert np.abs(middle).max() < 60.0, name
    assert np.abs(np.diff(channels, axis=0)).max() < 45.0


def test_blender_imports_the_file(tmp_path, bandai_split):
    bpy = pytest.importorskip("bpy")
    joints = real_clip(bandai_split, "run")
    path = write_bvh(tmp_path / "run.bvh", joints, fps=30.0)
    bpy.ops.wm.read_homefile(use_empty=True)
    assert bpy.ops.import_anim.bvh(filepath=str(path), global_scale=1.0, axis_forward="-Z", axis_up="Y",
                                   rotate_mode="NATIVE", update_scene_fps=True) == {"FINISHED"}
    armature = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
    assert len(armature.data.bones) == len(JOINTS)
    assert tuple(armature.animation_data.action.frame_range) == (1.0, float(len(joints)))
    assert bpy.context.scene.render.fps == 30
    head = H36M17.index("neck_nose")
    for frame in (1, len(joints) // 2, len(joints)):
        bpy.context.scene.frame_set(frame)
        evaluated = armature.evaluated_get(bpy.context.evaluated_depsgraph_get())
        bone = evaluated.pose.bones["Head"]
        world_head = np.array(armature.matrix_world @ bone.head)
        world_tail = np.array(armature.matrix_world @ bone.tail)
        np.testing.assert_allclose(world_head, joints[frame - 1, head], atol=0.005)       # Blender frame 1 = first
        np.testing.assert_allclose(world_tail, joints[frame - 1, H36M17.index("head_top")], atol=0.005)

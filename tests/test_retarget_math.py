"""Retargeting math without Blender: a synthetic rig, solved and checked through its own forward kinematics."""

from __future__ import annotations

import numpy as np
import pytest

from blender_vp3d.core import rotations as rot
from blender_vp3d.core.output import retarget_math as rm
from blender_vp3d.core.rotations import axis_angle_to_matrix, normalize
from blender_vp3d.core.skeleton import H36M17

J = {name: i for i, name in enumerate(H36M17.joint_names)}
T_POSE = {  # metres, facing -Y, left +X, Z up
    "pelvis": (0, 0, 1.0), "spine": (0, 0.01, 1.25), "thorax": (0, 0, 1.5), "neck_nose": (0, -0.02, 1.6),
    "head_top": (0, 0, 1.78), "left_hip": (0.1, 0, 1.0), "left_knee": (0.1, -0.01, 0.55),
    "left_ankle": (0.1, 0, 0.1), "right_hip": (-0.1, 0, 1.0), "right_knee": (-0.1, -0.01, 0.55),
    "right_ankle": (-0.1, 0, 0.1), "left_shoulder": (0.18, 0, 1.5), "left_elbow": (0.45, 0.01, 1.5),
    "left_wrist": (0.7, 0, 1.5), "right_shoulder": (-0.18, 0, 1.5), "right_elbow": (-0.45, 0.01, 1.5),
    "right_wrist": (-0.7, 0, 1.5),
}
# bone -> (parent, head joint, tail joint or None for an unmapped bone with a fixed direction)
BONES = {
    "hips": (None, "pelvis", "spine"), "chest": ("hips", "spine", "thorax"), "neck": ("chest", "thorax", "neck_nose"),
    "head": ("neck", "neck_nose", "head_top"),
    "pelvis.L": ("hips", "pelvis", "left_hip"), "thigh.L": ("pelvis.L", "left_hip", "left_knee"),
    "shin.L": ("thigh.L", "left_knee", "left_ankle"), "foot.L": ("shin.L", "left_ankle", None),
    "thigh.R": ("hips", "right_hip", "right_knee"), "shin.R": ("thigh.R", "right_knee", "right_ankle"),
    "clav.L": ("chest", "thorax", "left_shoulder"), "upper.L": ("clav.L", "left_shoulder", "left_elbow"),
    "fore.L": ("upper.L", "left_elbow", "left_wrist"),
    "clav.R": ("chest", "thorax", "right_shoulder"), "upper.R": ("clav.R", "right_shoulder", "right_elbow"),
    "fore.R": ("upper.R", "right_elbow", "right_wrist"),
}
RULES = {
    "hips": rm.BoneRule(("pelvis", "spine"), "hip_line"), "chest": rm.BoneRule(("spine", "thorax"), "shoulder_line"),
    "neck": rm.BoneRule(("thorax", "neck_nose"), "shoulder_line"),
    "head": rm.BoneRule(("neck_nose", "head_top"), "shoulder_line"),
    "thigh.L": rm.BoneRule(("left_hip", "left_knee"), "left_leg"),
    "shin.L": rm.BoneRule(("left_knee", "left_ankle"), "left_leg"),
    "thigh.R": rm.BoneRule(("right_hip", "right_knee"), "right_leg"),
    "shin.R": rm.BoneRule(("right_knee", "right_ankle"), "right_leg"),
    "clav.L": rm.BoneRule(("thorax", "left_shoulder"), "chest_up"),
    "upper.L": rm.BoneRule(("left_shoulder", "left_elbow"), "left_arm"),
    "fore.L": rm.BoneRule(("left_elbow", "left_wrist"), "left_arm"),
    "clav.R": rm.BoneRule(("thorax", "right_shoulder"), "chest_up"),
    "upper.R": rm.BoneRule(("right_shoulder", "right_elbow"), "right_arm"),
    "fore.R": rm.BoneRule(("right_elbow", "right_wrist"), "right_arm"),
}


def _bone_matrix(head, direction, roll_rad):
    y = normalize(np.asarray(direction, dtype=float))
    x = normalize(np.cross(y, [0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.cross(y, [0.0, 1.0, 0.0]))
    x = axis_angle_to_matrix(y * roll_rad) @ x
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, np.cross(x, y), head
    return m


def make_rig(rng, scale=1.0, arm_drop_deg=0.0):
    """A rig with random rolls; ``arm_drop_deg`` lowers the arms into an A-pose."""
    pos = {k: np.asarray(v, dtype=float) * scale for k, v in T_POSE.items()}
    drop = np.radians(arm_drop_deg)
    for side, sign in (("left", 1), ("right", -1)):
        rot = axis_angle_to_matrix(np.array([0.0, -sign * drop, 0.0]))
        base = pos[f"{side}_shoulder"]
        for j in ("elbow", "wrist"):
            pos[f"{side}_{j}"] = base + rot @ (pos[f"{side}_{j}"] - base)
    rest = []
    for name, (parent, a, b) in BONES.items():
        direction = pos[b] - pos[a] if b else np.array([0.0, -1.0, -0.2])
        rest.append(rm.RestBone(name, parent, _bone_matrix(pos[a], direction, rng.uniform(-np.pi, np.pi)),
                                length=float(np.linalg.norm(direction))))
    return rest


def make_joints(rng, frames=60):
    """Smoothly moving joints: the T-pose with every bone direction randomly and smoothly rotated."""
    base = np.array([T_POSE[n] for n in H36M17.joint_names])
    t = np.linspace(0, 1, frames)[:, None]
    joints = np.empty((frames, 17, 3))
    joints[:, 0] = base[0] + np.concatenate([t * 1.5, -t * 0.7, 0.03 * np.sin(6 * t)], axis=1)
    spin = axis_angle_to_matrix(np.array([0.0, 0.0, 1.0]) * (t * np.pi * 1.5))  # the whole body turns 270 deg
    for child, parent in enumerate(H36M17.parents):
        if parent < 0:
            continue
        axis = normalize(rng.normal(size=3))
        local = axis_angle_to_matrix(axis * (0.8 * np.sin(3 * t + rng.uniform(0, 6))))
        joints[:, child] = joints[:, parent] + (spin @ local @ (base[child] - base[parent]))[:, :]
    return joints


def angle_deg(u, v):
    cos = np.sum(normalize(u) * normalize(v), axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def blender_fk(rest, basis):
    """``PoseBone.matrix`` of every bone for ``matrix_basis`` (T, B, 4, 4), written here from Blender's rule for
    bones inheriting rotation, location and scale: pose = pose(parent) @ inv(rest(parent)) @ rest @ basis."""
    index = {bone.name: i for i, bone in enumerate(rest)}
    out: dict[int, np.ndarray] = {}

    def pose(i):
        if i not in out:
            bone = rest[i]
            local = bone.matrix @ basis[:, i]
            if bone.parent is None:
                out[i] = local
            else:
                p = index[bone.parent]
                out[i] = pose(p) @ np.linalg.inv(rest[p].matrix) @ local
        return out[i]

    return np.stack([pose(i) for i in range(len(rest))], axis=1)


def test_two_bone_chain_by_hand():
    """Worked by hand. Rest: a root bone from the origin up +Z (its matrix turns the bone's Y onto Z) and a child
    continuing it from (0, 0, 1); the rig's left is +X, forward -Y. Observed: pelvis -> spine along +X, spine ->
    thorax along +Y, the hip line (right -> left hip) along -Y.

    Root: its Y goes onto +X and its X (the rest left) onto the hip line, so its armature-space rotation maps
    X -> -Y, Y -> +X, Z -> Z, and its basis is inv(rest) @ that. Child (twist ``forward``: the hips' facing,
    which the root's turn takes from -Y to +Z): Y onto +Y, its Z (rest -Y, forward) onto +Z: the identity in
    armature space, so its basis undoes the root's turn."""
    to_z = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    child = to_z.copy()
    child[:3, 3] = (0.0, 0.0, 1.0)
    rest = [rm.RestBone("root", None, to_z), rm.RestBone("child", "root", child)]
    rules = {"root": rm.BoneRule(("pelvis", "spine"), "hip_line"), "child": rm.BoneRule(("spine", "thorax"), "forward")}
    j = {name: i for i, name in enumerate(H36M17.joint_names)}
    joints = np.zeros((1, 17, 3))
    joints[0, j["spine"]], joints[0, j["thorax"]] = (1.0, 0.0, 0.0), (1.0, 1.0, 0.0)
    joints[0, j["left_hip"]], joints[0, j["right_hip"]] = (0.0, -0.1, 0.0), (0.0, 0.1, 0.0)
    track = rm.solve_pose(rest, rules, joints)
    assert track.bones == ("root", "child")
    np.testing.assert_allclose(track.targets[0, 0], [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(track.rotations[0, 0], [[0, 1, 0], [0, 0, 1], [1, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(track.targets[0, 1], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(track.rotations[0, 1], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    basis = np.broadcast_to(np.eye(4), (1, 2, 4, 4)).copy()
    basis[0, :, :3, :3] = track.rotations[0]
    pose = blender_fk(rest, basis)
    np.testing.assert_allclose(pose[0, 1, :3, 1], [0, 1, 0], atol=1e-12)   # the child along spine -> thorax
    np.testing.assert_allclose(pose[0, 1, :3, 3], [1, 0, 0], atol=1e-12)   # its head at the spine joint


def solve_and_pose(rest, joints, **kwargs):
    track = rm.solve_pose(rest, RULES, joints, root="hips", **kwargs)
    names = [b.name for b in rest]
    basis = np.broadcast_to(np.eye(4), (len(joints), len(rest), 4, 4)).copy()
    for k, name in enumerate(track.bones):
        basis[:, names.index(name), :3, :3] = rot.quaternion_to_matrix(track.quaternions[:, k])
    basis[:, names.index("hips"), :3, 3] = track.location
    return track, blender_fk(rest, basis), names


@pytest.mark.parametrize("arm_drop", [0.0, 45.0])
def test_fk_reproduces_joint_directions(arm_drop):
    rng = np.random.default_rng(0)
    rest = make_rig(rng, scale=1.2, arm_drop_deg=arm_drop)
    joints = make_joints(rng)
    track, pose, names = solve_and_pose(rest, joints)
    assert set(track.bones) == set(RULES)
    assert track.bones.index("thigh.L") > track.bones.index("hips")   # parents first
    for bone, rule in RULES.items():
        a, b = (J[n] for n in rule.source)
        err = angle_deg(pose[:, names.index(bone), :3, 1], joints[:, b] - joints[:, a])
        assert err.max() < 1e-4, (bone, err.max())
    assert np.all(np.isfinite(pose))


def test_twist_follows_reference_planes():
    rng = np.random.default_rng(1)
    rest = make_rig(rng)
    joints = make_joints(rng)
    _, pose, names = solve_and_pose(rest, joints)
    # The thigh's rest hinge (cross(rest direction, backward): knees bend back) ends up along the observed knee
    # hinge, up to the small share of the usual bend's hinge mixed in (HINGE_FALLBACK).
    i = names.index("thigh.L")
    rest_rot = rest[i].matrix[:3, :3]
    rest_hinge = normalize(np.cross(rest[i].direction, [0.0, 1.0, 0.0]))
    carried = pose[:, i, :3, :3] @ rest_rot.T @ rest_hinge
    hip, knee, ankle = (joints[:, J[n]] for n in ("left_hip", "left_knee", "left_ankle"))
    hinge = np.cross(normalize(knee - hip), normalize(ankle - knee))
    size = np.linalg.norm(hinge, axis=-1)                     # sine of the knee's bend
    bent = size > 0.2
    assert bent.sum() > 10
    allowed = np.degrees(np.arcsin(rm.HINGE_FALLBACK / size[bent])) + 0.5
    assert np.all(angle_deg(carried[bent], hinge[bent]) < allowed)
    # The hips carry the rig's left onto the observed hip line (made orthogonal to the spine).
    i = names.index("hips")
    carried = pose[:, i, :3, :3] @ rest[i].matrix[:3, :3].T @ np.array([1.0, 0.0, 0.0])
    up = normalize(joints[:, J["spine"]] - joints[:, J["pelvis"]])
    line = joints[:, J["left_hip"]] - joints[:, J["right_hip"]]
    line -= np.sum(line * up, axis=-1, keepdims=True) * up
    assert angle_deg(carried, line).max() < 1e-4


def test_root_follows_scaled_trajectory_and_in_place():
    rng = np.random.default_rng(2)
    rest = make_rig(rng, scale=1.3)
    joints = make_joints(rng)
    track, pose, names = solve_and_pose(rest, joints)
    assert track.scale == pytest.approx(1.3, rel=0.02)
    head = pose[:, names.index("hips"), :3, 3]
    traj = joints[:, 0]
    rest_head = rest[names.index("hips")].head
    expected = np.column_stack([rest_head[:2] + track.scale * (traj[:, :2] - traj[0, :2]),
                                track.floor + track.scale * traj[:, 2]])
    np.testing.assert_allclose(track.root_head, expected, atol=1e-9)
    np.testing.assert_allclose(head, expected, atol=1e-9)
    _, pose, _ = solve_and_pose(rest, joints, in_place=True)
    head = pose[:, names.index("hips"), :3, 3]
    np.testing.assert_allclose(head[:, :2], np.broadcast_to(rest_head[:2], head[:, :2].shape), atol=1e-9)
    np.testing.assert_allclose(head[:, 2], track.floor + track.scale * traj[:, 2], atol=1e-9)


def test_quaternions_continuous_and_match_rotations():
    rng = np.random.default_rng(3)
    rest = make_rig(rng)
    track, pose, names = solve_and_pose(rest, make_joints(rng, frames=200))
    q = track.quaternions
    assert np.all(np.sum(q[1:] * q[:-1], axis=-1) > 0)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-9)
    np.testing.assert_allclose(rot.quaternion_to_matrix(q), track.rotations, atol=1e-9)
    # targets: the armature-space rotations the FK reaches.
    for k, bone in enumerate(track.bones):
        np.testing.assert_allclose(pose[:, names.index(bone), :3, :3], track.targets[:, k], atol=1e-9)


def test_quaternion_roundtrip_all_branches():
    rng = np.random.default_rng(4)
    m = axis_angle_to_matrix(normalize(rng.normal(size=(500, 3))) * rng.uniform(0, np.pi, size=(500, 1)))
    m = np.concatenate([m, np.diag([1.0, -1, -1])[None], np.diag([-1.0, 1, -1])[None], np.diag([-1.0, -1, 1])[None]])
    np.testing.assert_allclose(rot.quaternion_to_matrix(rot.matrix_to_quaternion(m)), m, atol=1e-9)


@pytest.mark.parametrize("order", rot.EULER_ORDERS)
def test_euler_continuous_and_exact(order):
    # A bone spinning 2.5 turns about a tilted axis: angles must not jump by 2 pi between frames.
    t = np.linspace(0, 1, 400)[:, None]
    m = axis_angle_to_matrix(normalize(np.array([0.3, 0.2, 1.0])) * (t * 5 * np.pi))
    angles = rot.matrix_to_blender_euler(m, order)
    np.testing.assert_allclose(rot.blender_euler_to_matrix(angles, order), m, atol=1e-9)
    assert np.abs(np.diff(angles, axis=0)).max() < 1.0   # a wrap would be 2 pi; gimbal regions move fast


def test_blender_euler_convention():
    # Blender's 'XYZ' applies X first: R = Rz @ Ry @ Rx.
    from blender_vp3d.core.rotations import axis_rotation

    x, y, z = 0.3, -0.5, 1.1
    expected = axis_rotation("Z", np.array(z)) @ axis_rotation("Y", np.array(y)) @ axis_rotation("X", np.array(x))
    np.testing.assert_allclose(rot.blender_euler_to_matrix(np.array([x, y, z]), "XYZ"), expected, atol=1e-12)
    np.testing.assert_allclose(rot.matrix_to_blender_euler(expected[None], "XYZ")[0], [x, y, z], atol=1e-9)


def test_bad_rules_and_bones():
    rng = np.random.default_rng(5)
    rest = make_rig(rng)
    joints = make_joints(rng, frames=3)
    with pytest.raises(ValueError, match="nope"):
        rm.solve_pose(rest, {"nope": RULES["hips"]}, joints)
    with pytest.raises(ValueError, match="twist"):
        rm.BoneRule(("pelvis", "spine"), "sideways")
    with pytest.raises(ValueError, match="H36M"):
        rm.BoneRule(("pelvis", "toe"), "hip_line")
    with pytest.raises(ValueError, match="parallel"):
        rm.solve_pose(rest, {"clav.L": rm.BoneRule(("thorax", "left_shoulder"), "hip_line")}, joints)
    assert rm.BoneRule.from_dict(RULES["thigh.L"].to_dict()) == RULES["thigh.L"]


def test_unmapped_bones_keep_their_rest_relation():
    rng = np.random.default_rng(6)
    rest = make_rig(rng)
    _, pose, names = solve_and_pose(rest, make_joints(rng, frames=10))
    for child, parent in (("foot.L", "shin.L"), ("pelvis.L", "hips")):
        c, p = names.index(child), names.index(parent)
        relative = np.linalg.inv(rest[p].matrix) @ rest[c].matrix
        np.testing.assert_allclose(pose[:, c], pose[:, p] @ relative, atol=1e-9)

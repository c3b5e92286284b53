"""BVH export of H36M-17 world joints, without Blender.

Hierarchy (pivot of each joint = the H36M joint in brackets; every H36M joint is the pivot or end of a bone
of its own, so positions round-trip exactly up to the bones' lengths being their means)::

    Hips [pelvis]  (6 channels: position + rotation)
      LeftUpLeg [left_hip] > LeftLeg [left_knee] > LeftFoot [left_ankle] > End Site (toes, nominal)
      RightUpLeg [right_hip] > RightLeg [right_knee] > RightFoot [right_ankle] > End Site
      Spine [pelvis, zero offset] > Chest [spine] > Neck [thorax] > Head [neck_nose] > End Site [head_top]
                                              Chest > LeftShoulder [thorax] > LeftArm [left_shoulder]
                                                      > LeftForeArm [left_elbow] > LeftHand [left_wrist] > End Site
                                              Chest > RightShoulder [thorax] > RightArm ... (mirrored)

Conventions:

* **Axes**: Y up, the character facing +Z in the rest pose, its left along +X (the usual BVH frame). Our
  Z-up world maps as ``bvh = (x, z, -y)``, the exact inverse of Blender's importer defaults
  (``axis_forward='-Z', axis_up='Y'``), so importing gives back our world: a subject facing -Y (towards
  Blender's front view) faces +Z in the file.
* **Rest pose**: T-pose, every bone along its rest direction (legs, -Y; spine, neck and head, +Y; arms and
  collar bones, +-X; feet forward, +Z); offsets are those directions times the clip's mean bone lengths.
* **Rotations**: the retargeting solve (:func:`blender_vp3d.core.output.retarget_math.solve_pose`) onto this fixed
  T-pose skeleton, each joint following its bone with ``aim=False`` (the T-pose direction of its joints) and
  the twist reference named in :data:`JOINTS`: the hip line for Hips and Spine, the shoulder line for Chest,
  Neck and Head, the chest's up for the collar bones, and the limb's hinge for arms and legs, so elbows and
  knees bend about one local axis. Hands and feet have no orientation in H36M-17: they keep their parent's.
  Degrees; channels ``Zrotation Xrotation Yrotation`` (R = Rz Rx Ry) for the root and
  arms, ``Zrotation Yrotation Xrotation`` for the spine, head and legs, so no everyday pose sits at gimbal
  lock (see :data:`ROTATION_ORDERS`); each frame takes the Euler solution nearest the previous frame's (no
  360-degree flips).
* **Units**: metres by default, so Blender's importer at its default scale (1.0) gives a real-size
  armature; ``units="cm"`` writes centimetres (MotionBuilder and most game tools; import those into Blender
  with scale 0.01).

Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import write_atomically
from ..checks import check_positive
from ..rotations import matrix_to_euler
from ..skeleton import H36M17, check_h36m_joints
from .retarget_math import T_POSE, BoneRule, RestBone, solve_pose

logger = logging.getLogger(__name__)

UNITS = {"m": 1.0, "cm": 100.0}
HAND_TO_FOREARM = 0.7   # nominal hand end-site length, as a fraction of the forearm
FOOT_TO_SHIN = 0.4      # nominal ankle-to-toes end-site length, as a fraction of the shin

# Z-up world (x right, y forward, z up) -> BVH (x, y up, z towards the viewer).
ZUP_TO_BVH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

_X, _Y, _Z = np.eye(3)


@dataclass(frozen=True)
class BvhJoint:
    """One joint of the exported hierarchy and how its rotation is found.

    name, parent: BVH names. pivot: the H36M-17 joint at this joint's pivot. offset_dir: rest direction from
    the parent's pivot to this one (zero: the same pivot). bone: the H36M-17 joints (from, to) whose
    direction this joint's rotation carries from the T-pose; None for hands and feet, which keep their
    parent's orientation. twist: the reference (a ``retarget_math.TWISTS`` name) that fixes the rotation about
    the bone.
    """

    name: str
    parent: str | None
    pivot: str
    offset_dir: np.ndarray
    bone: tuple[str, str] | None = None
    twist: str | None = None


_O = np.zeros(3)

JOINTS: tuple[BvhJoint, ...] = (
    BvhJoint("Hips", None, "pelvis", _O, ("right_hip", "left_hip"), "spine_up"),
    BvhJoint("LeftUpLeg", "Hips", "left_hip", _X, ("left_hip", "left_knee"), "left_leg"),
    BvhJoint("LeftLeg", "LeftUpLeg", "left_knee", -_Y, ("left_knee", "left_ankle"), "left_leg"),
    BvhJoint("LeftFoot", "LeftLeg", "left_ankle", -_Y),
    BvhJoint("RightUpLeg", "Hips", "right_hip", -_X, ("right_hip", "right_knee"), "right_leg"),
    BvhJoint("RightLeg", "RightUpLeg", "right_knee", -_Y, ("right_knee", "right_ankle"), "right_leg"),
    BvhJoint("RightFoot", "RightLeg", "right_ankle", -_Y),
    BvhJoint("Spine", "Hips", "pelvis", _O, ("pelvis", "spine"), "hip_line"),
    BvhJoint("Chest", "Spine", "spine", _Y, ("spine", "thorax"), "shoulder_line"),
    BvhJoint("Neck", "Chest", "thorax", _Y, ("thorax", "neck_nose"), "shoulder_line"),
    BvhJoint("Head", "Neck", "neck_nose", _Y, ("neck_nose", "head_top"), "shoulder_line"),
    BvhJoint("LeftShoulder", "Chest", "thorax", _Y, ("thorax", "left_shoulder"), "chest_up"),
    BvhJoint("LeftArm", "LeftShoulder", "left_shoulder", _X, ("left_shoulder", "left_elbow"), "left_arm"),
    BvhJoint("LeftForeArm", "LeftArm", "left_elbow", _X, ("left_elbow", "left_wrist"), "left_arm"),
    BvhJoint("LeftHand", "LeftForeArm", "left_wrist", _X),
    BvhJoint("RightShoulder", "Chest", "thorax", _Y, ("thorax", "right_shoulder"), "chest_up"),
    BvhJoint("RightArm", "RightShoulder", "right_shoulder", -_X, ("right_shoulder", "right_elbow"), "right_arm"),
    BvhJoint("RightForeArm", "RightArm", "right_elbow", -_X, ("right_elbow", "right_wrist"), "right_arm"),
    BvhJoint("RightHand", "RightForeArm", "right_wrist", -_X),
)
JOINT_PIVOTS: dict[str, str] = {j.name: j.pivot for j in JOINTS}
"""BVH joint name -> the H36M-17 joint at its pivot."""

_INDEX = {j.name: i for i, j in enumerate(JOINTS)}

ROTATION_ORDERS: dict[str, str] = {
    j.name: "ZYX" if j.name.endswith(("Spine", "Chest", "Neck", "Head", "UpLeg", "Leg", "Foot")) else "ZXY"
    for j in JOINTS
}
"""Channel order per joint. ZXY (the common BVH order) for the root, collar bones, arms and hands; ZYX for
the spine, neck, head and legs. An order locks (gimbal) when its middle angle reaches 90 degrees; in ZXY that
is a 90-degree turn about X, which for a bone resting along Y is a knee bent at right angles or a deep bow,
everyday poses. With Y (the bone's own axis, a rare 90-degree twist) in the middle they are unremarkable.
Arms rest along X, so ZXY puts their twist in the middle."""
_H = {name: i for i, name in enumerate(H36M17.joint_names)}


def _rest_bone(joint: BvhJoint) -> RestBone:
    """The joint at rest for the solve, in the Z-up world: no rotation, its pivot at the T-pose's."""
    matrix = np.eye(4)
    left, up, forward = T_POSE[joint.pivot]
    matrix[:3, 3] = (left, -forward, up)   # the rig faces -Y with its left along +X
    return RestBone(joint.name, joint.parent, matrix)


_REST = tuple(_rest_bone(joint) for joint in JOINTS)
_RULES = {j.name: BoneRule(j.bone, j.twist, aim=False) for j in JOINTS if j.bone is not None and j.twist is not None}


@dataclass(frozen=True)
class BvhSkeleton:
    """Rest offsets (J, 3) of :data:`JOINTS` in the BVH frame (metres) and end-site offsets by joint name."""

    offsets: np.ndarray
    end_sites: dict[str, np.ndarray]


def to_bvh_frame(points: np.ndarray) -> np.ndarray:
    """Z-up world points (..., 3) to the BVH frame (Y up, +Z towards the viewer)."""
    return np.asarray(points, dtype=np.float64) @ ZUP_TO_BVH.T


def from_bvh_frame(points: np.ndarray) -> np.ndarray:
    """BVH-frame points (..., 3) back to the Z-up world."""
    return np.asarray(points, dtype=np.float64) @ ZUP_TO_BVH


def build_skeleton(joints_bvh: np.ndarray) -> BvhSkeleton:
    """Rest offsets from the mean length of every bone over the clip (joints (T, 17, 3), BVH frame)."""
    offsets = np.zeros((len(JOINTS), 3))
    for i, joint in enumerate(JOINTS):
        if joint.parent is None or not np.any(joint.offset_dir):
            continue
        parent_pivot = JOINTS[_INDEX[joint.parent]].pivot
        length = np.linalg.norm(joints_bvh[:, _H[joint.pivot]] - joints_bvh[:, _H[parent_pivot]], axis=-1).mean()
        offsets[i] = joint.offset_dir * length
    forearm = np.linalg.norm(offsets[_INDEX["LeftHand"]]) + np.linalg.norm(offsets[_INDEX["RightHand"]])
    shin = np.linalg.norm(offsets[_INDEX["LeftFoot"]]) + np.linalg.norm(offsets[_INDEX["RightFoot"]])
    head = np.linalg.norm(joints_bvh[:, _H["head_top"]] - joints_bvh[:, _H["neck_nose"]], axis=-1).mean()
    end_sites = {
        "LeftFoot": _Z * FOOT_TO_SHIN * shin / 2, "RightFoot": _Z * FOOT_TO_SHIN * shin / 2,
        "Head": _Y * head,
        "LeftHand": _X * HAND_TO_FOREARM * forearm / 2, "RightHand": -_X * HAND_TO_FOREARM * forearm / 2,
    }
    return BvhSkeleton(offsets=offsets, end_sites=end_sites)


def local_rotations(joints: np.ndarray) -> np.ndarray:
    """Rotations (T, J, 3, 3) of :data:`JOINTS` relative to each one's parent (the root's: from the rest pose),
    in the BVH frame, for Z-up world joints (T, 17, 3): the retargeting solve onto the T-pose skeleton."""
    track = solve_pose(_REST, _RULES, joints, scale=1.0)
    local = np.broadcast_to(np.eye(3), (len(joints), len(JOINTS), 3, 3)).copy()
    for k, name in enumerate(track.bones):
        local[:, _INDEX[name]] = track.rotations[:, k]
    return ZUP_TO_BVH @ local @ ZUP_TO_BVH.T


def bvh_text(joints: np.ndarray, *, fps: float, units: str = "m") -> str:
    """The BVH file for Z-up world joints (T, 17, 3) in metres (``Motion.joints``), as text."""
    joints = check_h36m_joints(joints)
    check_positive("fps", fps)
    if units not in UNITS:
        raise ValueError(f"units must be one of {', '.join(UNITS)}, got {units!r}")
    factor = UNITS[units]
    p = to_bvh_frame(joints)
    skeleton = build_skeleton(p)
    local = local_rotations(joints)
    euler = np.empty(local.shape[:3])                                       # (T, J, 3)
    for order in set(ROTATION_ORDERS.values()):
        members = [i for i, joint in enumerate(JOINTS) if ROTATION_ORDERS[joint.name] == order]
        euler[:, members] = matrix_to_euler(local[:, members], order)
    root = p[:, _H["pelvis"]] * factor
    values = np.concatenate([root, euler.reshape(len(p), -1)], axis=1)

    lines = ["HIERARCHY"]
    children: dict[str | None, list[int]] = {}
    for i, joint in enumerate(JOINTS):
        children.setdefault(joint.parent, []).append(i)

    def emit(i: int, depth: int) -> None:
        joint, pad = JOINTS[i], "\t" * depth
        lines.append(f"{pad}{'ROOT' if joint.parent is None else 'JOINT'} {joint.name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}\tOFFSET {_fmt(skeleton.offsets[i] * factor)}")
        channels = " ".join(f"{axis}rotation" for axis in ROTATION_ORDERS[joint.name])
        lines.append(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition {channels}" if joint.parent is None
                     else f"{pad}\tCHANNELS 3 {channels}")
        for child in children.get(joint.name, []):
            emit(child, depth + 1)
        if joint.name in skeleton.end_sites:
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{",
                          f"{pad}\t\tOFFSET {_fmt(skeleton.end_sites[joint.name] * factor)}", f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    emit(children[None][0], 0)
    lines += ["MOTION", f"Frames: {len(p)}", f"Frame Time: {1.0 / fps:.8f}"]
    body = io.StringIO()
    np.savetxt(body, values, fmt="%.6f", delimiter=" ")
    return "\n".join(lines) + "\n" + body.getvalue()


def write_bvh(path: str | os.PathLike, joints: np.ndarray, *, fps: float, units: str = "m") -> Path:
    """Write :func:`bvh_text` to ``path`` atomically; returns the path."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"cannot write a BVH file over the folder {path}")
    text = bvh_text(joints, fps=fps, units=units)
    write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))
    logger.info("wrote BVH %s (%d frames, %d joints, %s)", path, len(joints), len(JOINTS), units)
    return path


def _fmt(v: np.ndarray) -> str:
    return " ".join(f"{x:.6f}" for x in np.round(v, 6) + 0.0)  # + 0.0 turns -0.0 into 0.0



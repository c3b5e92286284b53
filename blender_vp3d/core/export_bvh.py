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
* **Rotations**: per joint, the rotation that takes the rest frame to the observed one: the bone's rest
  direction onto its observed direction (swing) and a reference onto its observed counterpart (twist): the
  hip line for Hips and Spine, the shoulder line for Chest, Neck and Head, the chest's up for the collar
  bones, and the limb's hinge axis (normal of the shoulder-elbow-wrist or hip-knee-ankle plane) for arms and
  legs, so elbows and knees bend about one local axis. Hands and feet have no orientation in H36M-17: they
  keep their parent's. Degrees; channels ``Zrotation Xrotation Yrotation`` (R = Rz Rx Ry) for the root and
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
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import write_atomically
from .rotations import normalize
from .skeleton import H36M17, LIMBS, check_h36m_joints

logger = logging.getLogger(__name__)

UNITS = {"m": 1.0, "cm": 100.0}
HAND_TO_FOREARM = 0.7   # nominal hand end-site length, as a fraction of the forearm
FOOT_TO_SHIN = 0.4      # nominal ankle-to-toes end-site length, as a fraction of the shin
HINGE_FALLBACK = 0.05   # weight of the usual bend's hinge, which takes over when a limb is straighter than ~3 deg

# Z-up world (x right, y forward, z up) -> BVH (x, y up, z towards the viewer).
ZUP_TO_BVH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

_X, _Y, _Z = np.eye(3)


@dataclass(frozen=True)
class BvhJoint:
    """One joint of the exported hierarchy and how its rotation is found.

    name, parent: BVH names. pivot: the H36M-17 joint at this joint's pivot. offset_dir: rest direction from
    the parent's pivot to this one (zero: the same pivot). bone: the H36M-17 joints (from, to) whose
    direction this joint's rotation carries from ``bone_rest``; None for hands and feet, which keep their
    parent's orientation. twist: the reference (a key of :func:`global_rotations`' references) that fixes the
    rotation about the bone, carried from ``twist_rest``.
    """

    name: str
    parent: str | None
    pivot: str
    offset_dir: np.ndarray
    bone: tuple[str, str] | None = None
    bone_rest: np.ndarray | None = None
    twist: str | None = None
    twist_rest: np.ndarray | None = None


# Rest hinge axes: cross(upper rest direction, direction the lower bone bends to).
_LEG_HINGE = np.cross(-_Y, -_Z)          # knees bend backwards: +X
_LEFT_ARM_HINGE = np.cross(_X, _Z)       # elbows bend forwards: -Y
_RIGHT_ARM_HINGE = np.cross(-_X, _Z)     # +Y
_O = np.zeros(3)

JOINTS: tuple[BvhJoint, ...] = (
    BvhJoint("Hips", None, "pelvis", _O, ("right_hip", "left_hip"), _X, "spine_up", _Y),
    BvhJoint("LeftUpLeg", "Hips", "left_hip", _X, ("left_hip", "left_knee"), -_Y, "left_leg_hinge", _LEG_HINGE),
    BvhJoint("LeftLeg", "LeftUpLeg", "left_knee", -_Y, ("left_knee", "left_ankle"), -_Y, "left_leg_hinge", _LEG_HINGE),
    BvhJoint("LeftFoot", "LeftLeg", "left_ankle", -_Y),
    BvhJoint("RightUpLeg", "Hips", "right_hip", -_X, ("right_hip", "right_knee"), -_Y, "right_leg_hinge", _LEG_HINGE),
    BvhJoint("RightLeg", "RightUpLeg", "right_knee", -_Y, ("right_knee", "right_ankle"), -_Y, "right_leg_hinge",
             _LEG_HINGE),
    BvhJoint("RightFoot", "RightLeg", "right_ankle", -_Y),
    BvhJoint("Spine", "Hips", "pelvis", _O, ("pelvis", "spine"), _Y, "hip_line", _X),
    BvhJoint("Chest", "Spine", "spine", _Y, ("spine", "thorax"), _Y, "shoulder_line", _X),
    BvhJoint("Neck", "Chest", "thorax", _Y, ("thorax", "neck_nose"), _Y, "shoulder_line", _X),
    BvhJoint("Head", "Neck", "neck_nose", _Y, ("neck_nose", "head_top"), _Y, "shoulder_line", _X),
    BvhJoint("LeftShoulder", "Chest", "thorax", _Y, ("thorax", "left_shoulder"), _X, "chest_up", _Y),
    BvhJoint("LeftArm", "LeftShoulder", "left_shoulder", _X, ("left_shoulder", "left_elbow"), _X, "left_arm_hinge",
             _LEFT_ARM_HINGE),
    BvhJoint("LeftForeArm", "LeftArm", "left_elbow", _X, ("left_elbow", "left_wrist"), _X, "left_arm_hinge",
             _LEFT_ARM_HINGE),
    BvhJoint("LeftHand", "LeftForeArm", "left_wrist", _X),
    BvhJoint("RightShoulder", "Chest", "thorax", _Y, ("thorax", "right_shoulder"), -_X, "chest_up", _Y),
    BvhJoint("RightArm", "RightShoulder", "right_shoulder", -_X, ("right_shoulder", "right_elbow"), -_X,
             "right_arm_hinge", _RIGHT_ARM_HINGE),
    BvhJoint("RightForeArm", "RightArm", "right_elbow", -_X, ("right_elbow", "right_wrist"), -_X, "right_arm_hinge",
             _RIGHT_ARM_HINGE),
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
_HINGES = {f"{limb}_hinge": joints for limb, joints in LIMBS.items()}


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


def global_rotations(joints_bvh: np.ndarray) -> np.ndarray:
    """World rotations (T, J, 3, 3) of :data:`JOINTS` taking each rest frame onto the observed one."""
    p = joints_bvh
    vec = lambda a, b: p[:, _H[b]] - p[:, _H[a]]  # noqa: E731  (vector from H36M joint a to joint b)
    references = {
        "spine_up": vec("pelvis", "spine"),
        "hip_line": vec("right_hip", "left_hip"),
        "shoulder_line": vec("right_shoulder", "left_shoulder"),
        "chest_up": vec("spine", "thorax"),
    }
    result = np.zeros((len(p), len(JOINTS), 3, 3))
    for i, joint in enumerate(JOINTS):
        if joint.bone is None:  # hands and feet: their parent's orientation
            result[:, i] = result[:, _INDEX[joint.parent]]
            continue
        primary = vec(*joint.bone)
        if joint.twist in _HINGES and joint.twist not in references:
            # Upper limb bone: the hinge is the normal of the limb's plane (its size is the sine of the bend).
            # Near straight, it fades into the hinge of a limb bending the usual way (knees back, elbows
            # forward) relative to the hips or chest, so the twist stays defined.
            a, b, c = _HINGES[joint.twist]
            upper, lower = vec(a, b), vec(b, c)
            hinge = np.cross(normalize(upper), normalize(lower))
            body = result[:, _INDEX["Hips" if "Leg" in joint.name else "Chest"]]
            bend = body @ (-_Z if "Leg" in joint.name else _Z)
            references[joint.twist] = hinge + HINGE_FALLBACK * normalize(np.cross(normalize(upper), bend))
        rest = _frame(joint.bone_rest, joint.twist_rest)
        result[:, i] = _frame(primary, references[joint.twist]) @ rest.T
    return result


def local_rotations(global_rot: np.ndarray) -> np.ndarray:
    """Rotations (T, J, 3, 3) relative to each joint's parent (the root's is its global rotation)."""
    local = global_rot.copy()
    for i, joint in enumerate(JOINTS):
        if joint.parent is not None:
            local[:, i] = global_rot[:, _INDEX[joint.parent]].swapaxes(-1, -2) @ global_rot[:, i]
    return local


def matrix_to_euler(rotations: np.ndarray, order: str) -> np.ndarray:
    """Euler angles (T, ..., 3) in degrees, in channel ``order`` (R = R_order[0] R_order[1] R_order[2], the
    BVH convention), continuous over axis 0.

    Every rotation has two Euler solutions (and any multiple of 360 degrees added); each frame takes the one
    nearest the previous frame's angles, the first frame the one with the smaller angles. At gimbal lock
    (middle angle +-90 degrees) the third angle is set to 0.
    """
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"rotation order must be a permutation of XYZ, got {order!r}")
    i, j, k = ("XYZ".index(a) for a in order)
    sign = 1.0 if order in ("XYZ", "YZX", "ZXY") else -1.0
    r = np.asarray(rotations, dtype=np.float64)
    middle = np.arcsin(np.clip(sign * r[..., i, k], -1.0, 1.0))
    gimbal = np.cos(middle) < 1e-7
    first_angle = np.where(gimbal, np.arctan2(sign * r[..., k, j], r[..., j, j]),
                           np.arctan2(-sign * r[..., j, k], r[..., k, k]))
    third_angle = np.where(gimbal, 0.0, np.arctan2(-sign * r[..., i, j], r[..., i, i]))
    first = np.degrees(np.stack([first_angle, middle, third_angle], axis=-1))
    second = first + np.array([180.0, 0.0, 180.0])
    second[..., 1] = 180.0 - first[..., 1]
    wrap = lambda a: (a + 180.0) % 360.0 - 180.0  # noqa: E731
    out = np.empty_like(first)
    a0, b0 = wrap(first[0]), wrap(second[0])
    out[0] = np.where((np.abs(a0).sum(-1) <= np.abs(b0).sum(-1))[..., None], a0, b0)
    for t in range(1, len(r)):
        previous = out[t - 1]
        a = previous + wrap(first[t] - previous)
        b = previous + wrap(second[t] - previous)
        closer = np.abs(a - previous).sum(-1) <= np.abs(b - previous).sum(-1)
        out[t] = np.where(closer[..., None], a, b)
    return out


def bvh_text(joints: np.ndarray, *, fps: float, units: str = "m") -> str:
    """The BVH file for Z-up world joints (T, 17, 3) in metres (``Motion.joints``), as text."""
    joints = check_h36m_joints(joints)
    if not isinstance(fps, (int, float, np.integer, np.floating)) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a finite number > 0, got {fps!r}")
    if units not in UNITS:
        raise ValueError(f"units must be one of {', '.join(UNITS)}, got {units!r}")
    factor = UNITS[units]
    p = to_bvh_frame(joints)
    skeleton = build_skeleton(p)
    local = local_rotations(global_rotations(p))
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


def _frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frames (..., 3, 3) with columns: primary, secondary made orthogonal to it, their cross."""
    e1 = normalize(primary)
    e2 = normalize(secondary - np.sum(secondary * e1, axis=-1, keepdims=True) * e1)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def _fmt(v: np.ndarray) -> str:
    return " ".join(f"{x:.6f}" for x in np.round(v, 6) + 0.0)  # + 0.0 turns -0.0 into 0.0



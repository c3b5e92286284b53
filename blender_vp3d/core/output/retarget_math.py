"""Retargeting math: H36M-17 joints to per-bone pose rotations of any armature, in numpy (no bpy).

Single source of the retargeting solve; the Blender layer (``blender_vp3d.retarget``) only reads the rig's
rest pose into :class:`RestBone` records, calls :func:`solve_pose` and writes the keys.

Conventions (Blender's, so the result is what ``PoseBone.matrix_basis`` holds):

* Rest matrices are ``Bone.matrix_local``: 4x4 in armature space, the bone's head at the translation, its
  direction (head to tail) along the local +Y axis, the roll fixing X and Z.
* Forward kinematics (every bone inheriting its parent's rotation, location and scale, Blender's default)::

      pose(bone) = pose(parent) @ inv(rest(parent)) @ rest(bone) @ basis(bone)       # root: rest(bone) @ basis

  so a bone whose world (armature-space) pose rotation must be ``R`` gets
  ``basis = inv(pose(parent) @ inv(rest(parent)) @ rest(bone)) @ R`` (rotation part), solved parents first.
* A mapped bone's target world rotation is ``D @ rest_rotation`` where ``D`` is the rotation taking the
  rest frame (rest direction, rest reference) onto the observed frame (observed direction, observed
  reference), both orthonormalised with the direction first: the bone's direction goes exactly onto the
  observed joint direction (swing) and the reference fixes the turn about it (twist).
* The rig faces -Y with its left along +X and Z up in its rest pose (Blender's convention, the metarig's,
  Mixamo's as imported, our BVH's); the left axis is measured from the rig's thighs (or upper arms) when both
  sides are mapped, so a rig turned about Z works too.
* Joints come in the armature's space (the Blender layer applies ``inv(matrix_world)``), metres.
* Bones that the mapping does not name keep their rest pose relative to their parent (identity basis).
* Quaternions are (w, x, y, z), sign-continuous over frames (consecutive dot products >= 0). Blender's Euler
  ``'XYZ'`` means ``R = Rz @ Ry @ Rx``; :func:`matrix_to_blender_euler` picks, per frame, the solution
  nearest the previous frame's (no 360-degree jumps).

Twist references (observed; rest counterpart in the rig's frame):

=================  ==========================================  ===============================================
name               observed                                    rest
=================  ==========================================  ===============================================
``hip_line``       right_hip -> left_hip                       the rig's left
``shoulder_line``  right_shoulder -> left_shoulder             the rig's left
``spine_up``       pelvis -> spine                             up
``chest_up``       spine -> thorax                             up
``forward``        the hips' facing (cross(hip line, up))      the rig's forward
``left_leg``       hinge of hip-knee-ankle (plane normal)      cross(rest thigh direction, backward)
``right_leg``      same, right side                            same
``left_arm``       hinge of shoulder-elbow-wrist               cross(rest upper-arm direction, forward)
``right_arm``      same, right side                            same
=================  ==========================================  ===============================================

Limb hinges are ``cross(upper, lower)`` of the unit bone directions; near a straight limb a small share
(:data:`HINGE_FALLBACK`) of the usual bend's hinge (knees back, elbows forward, carried by the hips' or the
chest's rotation) takes over, so the twist stays defined.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..rotations import continuous_quaternions, frame_from, matrix_to_quaternion, normalize
from ..skeleton import H36M17, LIMBS, check_h36m_joints, leg_length

logger = logging.getLogger(__name__)

HINGE_FALLBACK = 0.05
TWISTS = ("hip_line", "shoulder_line", "spine_up", "chest_up", "forward",
          "left_leg", "right_leg", "left_arm", "right_arm")
_J = {name: i for i, name in enumerate(H36M17.joint_names)}
# A T-pose in the rig's (left, up, forward) coordinates: the rest direction of a joint pair for rules that do
# not aim the bone's own direction (aim=False).
T_POSE = {
    "pelvis": (0.0, 1.0, 0.0), "spine": (0.0, 1.25, 0.0), "thorax": (0.0, 1.5, 0.0),
    "neck_nose": (0.0, 1.6, 0.0), "head_top": (0.0, 1.75, 0.0),
    "left_hip": (0.1, 1.0, 0.0), "left_knee": (0.1, 0.55, 0.0), "left_ankle": (0.1, 0.1, 0.0),
    "right_hip": (-0.1, 1.0, 0.0), "right_knee": (-0.1, 0.55, 0.0), "right_ankle": (-0.1, 0.1, 0.0),
    "left_shoulder": (0.18, 1.5, 0.0), "left_elbow": (0.45, 1.5, 0.0), "left_wrist": (0.7, 1.5, 0.0),
    "right_shoulder": (-0.18, 1.5, 0.0), "right_elbow": (-0.45, 1.5, 0.0), "right_wrist": (-0.7, 1.5, 0.0),
}


@dataclass(frozen=True)
class BoneRule:
    """How one bone follows the joints.

    source: H36M-17 joint names (from, to); the bone's direction follows from -> to.
    twist:  one of :data:`TWISTS`, the reference fixing the rotation about the bone.
    aim:    True: the bone's own rest direction is carried onto the observed direction (the bone lies along
            the joints, e.g. a thigh). False: the T-pose direction of ``source`` in the rig's frame is (for
            controls not drawn along the body, e.g. a Rigify ``torso``): the bone turns with the body part
            but does not point along it.
    """

    source: tuple[str, str]
    twist: str
    aim: bool = True

    def __post_init__(self) -> None:
        source = tuple(self.source)
        if len(source) != 2 or any(name not in _J for name in source) or source[0] == source[1]:
            raise ValueError(f"source must be two different H36M-17 joint names {H36M17.joint_names}, "
                             f"got {self.source!r}")
        object.__setattr__(self, "source", source)
        if self.twist not in TWISTS:
            raise ValueError(f"twist must be one of {', '.join(TWISTS)}, got {self.twist!r}")

    def to_dict(self) -> dict:
        return {"source": list(self.source), "twist": self.twist, "aim": self.aim}

    @classmethod
    def from_dict(cls, data: Mapping) -> BoneRule:
        if not isinstance(data, Mapping) or "source" not in data or "twist" not in data:
            raise ValueError(f"a bone rule needs 'source' and 'twist', got {data!r}")
        return cls(source=tuple(data["source"]), twist=str(data["twist"]), aim=bool(data.get("aim", True)))


@dataclass(frozen=True)
class RestBone:
    """A rig bone at rest. matrix: (4, 4) ``Bone.matrix_local`` (armature space); parent: a name or None."""

    name: str
    parent: str | None
    matrix: np.ndarray
    length: float | None = None   # head-to-tail (``Bone.length``); None: measured to a child's head

    @property
    def head(self) -> np.ndarray:
        return np.asarray(self.matrix, dtype=np.float64)[:3, 3]

    @property
    def direction(self) -> np.ndarray:
        return np.asarray(self.matrix, dtype=np.float64)[:3, 1]


@dataclass(frozen=True)
class PoseTrack:
    """Result of :func:`solve_pose`, T frames.

    bones:      the mapped bones, parents first.
    rotations:  (T, B, 3, 3) ``matrix_basis`` rotations of ``bones``.
    quaternions: (T, B, 4) the same as (w, x, y, z), sign-continuous over frames.
    root:       the bone whose location follows the trajectory (None: no root motion).
    location:   (T, 3) ``matrix_basis`` translation (``PoseBone.location``) of ``root``; None without a root.
    targets:    (T, B, 3, 3) armature-space pose rotations (``PoseBone.matrix``) the bones reach; a rig whose
                parents are driven by constraints (a generated Rigify rig) is keyed from these instead.
    root_head:  (T, 3) armature-space position of the root's head; None without a root.
    scale:      rig leg length / subject leg length applied to the trajectory.
    floor:      height (along the rig's up) of the rig's lowest rest point, where the capture's floor goes.
    """

    bones: tuple[str, ...]
    rotations: np.ndarray
    quaternions: np.ndarray
    root: str | None
    location: np.ndarray | None
    scale: float
    floor: float
    targets: np.ndarray
    root_head: np.ndarray | None



# ------------------------------------------------------------------------------------------------ FK


def order_bones(rest: Sequence[RestBone]) -> list[int]:
    """Indices of ``rest`` with every parent before its children; ValueError on unknown parents or cycles."""
    index = {bone.name: i for i, bone in enumerate(rest)}
    if len(index) != len(rest):
        raise ValueError("bone names must be unique")
    done: list[int] = []
    state: dict[int, int] = {}

    def visit(i: int, depth: int = 0) -> None:
        if state.get(i) == 2:
            return
        if state.get(i) == 1 or depth > len(rest):
            raise ValueError(f"bone hierarchy has a cycle at {rest[i].name!r}")
        state[i] = 1
        parent = rest[i].parent
        if parent is not None:
            if parent not in index:
                raise ValueError(f"bone {rest[i].name!r} has unknown parent {parent!r}")
            visit(index[parent], depth + 1)
        state[i] = 2
        done.append(i)

    for i in range(len(rest)):
        visit(i)
    return done


# ---------------------------------------------------------------------------------------------- solve


def rig_axes(rest: Sequence[RestBone], rules: Mapping[str, BoneRule]) -> np.ndarray:
    """(3, 3) columns: the rig's left, up and forward in armature space (see the module docstring)."""
    heads = {rule.source[0]: next(b.head for b in rest if b.name == name) for name, rule in rules.items()}
    up = np.array([0.0, 0.0, 1.0])
    left = np.array([1.0, 0.0, 0.0])
    for a, b in (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")):
        if a in heads and b in heads:
            across = heads[a] - heads[b]
            across = across - across.dot(up) * up
            if np.linalg.norm(across) > 1e-6:
                left = across / np.linalg.norm(across)
                break
    return np.stack([left, up, np.cross(left, up)], axis=-1)


def rig_leg_length(rest: Sequence[RestBone], rules: Mapping[str, BoneRule]) -> float | None:
    """A rig's leg length at rest: mean over sides of thigh + shin (bones mapped hip->knee and knee->ankle), or
    None. A subject's is ``skeleton.leg_length``."""
    by_source = {rule.source: name for name, rule in rules.items()}
    rest_by_name = {bone.name: bone for bone in rest}
    sides = []
    for side in ("left", "right"):
        hip, knee, ankle = f"{side}_hip", f"{side}_knee", f"{side}_ankle"
        if (hip, knee) in by_source and (knee, ankle) in by_source:
            upper, lower = rest_by_name[by_source[hip, knee]], rest_by_name[by_source[knee, ankle]]
            # Lengths from heads: the upper bone reaches the lower bone's head; the lower bone's own length.
            length_upper = np.linalg.norm(lower.head - upper.head)
            sides.append(length_upper + _bone_length(lower, rest))
    return float(np.mean(sides)) if sides else None


def rig_floor(rest: Sequence[RestBone], up: np.ndarray) -> float:
    """Lowest rest point of the rig along ``up``: bone heads, and tails where lengths are known."""
    heights = []
    for bone in rest:
        heights.append(bone.head @ up)
        if bone.length is not None:
            heights.append((bone.head + bone.direction * bone.length) @ up)
    return float(min(heights))


def solve_pose(
    rest: Sequence[RestBone],
    rules: Mapping[str, BoneRule],
    joints: np.ndarray,
    *,
    trajectory: np.ndarray | None = None,
    root: str | None = None,
    in_place: bool = False,
    scale: float | None = None,
) -> PoseTrack:
    """Pose rotations (and the root's location) that put every mapped bone along its observed joints.

    rest:       every bone of the rig (unmapped ones too: they carry their children), any order.
    rules:      bone name -> :class:`BoneRule`; every name must be in ``rest``.
    joints:     (T, 17, 3) H36M-17 joints in armature space.
    trajectory: (T, 3) root (pelvis) positions in armature space; default the pelvis joint.
    root:       the bone whose head follows the trajectory (``PoseBone.location``); None: no root motion.
    in_place:   keep the root's horizontal position at rest (vertical motion stays).
    scale:      trajectory scale; default rig leg length / subject leg length (1 if the rig has no legs).

    The root's head goes to ``rest_head + scale * (trajectory[t] - trajectory[0])`` horizontally and
    ``floor + scale * trajectory[t].z`` vertically, where ``floor`` is the rig's lowest rest point (heads and
    tails): the capture's floor is at z = 0, so the subject's floor lands on the rig's.
    """
    joints = check_h36m_joints(joints)
    frames = len(joints)
    names = [bone.name for bone in rest]
    index = {name: i for i, name in enumerate(names)}
    missing = [name for name in rules if name not in index]
    if missing:
        raise ValueError(f"rules name bones the rig lacks: {', '.join(missing)}")
    if root is not None and root not in index:
        raise ValueError(f"root bone {root!r} is not in the rig")
    if trajectory is None:
        trajectory = joints[:, _J["pelvis"]]
    trajectory = np.asarray(trajectory, dtype=np.float64)
    if trajectory.shape != (frames, 3) or not np.all(np.isfinite(trajectory)):
        raise ValueError(f"trajectory must be finite (T, 3) = ({frames}, 3), got {trajectory.shape}")

    axes = rig_axes(rest, rules)
    up = axes[:, 1]
    observed = _observed_references(joints, axes)
    rest_refs = _rest_references(rest, rules, axes)
    t_pose = {name: axes @ np.asarray(p) for name, p in T_POSE.items()}

    rest_m = np.stack([np.asarray(bone.matrix, dtype=np.float64) for bone in rest])
    pose = np.empty((frames, len(rest), 4, 4))
    rotations: dict[str, np.ndarray] = {}
    targets: dict[str, np.ndarray] = {}
    location = root_head = None
    floor = rig_floor(rest, up)
    if scale is None:
        rig_legs = rig_leg_length(rest, rules)
        scale = rig_legs / leg_length(joints, statistic="mean") if rig_legs else 1.0
    for i in order_bones(rest):
        bone = rest[i]
        parent = index[bone.parent] if bone.parent is not None else None
        if parent is None:
            carrier = np.broadcast_to(rest_m[i], (frames, 4, 4))
        else:
            carrier = pose[:, parent] @ (np.linalg.inv(rest_m[parent]) @ rest_m[i])  # pose with identity basis
        basis = np.broadcast_to(np.eye(4), (frames, 4, 4)).copy()
        rule = rules.get(bone.name)
        if rule is not None:
            a, b = (_J[n] for n in rule.source)
            direction = joints[:, b] - joints[:, a]
            rest_dir = bone.direction if rule.aim else t_pose[rule.source[1]] - t_pose[rule.source[0]]
            rest_frame = frame_from(rest_dir, rest_refs[bone.name])
            delta = frame_from(direction, observed[rule.twist]) @ rest_frame.T        # (T, 3, 3)
            target = delta @ rest_m[i, :3, :3]
            basis[:, :3, :3] = carrier[:, :3, :3].swapaxes(-1, -2) @ target
            rotations[bone.name] = basis[:, :3, :3]
            targets[bone.name] = target
        if bone.name == root:
            head = np.empty((frames, 3))
            rest_head = rest_m[i, :3, 3]
            shift = scale * (trajectory - trajectory[0])
            horizontal = shift - (shift @ up)[:, None] * up
            if in_place:
                horizontal[:] = 0.0
            rest_horizontal = rest_head - rest_head.dot(up) * up
            head[:] = rest_horizontal + horizontal + (floor + scale * (trajectory @ up))[:, None] * up
            location = np.einsum("tji,tj->ti", carrier[:, :3, :3], head - carrier[:, :3, 3])
            basis[:, :3, 3] = location
            root_head = head
        pose[:, i] = carrier @ basis
    mapped = tuple(names[i] for i in order_bones(rest) if names[i] in rules)
    rot = np.stack([rotations[name] for name in mapped], axis=1) if mapped else np.zeros((frames, 0, 3, 3))
    quats = continuous_quaternions(matrix_to_quaternion(rot)) if mapped else np.zeros((frames, 0, 4))
    aims = np.stack([targets[name] for name in mapped], axis=1) if mapped else np.zeros((frames, 0, 3, 3))
    return PoseTrack(bones=mapped, rotations=rot, quaternions=quats, root=root, location=location,
                     scale=float(scale), floor=floor, targets=aims, root_head=root_head)


def _bone_length(bone: RestBone, rest: Sequence[RestBone]) -> float:
    """Rest length of ``bone``: its ``length`` if given, else the distance to a child's head along it."""
    if bone.length is not None:
        return float(bone.length)
    for child in (b for b in rest if b.parent == bone.name):
        offset = child.head - bone.head
        if np.linalg.norm(offset) > 1e-6 and abs(normalize(offset).dot(bone.direction)) > 0.9:
            return float(np.linalg.norm(offset))
    return 0.0


def _observed_references(joints: np.ndarray, axes: np.ndarray) -> dict[str, np.ndarray]:
    """Observed twist references (T, 3) by name, in armature space."""
    left, up, forward = axes.T
    vec = lambda a, b: joints[:, _J[b]] - joints[:, _J[a]]  # noqa: E731
    refs = {
        "hip_line": vec("right_hip", "left_hip"),
        "shoulder_line": vec("right_shoulder", "left_shoulder"),
        "spine_up": vec("pelvis", "spine"),
        "chest_up": vec("spine", "thorax"),
    }
    rest_body = frame_from(left, up)
    hips = frame_from(refs["hip_line"], refs["spine_up"]) @ rest_body.T     # torso rotations from rest
    chest = frame_from(refs["shoulder_line"], refs["chest_up"]) @ rest_body.T
    refs["forward"] = hips @ forward
    for limb, (a, b, c) in LIMBS.items():
        upper, lower = normalize(vec(a, b)), normalize(vec(b, c))
        body, bend = (hips, -forward) if "leg" in limb else (chest, forward)
        usual = normalize(np.cross(upper, body @ bend))
        refs[limb] = np.cross(upper, lower) + HINGE_FALLBACK * usual
    return refs


def _rest_references(rest: Sequence[RestBone], rules: Mapping[str, BoneRule], axes: np.ndarray) -> dict:
    """Rest twist reference (3,) per mapped bone, in armature space."""
    left, up, forward = axes.T
    by_name = {bone.name: bone for bone in rest}
    upper_dirs = {}
    for name, rule in rules.items():
        for limb, (a, b, _c) in LIMBS.items():
            if rule.source == (a, b):
                upper_dirs[limb] = by_name[name].direction if rule.aim else None
    t_pose = {name: axes @ np.asarray(p) for name, p in T_POSE.items()}
    out = {}
    for name, rule in rules.items():
        if rule.twist in ("hip_line", "shoulder_line"):
            ref = left
        elif rule.twist in ("spine_up", "chest_up"):
            ref = up
        elif rule.twist == "forward":
            ref = forward
        else:
            a, b, _c = LIMBS[rule.twist]
            upper = upper_dirs.get(rule.twist)
            if upper is None:
                upper = normalize(t_pose[b] - t_pose[a])
            ref = np.cross(upper, -forward if "leg" in rule.twist else forward)
        direction = by_name[name].direction if rule.aim else normalize(t_pose[rule.source[1]] -
                                                                         t_pose[rule.source[0]])
        if np.linalg.norm(np.cross(normalize(direction), normalize(ref))) < 0.1:
            raise ValueError(f"bone {name!r}: its twist reference {rule.twist!r} is (nearly) parallel to its rest "
                             "direction; pick another twist")
        out[name] = ref
    return out

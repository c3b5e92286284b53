"""Mapping a source skeleton's joints to the Human3.6M-17 layout the lifter predicts.

Each dataset gets a :class:`SkeletonMapping` naming, per H36M joint, the source joint it copies. Joints a
mocap skeleton lacks are built from the head's orientation (``head_axes``: world directions of the head's
up, forward and left axes):

* ``pelvis`` is the midpoint of the two hip joints in every dataset. Studios put their root joint in very
  different places (Bandai's ``Hips`` sits near the navel); the hip midpoint is defined the same everywhere.
* ``neck_nose`` and ``head_top`` are offsets in the head frame from the source's head joint (a skull-base
  joint in Bandai's skeleton, whose head end site has zero length). The offsets are for an adult head
  and are documented in :data:`HEAD_OFFSETS_M`.
* ``spine`` and ``thorax`` are chosen per skeleton so that they sit where Bandai's do, measured along the
  pelvis-to-shoulder-midpoint line over all of Bandai dataset 1: spine at 0.68 of that distance, thorax at
  1.09 (just above the shoulders). A source joint given as a pair means the midpoint of the two.

The CMU skeletons (three conversions of the same database, see ``mocap.cmu``), measured the same way:

* Motionbuilder-friendly BVH: ``Spine``/``Spine1`` sit at 0.55/0.85, so ``spine`` is their midpoint
  (0.70); ``Neck1`` (CMU's upperneck start) at 1.07 is the thorax; ``Head`` is the skull base.
* Daz-friendly BVH: ``chest`` at 0.60 is the spine, ``neck`` at 1.07 the thorax, ``head`` the skull base.
* ASF/AMC: joints sit at the *end* of their bone, so the hip is ``lhipjoint``, the knee ``lfemur``, the
  ankle ``ltibia``, the shoulder ``lclavicle``, the elbow ``lhumerus``, the wrist ``lradius``; the spine is
  the midpoint of ``upperback``/``thorax`` (0.73), the thorax ``lowerneck`` (1.04), the skull base
  ``upperneck``, and the head's orientation is the ``head`` bone's.

In all three the head's local axes at rest are (Y up, Z forward, X left), measured as the head rotation's
agreement with the body frame from shoulders and hips (dot products 0.88-0.99).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...skeleton import H36M17
from .clip import MocapClip

# Offsets from the skull-base head joint, metres, along the head's (up, forward, left) axes.
HEAD_OFFSETS_M = {
    "neck_nose": (0.05, 0.05, 0.0),
    "head_top": (0.16, 0.01, 0.0),
}


@dataclass(frozen=True)
class SkeletonMapping:
    name: str
    joints: dict[str, str | tuple[str, str]]  # H36M joint -> source joint, or two whose midpoint it is
    left_hip: str
    right_hip: str
    head: str                           # skull-base joint the head offsets start from
    head_axes_local: tuple[int, int, int]   # which local axis of the head rotation is (up, forward, left)
    units_to_metres: float
    head_rotation: str | None = None    # joint whose rotation is the head's, when not `head` itself


BANDAI = SkeletonMapping(
    name="bandai",
    joints={
        "right_hip": "UpperLeg_R", "right_knee": "LowerLeg_R", "right_ankle": "Foot_R",
        "left_hip": "UpperLeg_L", "left_knee": "LowerLeg_L", "left_ankle": "Foot_L",
        "spine": "Chest", "thorax": "Neck",
        "left_shoulder": "UpperArm_L", "left_elbow": "LowerArm_L", "left_wrist": "Hand_L",
        "right_shoulder": "UpperArm_R", "right_elbow": "LowerArm_R", "right_wrist": "Hand_R",
    },
    left_hip="UpperLeg_L",
    right_hip="UpperLeg_R",
    head="Head",
    head_axes_local=(0, 1, 2),  # measured: local X points up the head, Y forward (face), Z to the left
    units_to_metres=0.01,
)

CMU_UNIT_M = 0.0254 / 0.45  # CMU's ASF length unit (1/0.45 inch), kept by the Motionbuilder-friendly BVH

CMU_MOTIONBUILDER = SkeletonMapping(
    name="cmu-motionbuilder",
    joints={
        "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_ankle": "RightFoot",
        "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
        "spine": ("Spine", "Spine1"), "thorax": "Neck1",
        "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm", "left_wrist": "LeftHand",
        "right_shoulder": "RightArm", "right_elbow": "RightForeArm", "right_wrist": "RightHand",
    },
    left_hip="LeftUpLeg",
    right_hip="RightUpLeg",
    head="Head",
    head_axes_local=(1, 2, 0),
    units_to_metres=CMU_UNIT_M,
)

CMU_DAZ = SkeletonMapping(
    name="cmu-daz",
    joints={
        "right_hip": "rThigh", "right_knee": "rShin", "right_ankle": "rFoot",
        "left_hip": "lThigh", "left_knee": "lShin", "left_ankle": "lFoot",
        "spine": "chest", "thorax": "neck",
        "left_shoulder": "lShldr", "left_elbow": "lForeArm", "left_wrist": "lHand",
        "right_shoulder": "rShldr", "right_elbow": "rForeArm", "right_wrist": "rHand",
    },
    left_hip="lThigh",
    right_hip="rThigh",
    head="head",
    head_axes_local=(1, 2, 0),
    units_to_metres=0.01,
)

CMU_ASF = SkeletonMapping(
    name="cmu-asf",
    joints={
        "right_hip": "rhipjoint", "right_knee": "rfemur", "right_ankle": "rtibia",
        "left_hip": "lhipjoint", "left_knee": "lfemur", "left_ankle": "ltibia",
        "spine": ("upperback", "thorax"), "thorax": "lowerneck",
        "left_shoulder": "lclavicle", "left_elbow": "lhumerus", "left_wrist": "lradius",
        "right_shoulder": "rclavicle", "right_elbow": "rhumerus", "right_wrist": "rradius",
    },
    left_hip="lhipjoint",
    right_hip="rhipjoint",
    head="upperneck",
    head_axes_local=(1, 2, 0),
    units_to_metres=0.0254,  # the ASF/AMC reader returns inches (file units / `:units length`)
    head_rotation="head",
)


@dataclass
class MappedMotion:
    """H36M-17 positions (T, 17, 3) and head axes (T, 3, 3; columns up, forward, left), metres, source axes."""

    joints: np.ndarray
    head_axes: np.ndarray


def map_to_h36m(clip: MocapClip, mapping: SkeletonMapping) -> MappedMotion:
    positions, rotations = clip.forward_kinematics()
    positions = positions * mapping.units_to_metres
    frames = clip.num_frames
    out = np.zeros((frames, H36M17.num_joints, 3))
    for h36m_name, source in mapping.joints.items():
        names = (source,) if isinstance(source, str) else source
        out[:, H36M17.index(h36m_name)] = np.mean([positions[:, clip.index(n)] for n in names], axis=0)
    out[:, H36M17.index("pelvis")] = 0.5 * (
        positions[:, clip.index(mapping.left_hip)] + positions[:, clip.index(mapping.right_hip)]
    )
    head_rotation = rotations[:, clip.index(mapping.head_rotation or mapping.head)]
    head_axes = head_rotation[:, :, list(mapping.head_axes_local)]
    head = positions[:, clip.index(mapping.head)]
    for name, offset in HEAD_OFFSETS_M.items():
        out[:, H36M17.index(name)] = head + head_axes @ np.asarray(offset)
    return MappedMotion(joints=out, head_axes=head_axes)

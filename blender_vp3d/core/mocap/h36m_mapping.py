"""Mapping a source skeleton's joints to the Human3.6M-17 layout the lifter predicts.

Each dataset gets a :class:`SkeletonMapping` naming, per H36M joint, the source joint it copies. Joints a
mocap skeleton lacks are built from the head's orientation (``head_axes``: world directions of the head's
up, forward and left axes):

* ``pelvis`` is the midpoint of the two hip joints in every dataset. Studios put their root joint in very
  different places (Bandai's ``Hips`` sits near the navel); the hip midpoint is defined the same everywhere.
* ``neck_nose`` and ``head_top`` are offsets in the head frame from the source's head joint (a skull-base
  joint in Bandai's skeleton, whose head end site has zero length). The offsets are for an adult head
  and are documented in :data:`HEAD_OFFSETS_M`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import H36M17
from .clip import MocapClip

# Offsets from the skull-base head joint, metres, along the head's (up, forward, left) axes.
HEAD_OFFSETS_M = {
    "neck_nose": (0.05, 0.05, 0.0),
    "head_top": (0.16, 0.01, 0.0),
}


@dataclass(frozen=True)
class SkeletonMapping:
    name: str
    joints: dict[str, str]              # H36M joint -> source joint (for every H36M joint copied directly)
    left_hip: str
    right_hip: str
    head: str                           # skull-base joint the head offsets start from
    head_axes_local: tuple[int, int, int]   # which local axis of `head` is (up, forward, left)
    units_to_metres: float


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
    for h36m_name, source_name in mapping.joints.items():
        out[:, H36M17.index(h36m_name)] = positions[:, clip.index(source_name)]
    out[:, H36M17.index("pelvis")] = 0.5 * (
        positions[:, clip.index(mapping.left_hip)] + positions[:, clip.index(mapping.right_hip)]
    )
    head_rotation = rotations[:, clip.index(mapping.head)]
    head_axes = head_rotation[:, :, list(mapping.head_axes_local)]
    head = positions[:, clip.index(mapping.head)]
    for name, offset in HEAD_OFFSETS_M.items():
        out[:, H36M17.index(name)] = head + head_axes @ np.asarray(offset)
    return MappedMotion(joints=out, head_axes=head_axes)

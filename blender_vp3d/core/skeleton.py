"""Joint layouts: the lifter's output (Human3.6M-17, VideoPose3D order) and its input (COCO-17)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Layout:
    """A named joint layout with a kinematic tree and left/right symmetry."""

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]  # -1 for the root; for COCO a drawing tree, not a kinematic one
    joints_left: tuple[int, ...]
    joints_right: tuple[int, ...]

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps every left joint with its right twin."""
        perm = np.arange(self.num_joints)
        perm[list(self.joints_left)] = self.joints_right
        perm[list(self.joints_right)] = self.joints_left
        return perm

    def bones(self) -> list[tuple[int, int]]:
        return [(parent, child) for child, parent in enumerate(self.parents) if parent >= 0]

    def index(self, name: str) -> int:
        return self.joint_names.index(name)


H36M17 = Layout(
    name="h36m17",
    joint_names=(
        "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
        "spine", "thorax", "neck_nose", "head_top",
        "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
    ),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    joints_left=(4, 5, 6, 11, 12, 13),
    joints_right=(1, 2, 3, 14, 15, 16),
)

COCO17 = Layout(
    name="coco17",
    joint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    # Drawing tree rooted at the nose (COCO has no kinematic root).
    parents=(-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
    joints_left=(1, 3, 5, 7, 9, 11, 13, 15),
    joints_right=(2, 4, 6, 8, 10, 12, 14, 16),
)

ROOT = 0  # H36M pelvis

# The four limbs of H36M-17 as (upper, middle, lower) joint names: each bends about its middle joint.
LIMBS = {
    "left_leg": ("left_hip", "left_knee", "left_ankle"),
    "right_leg": ("right_hip", "right_knee", "right_ankle"),
    "left_arm": ("left_shoulder", "left_elbow", "left_wrist"),
    "right_arm": ("right_shoulder", "right_elbow", "right_wrist"),
}


def check_h36m_joints(joints: np.ndarray) -> np.ndarray:
    """H36M-17 joints as float64 (T, 17, 3), at least one frame, all finite; ValueError naming the problem."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (H36M17.num_joints, 3):
        raise ValueError(f"need H36M-17 joints of shape (T, 17, 3), got {joints.shape}")
    if len(joints) == 0:
        raise ValueError("need at least one frame of joints, got none")
    if not np.all(np.isfinite(joints)):
        raise ValueError("joints contain NaN or inf")
    return joints


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(T, 17) length of the bone ending at each joint (0 for the pelvis)."""
    parents = np.array(H36M17.parents)
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, parents[1:]], axis=-1)
    return np.concatenate([np.zeros((len(joints), 1)), lengths], axis=1)


def leg_length(joints: np.ndarray, *, statistic: str = "median") -> float:
    """A subject's leg length, hip-knee plus knee-ankle, over both legs and every frame of H36M-17 joints
    (T, 17, 3), in their units: the ``"median"`` (robust to a few bad frames, for thresholds) or the ``"mean"``.
    A rig's rest leg length is ``retarget_math.rig_leg_length``."""
    j = check_h36m_joints(joints)
    index = {name: i for i, name in enumerate(H36M17.joint_names)}
    lengths = []
    for limb in ("left_leg", "right_leg"):
        hip, knee, ankle = (j[:, index[name]] for name in LIMBS[limb])
        lengths.append(np.linalg.norm(knee - hip, axis=-1) + np.linalg.norm(ankle - knee, axis=-1))
    if statistic not in ("median", "mean"):
        raise ValueError(f"statistic must be 'median' or 'mean', got {statistic!r}")
    return float(np.median(np.concatenate(lengths)) if statistic == "median" else np.mean(lengths))

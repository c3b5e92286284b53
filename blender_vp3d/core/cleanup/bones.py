"""Rigid bones: one length per bone for a whole clip, as a rig has.

The lifter predicts every frame's joints independently of any skeleton, so bone lengths wobble from frame to
frame (more where 2D says little about them, e.g. hip width). A rig cannot follow that, and a BVH needs fixed
offsets. :func:`rigid_bone_lengths` keeps each bone's direction in every frame and sets its length to the
clip's median, with left and right twins averaged; joints are rebuilt from the pelvis outwards.
"""

from __future__ import annotations

import numpy as np

from ..skeleton import H36M17, bone_lengths, check_h36m_joints


def rigid_bone_lengths(joints: np.ndarray, *, symmetric: bool = True) -> np.ndarray:
    """Joints (T, 17, 3) rebuilt with each bone at its median length over the clip (directions kept)."""
    joints = check_h36m_joints(joints)
    target = np.median(bone_lengths(joints), axis=0)
    if symmetric:
        for left, right in zip(H36M17.joints_left, H36M17.joints_right):
            target[left] = target[right] = 0.5 * (target[left] + target[right])
    out = np.empty_like(joints)
    out[:, 0] = joints[:, 0]
    for child, parent in enumerate(H36M17.parents):
        if parent < 0:
            continue
        bone = joints[:, child] - joints[:, parent]
        norm = np.linalg.norm(bone, axis=-1, keepdims=True)
        direction = np.where(norm > 1e-9, bone / np.maximum(norm, 1e-9), 0.0)
        out[:, child] = out[:, parent] + target[child] * direction
    return out

"""Rigid bone lengths on a real clip whose bones were made to wobble."""

from __future__ import annotations

import numpy as np
import pytest

from blender_vp3d.core.cleanup.bones import rigid_bone_lengths
from blender_vp3d.core.skeleton import H36M17, bone_lengths


def test_wobbling_bones_become_rigid_and_keep_their_directions(bandai_split):
    _, validation = bandai_split
    joints = validation[0].joints.astype(np.float64)
    rng = np.random.default_rng(0)
    wobbly = joints.copy()
    for child, parent in enumerate(H36M17.parents):
        if parent >= 0:  # scale each bone by up to +-20% per frame, rebuilt outwards
            wobbly[:, child] = wobbly[:, parent] + (joints[:, child] - joints[:, parent]) * rng.uniform(0.8, 1.2, (len(joints), 1))
    rigid = rigid_bone_lengths(wobbly)
    lengths = bone_lengths(rigid)[:, 1:]
    assert (lengths.std(0) / lengths.mean(0)).max() < 1e-9
    # left and right twins share one length, close to the true mocap bone
    for left, right in zip(H36M17.joints_left, H36M17.joints_right):
        assert lengths[0, left - 1] == pytest.approx(lengths[0, right - 1])
    truth = bone_lengths(joints)[0, 1:]
    assert np.abs(lengths[0] - truth).max() < 0.03
    for child, parent in enumerate(H36M17.parents):
        if parent >= 0:
            a = wobbly[:, child] - wobbly[:, parent]
            b = rigid[:, child] - rigid[:, parent]
            cosine = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
            assert cosine.min() > 1 - 1e-9
    with pytest.raises(ValueError, match="shape"):
        rigid_bone_lengths(joints[:, :16])

"""The Bandai split and the H36M-17 mapping on the real archives."""

from __future__ import annotations

import numpy as np

from blender_vp3d.core.skeleton import H36M17


def test_split_is_by_style_and_holds_out_enough_of_both_datasets(bandai_split):
    train, val = bandai_split
    assert not {c.name for c in train} & {c.name for c in val}
    for dataset in ("bandai-1", "bandai-2"):
        t = sum(c.num_frames for c in train if c.dataset == dataset)
        v = sum(c.num_frames for c in val if c.dataset == dataset)
        assert v >= 0.08 * (t + v), dataset
        assert not {c.style for c in train if c.dataset == dataset} & {c.style for c in val if c.dataset == dataset}
    assert sum(c.num_frames for c in train + val) > 410_000


def test_mapped_skeleton_is_human_shaped(bandai_split):
    train, _ = bandai_split
    clip = next(c for c in train if c.action == "walk")
    j = clip.joints
    bones = {H36M17.joint_names[c]: np.linalg.norm(j[:, c] - j[:, p], axis=-1) for p, c in H36M17.bones()}
    for name, lengths in bones.items():
        assert lengths.std() < 0.01, name  # rigid bones (metres)
    assert 0.3 < bones["right_knee"].mean() < 0.5 and 0.3 < bones["left_ankle"].mean() < 0.5
    np.testing.assert_allclose(bones["left_knee"].mean(), bones["right_knee"].mean(), rtol=0.05)
    # Y up: head top above thorax above pelvis above ankles
    y = j[..., 1].mean(0)
    assert y[H36M17.index("head_top")] > y[H36M17.index("thorax")] > y[0] > y[H36M17.index("left_ankle")]
    # the head's forward axis points the way the body faces (left-to-right hip line crossed with up)
    left = j[:, H36M17.index("left_hip")] - j[:, H36M17.index("right_hip")]
    facing = np.cross(left, [0, 1, 0])
    assert (np.sum(facing * clip.head_axes[:, :, 1], axis=-1) > 0).mean() > 0.95

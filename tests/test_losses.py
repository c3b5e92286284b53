"""The semi-supervised loss terms on real clips: low for the truth, high for wrong answers, right gradients."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from blender_vp3d.core.rotations import axis_angle_to_matrix  # noqa: E402
from blender_vp3d.core.training.losses import bone_length_error, reprojection_error  # noqa: E402
from blender_vp3d.core.training.synthetic import ClipBank, SyntheticGenerator  # noqa: E402


@pytest.fixture(scope="module")
def clean(bandai_split):
    train, _ = bandai_split
    joints, head = ClipBank(train).sample_windows(np.random.default_rng(5), 128, 1)
    batch = SyntheticGenerator(seed=5).batch(joints, head, augment_body=False, detector_noise=False, flip=False)
    return (torch.from_numpy(batch.poses[:, 0]).double(), torch.from_numpy(batch.trajectory[:, 0]).double(),
            torch.from_numpy(batch.inputs[:, 0]).double())


def test_reprojection_is_small_for_the_truth_and_large_for_wrong_poses(clean):
    pose, trajectory, inputs = clean
    truth = reprojection_error(pose, trajectory, inputs).item()
    assert truth < 0.04  # only the detectors' surface offsets at hips and shoulders remain (metres)
    turn = torch.from_numpy(axis_angle_to_matrix(np.array([0.0, 0.0, np.radians(30)])))
    assert reprojection_error(pose @ turn.T, trajectory, inputs).item() > truth + 0.05
    shifted = trajectory + torch.tensor([0.3, 0.0, 0.0], dtype=torch.float64)
    assert reprojection_error(pose, shifted, inputs).item() > truth + 0.2


def test_reprojection_gradients_reach_pose_and_trajectory(clean):
    pose, trajectory, inputs = clean
    pose = (pose * 1.1).requires_grad_()
    trajectory = (trajectory + 0.2).requires_grad_()
    reprojection_error(pose, trajectory, inputs).backward()
    assert pose.grad.abs().sum() > 0 and trajectory.grad.abs().sum() > 0


def test_bone_length_term_compares_scales(clean):
    pose, _, _ = clean
    assert bone_length_error(pose, pose).item() == pytest.approx(0.0, abs=1e-12)
    assert bone_length_error(1.2 * pose, pose).item() > 0.02

"""Synthetic training pairs from the real Bandai clips: geometry must be consistent, augmentation sane."""

from __future__ import annotations

import numpy as np
import pytest

from blender_vp3d.core.skeleton import COCO17, H36M17
from blender_vp3d.core.training.synthetic import ClipBank, SyntheticGenerator

MATCHED = ["left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_knee", "right_knee", "left_ankle", "right_ankle"]


@pytest.fixture(scope="module")
def windows(bandai_split):
    train, _ = bandai_split
    return ClipBank(train).sample_windows(np.random.default_rng(0), 256, 27)


def _reprojection_gap(batch) -> float:
    """Largest gap between the 2D input and the projection of pose + trajectory at matching joints."""
    points = batch.poses + batch.trajectory[:, :, None]
    projected = points[..., :2] / points[..., 2:3]
    h = [H36M17.index(n) for n in MATCHED]
    c = [COCO17.index(n) for n in MATCHED]
    return float(np.abs(projected[:, :, h] - batch.inputs[:, :, c, :2]).max())


def test_clean_inputs_are_exact_projections_of_the_targets(windows):
    batch = SyntheticGenerator(seed=1).batch(*windows, augment_body=False, detector_noise=False, flip=False)
    assert _reprojection_gap(batch) < 1e-5
    assert (batch.trajectory[..., 2] > 1.0).all()
    np.testing.assert_array_equal(batch.poses[:, :, 0], 0)
    assert (batch.inputs[..., 2] == 1).all()


def test_mirroring_keeps_inputs_and_targets_consistent(windows):
    batch = SyntheticGenerator(seed=2).batch(*windows, augment_body=False, detector_noise=False, flip=True)
    assert _reprojection_gap(batch) < 1e-5
    # mirrored samples exist: someone's left shoulder is drawn right of the right one, as seen from the front
    left, right = COCO17.index("left_shoulder"), COCO17.index("right_shoulder")
    facing_camera = batch.poses[:, 0, H36M17.index("left_hip"), 0] > batch.poses[:, 0, H36M17.index("right_hip"), 0]
    drawn = batch.inputs[:, 0, left, 0] > batch.inputs[:, 0, right, 0]
    assert (facing_camera == drawn).mean() > 0.9


def test_augmented_batches_are_finite_human_sized_and_noisy(windows):
    batch = SyntheticGenerator(seed=3).batch(*windows)
    for array in (batch.inputs, batch.poses, batch.trajectory):
        assert np.isfinite(array).all()
    extent = np.linalg.norm(batch.poses, axis=-1).max(axis=(1, 2))
    assert np.median(extent) < 1.0 and extent.max() < 1.6
    confidence = batch.inputs[..., 2]
    assert (confidence == 0).any() and (confidence < 1).mean() > 0.3
    # detector errors and unknown intrinsics break exact reprojection
    assert _reprojection_gap(batch) > 1e-3


def test_unknown_intrinsics_scale_depth_by_the_focal_ratio(windows):
    gen = SyntheticGenerator(seed=4)
    gen.config.known_intrinsics_prob = 0.0
    batch = gen.batch(*windows, detector_noise=False, flip=False)
    # the pelvis direction seen under the assumed default camera matches the target's x/z, y/z roughly
    # (residual lens distortion and principal-point shifts remain, as with a real unknown camera)
    pelvis = batch.trajectory
    mid_hip = 0.5 * (batch.inputs[..., COCO17.index("left_hip"), :2] + batch.inputs[..., COCO17.index("right_hip"), :2])
    direction = pelvis[..., :2] / pelvis[..., 2:3]
    assert np.median(np.abs(direction - mid_hip)) < 0.05


def test_every_window_is_in_front_of_the_camera_at_a_filmable_distance(windows):
    for seed in range(3):
        batch = SyntheticGenerator(seed=10 + seed).batch(*windows)
        depth = batch.trajectory[..., 2]
        assert depth.min() > 0.9 and depth.max() < 30.0, (depth.min(), depth.max())
        assert np.abs(batch.inputs[..., :2]).max() < 3.0


def test_skeleton_scaling_moves_each_joint_by_its_whole_chain(windows):
    """Every bone keeps its direction and is scaled by its own factor, whatever the joints above it did."""
    joints, _ = windows
    parents = np.array(H36M17.parents)
    gen = SyntheticGenerator(seed=5)
    cfg = gen.config
    cfg.bone_scale, cfg.hip_width, cfg.shoulder_width, cfg.pelvis_shift = 0.0, (1.0, 1.0), (1.0, 1.0), (0.0, 0.0)
    cfg.global_scale = (1.5, 1.5)  # every bone x1.5, right-side twins within 3% of their left twin
    scaled = gen._augment_skeleton(joints.copy())
    np.testing.assert_allclose(scaled[:, :, 0], joints[:, :, 0], atol=1e-6)  # the pelvis stays
    before = joints[:, :, 1:] - joints[:, :, parents[1:]]
    after = scaled[:, :, 1:] - scaled[:, :, parents[1:]]
    long = np.linalg.norm(before, axis=-1) > 0.02
    ratio = np.linalg.norm(after, axis=-1)[long] / np.linalg.norm(before, axis=-1)[long]
    assert 1.5 * 0.97 - 1e-3 < ratio.min() and ratio.max() < 1.5 * 1.03 + 1e-3
    cosine = (after * before).sum(-1)[long] / (np.linalg.norm(after, axis=-1) * np.linalg.norm(before, axis=-1))[long]
    assert cosine.min() > 0.9999


def test_clean_keypoints_stay_inside_the_widest_frame(windows):
    gen = SyntheticGenerator(seed=6)
    gen.config.known_intrinsics_prob = 1.0
    batch = gen.batch(*windows, detector_noise=False)
    depth = batch.trajectory[..., 2]
    framed = depth.max(axis=1) < 24.0  # windows not held back by the 25 m limit
    widest = 36.0 / (2 * 16.0)  # half the long side over the focal length, at the widest lens (16 mm)
    assert framed.mean() > 0.9
    assert np.abs(batch.inputs[framed][..., :2]).max() <= widest


def test_training_cameras_include_rolled_ones_and_evaluation_keeps_them_level(windows):
    def body_roll_deg(gen: SyntheticGenerator, augment: bool) -> np.ndarray:
        gen.config.trunk_lean_prob = gen.config.body_tilt_prob = 0.0
        poses = gen.batch(*windows, augment_body=augment, detector_noise=False, flip=False).poses
        axis = (poses[:, :, H36M17.index("thorax")] - poses[:, :, 0]).mean(axis=1)  # camera frame, y down
        return np.degrees(np.arctan2(axis[:, 0], -axis[:, 1]))

    level = SyntheticGenerator(seed=7)
    level.config.tilted_camera_prob = 0.0
    tilted = SyntheticGenerator(seed=7)
    tilted.config.tilted_camera_prob = 1.0
    spread_level, spread_tilted = np.std(body_roll_deg(level, True)), np.std(body_roll_deg(tilted, True))
    assert spread_tilted > spread_level + 8.0, (spread_level, spread_tilted)
    # without body augmentation (validation, the evaluate CLI) the roll setting changes nothing
    plain, rolled = SyntheticGenerator(seed=8), SyntheticGenerator(seed=8)
    plain.config.tilted_camera_prob, rolled.config.tilted_camera_prob = 0.0, 1.0
    np.testing.assert_array_equal(body_roll_deg(plain, False), body_roll_deg(rolled, False))

"""The fit of a lifted clip to its 2D keypoints (core.lift.refine): a known motion through a known camera."""

from __future__ import annotations

import numpy as np
import pytest

from blender_vp3d.core.lift.refine import FITTED_COCO, FITTED_H36M, RefineSettings, refine, reprojection_error
from blender_vp3d.core.skeleton import COCO17, H36M17, bone_lengths

FPS = 30.0
# A standing H36M-17 skeleton, camera frame (x right, y down, z forward), metres, pelvis at the origin.
REST = np.array([(0, 0, 0), (-0.12, 0, 0), (-0.12, 0.45, 0), (-0.12, 0.88, 0), (0.12, 0, 0), (0.12, 0.45, 0),
                 (0.12, 0.88, 0), (0, -0.23, 0), (0, -0.48, 0), (0, -0.58, -0.05), (0, -0.72, 0), (0.17, -0.45, 0),
                 (0.45, -0.45, 0), (0.7, -0.45, 0), (-0.17, -0.45, 0), (-0.45, -0.45, 0), (-0.7, -0.45, 0)])
LIMB_JOINTS = list(FITTED_H36M)
J = {name: i for i, name in enumerate(H36M17.joint_names)}


def build(sway: np.ndarray) -> np.ndarray:
    """Rigid joints (T, 17, 3): the rest pose's bones turned by ``sway`` (T, 17, 3), lengths kept."""
    out = np.zeros(sway.shape)
    for child, parent in enumerate(H36M17.parents):
        if parent >= 0:
            bone = REST[child] - REST[parent]
            direction = bone / np.linalg.norm(bone) + sway[:, child]
            direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
            out[:, child] = out[:, parent] + np.linalg.norm(bone) * direction
    return out


@pytest.fixture(scope="module")
def scene():
    """Truth, its keypoints through a camera 4 m away, and a lifter-like guess: limbs turned by about 15
    degrees (more in depth), the root 0.1 m too far and 5 cm to the side."""
    rng = np.random.default_rng(3)
    frames = 90
    t = np.arange(frames) / FPS
    phase = rng.uniform(0, 2 * np.pi, (17, 3))
    sway = 0.5 * np.sin(2 * np.pi * 0.8 * t[:, None, None] + phase)
    truth = build(sway)
    trajectory = np.stack([0.2 * np.sin(t), 0.1 + 0 * t, 4.0 + 0.3 * np.sin(0.5 * t)], axis=-1)
    error = rng.normal(0, 0.2, (1, 17, 3)) * np.array([0.5, 0.5, 2.0]) + 0.05 * np.sin(3 * t[:, None, None] + phase)
    guess = build(sway + error)
    absolute = truth + trajectory[:, None]
    keypoints = np.zeros((frames, COCO17.num_joints, 2))
    keypoints[:, list(FITTED_COCO)] = absolute[:, LIMB_JOINTS, :2] / absolute[:, LIMB_JOINTS, 2:3]
    keypoints += rng.normal(0, 1.0 / 1400, keypoints.shape)  # 1 px at f = 1400
    confidence = np.full((frames, COCO17.num_joints), 0.9)
    return truth, trajectory, guess, trajectory + np.array([0.05, 0.0, 0.1]), keypoints, confidence


def limb_error(joints: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(joints[:, LIMB_JOINTS] - truth[:, LIMB_JOINTS], axis=-1).mean())


def test_a_perturbed_motion_is_pulled_back_to_the_truth_with_its_bones_kept(scene):
    truth, trajectory, guess, guess_trajectory, keypoints, confidence = scene
    result = refine(guess, guess_trajectory, keypoints, confidence, fps=FPS)
    assert result.joints.shape == guess.shape and result.trajectory.shape == guess_trajectory.shape
    assert (result.joints[:, 0] == 0).all()
    assert limb_error(result.joints, truth) < 0.9 * limb_error(guess, truth)
    lateral = np.abs(result.trajectory - trajectory)[:, :2].mean()
    assert lateral < 0.5 * np.abs(guess_trajectory - trajectory)[:, :2].mean()
    assert result.error_after < 0.6 * result.error_before
    # one length per bone for the clip; never shorter than the guess's (they only grow to what the 2D shows)
    lengths = bone_lengths(result.joints)
    assert np.ptp(lengths, axis=0).max() < 1e-9
    assert (lengths[0] >= bone_lengths(guess)[0] - 1e-9).all()
    assert np.abs(lengths[0] - bone_lengths(truth)[0]).max() < 0.03
    # joints the image does not see keep the guess's directions where their parents do
    spine = result.joints[:, J["thorax"]] - result.joints[:, J["spine"]]
    guess_spine = guess[:, J["thorax"]] - guess[:, J["spine"]]
    np.testing.assert_allclose(spine, guess_spine, atol=1e-9)


def test_without_length_estimate_the_guess_lengths_are_kept(scene):
    truth, _, guess, guess_trajectory, keypoints, confidence = scene
    result = refine(guess, guess_trajectory, keypoints, confidence, fps=FPS,
                    settings=RefineSettings(length_percentile=0))
    np.testing.assert_allclose(bone_lengths(result.joints)[0], bone_lengths(guess)[0], atol=1e-9)
    assert limb_error(result.joints, truth) < 0.9 * limb_error(guess, truth)


def test_one_outlier_joint_does_not_drag_its_limb(scene):
    truth, _, guess, guess_trajectory, keypoints, confidence = scene
    settings = RefineSettings(noise=0.01)   # trusting the 2D more than by default: outliers pull harder
    clean = refine(guess, guess_trajectory, keypoints, confidence, fps=FPS, settings=settings)
    spoiled = keypoints.copy()
    wrist = COCO17.index("right_wrist")
    spoiled[40:43, wrist] += 0.15               # 210 px off for three frames, still fairly confident
    conf = confidence.copy()
    conf[40:43, wrist] = 0.6
    result = refine(guess, guess_trajectory, spoiled, conf, fps=FPS, settings=settings)
    for name in ("right_elbow", "right_wrist", "right_shoulder"):
        j = J[name]
        moved = np.linalg.norm(result.joints[:, j] - clean.joints[:, j], axis=-1).max()
        assert moved < 0.02, (name, moved)       # metres; the outlier's pull is 0.6 m at 4 m


def test_missing_keypoints_keep_the_lifter_and_bad_input_is_refused(scene):
    _, _, guess, guess_trajectory, keypoints, _ = scene
    nothing = np.zeros((len(guess), COCO17.num_joints))
    result = refine(guess, guess_trajectory, keypoints, nothing, fps=FPS)
    np.testing.assert_allclose(result.joints, guess, atol=1e-9)
    np.testing.assert_allclose(result.trajectory, guess_trajectory, atol=1e-9)
    assert np.isnan(result.error_before) and np.isnan(reprojection_error(guess, keypoints, nothing))
    with pytest.raises(ValueError, match="keypoints"):
        refine(guess, guess_trajectory, keypoints[:, :12], nothing, fps=FPS)
    with pytest.raises(ValueError, match="fps"):
        refine(guess, guess_trajectory, keypoints, nothing, fps=0.0)
    with pytest.raises(ValueError, match="noise"):
        RefineSettings(noise=0.0)


def test_a_single_frame_and_a_root_behind_the_camera_do_not_fail(scene):
    _, _, guess, guess_trajectory, keypoints, confidence = scene
    one = refine(guess[:1], guess_trajectory[:1], keypoints[:1], confidence[:1], fps=FPS)
    assert np.isfinite(one.joints).all()
    behind = guess_trajectory.copy()
    behind[:10, 2] = -1.0
    result = refine(guess, behind, keypoints, confidence, fps=FPS)
    assert np.isfinite(result.joints).all() and np.isfinite(result.trajectory).all()

"""World alignment: real motion seen by a tilted, rolled, turned camera comes back upright on the floor."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from blender_vp3d.core.cleanup.world import CAMERA_TO_ZUP, DEFAULT_FLOOR_PRIOR_M, WorldAlignment, align_to_world
from blender_vp3d.core.lift.camera import Intrinsics, normalized_to_pixels
from blender_vp3d.core.lift.lifter import Lifter
from blender_vp3d.core.rotations import axis_rotation
from blender_vp3d.core.skeleton import H36M17
from blender_vp3d.core.training.evaluate import FOCAL_PX, IMAGE_SIZE
from blender_vp3d.core.training.mocap import cmu
from blender_vp3d.core.training.synthetic import WORLD_UP, SyntheticGenerator

BANDAI_ANKLE_HEIGHT = 0.1174  # Bandai's ankle joints stand this far above its floor (y = 0)
J = {name: i for i, name in enumerate(H36M17.joint_names)}


def z_up(joints_y_up: np.ndarray) -> np.ndarray:
    j = np.asarray(joints_y_up, dtype=np.float64)
    return np.stack([j[..., 0], -j[..., 2], j[..., 1]], axis=-1)


def real_clip(bandai_split, action: str) -> np.ndarray:
    _, validation = bandai_split
    return z_up(next(c for c in validation if c.action == action and c.num_frames >= 120).joints)


def film(world: np.ndarray, *, pitch_deg: float, roll_deg: float, yaw_deg: float, camera: np.ndarray):
    """What a lifter would return for ``world`` seen by a camera at ``camera`` (camera -> world rotation R)."""
    rotation = (axis_rotation("Z", np.float64(math.radians(yaw_deg)))
                @ axis_rotation("Y", np.float64(math.radians(roll_deg)))
                @ axis_rotation("X", np.float64(math.radians(-pitch_deg))) @ CAMERA_TO_ZUP)
    points = (world - camera) @ rotation  # R^T (p - c)
    return points - points[:, :1], points[:, 0], rotation


def facing_error_deg(joints: np.ndarray, target: np.ndarray) -> float:
    left = (joints[:5, J["left_hip"]] - joints[:5, J["right_hip"]]).mean(axis=0)
    forward = np.cross(left, [0.0, 0.0, 1.0])[:2]
    forward /= np.linalg.norm(forward)
    return math.degrees(math.acos(float(np.clip(forward @ target, -1.0, 1.0))))


@pytest.mark.parametrize("action", ["walk", "walk-turn-left", "wave-both-hands"])
def test_alignment_recovers_up_floor_and_facing(bandai_split, action):
    truth = real_clip(bandai_split, action)
    rng = np.random.default_rng(0)
    noisy = truth + rng.normal(scale=0.005, size=truth.shape)
    joints, trajectory, rotation = film(noisy, pitch_deg=18.0, roll_deg=-5.0, yaw_deg=40.0,
                                        camera=truth[0, 0] + np.array([1.0, -4.5, 0.6]))
    # Exact 3D: the floor points are trustworthy from a few centimetres of spread (the default allows for
    # the lifter's trajectory errors).
    result = align_to_world(joints, trajectory, face_viewer=True, ankle_height_m=BANDAI_ANKLE_HEIGHT,
                            floor_prior_m=0.05)
    alignment = result.alignment

    up_error = math.degrees(math.acos(float(np.clip(alignment.up_camera @ (rotation.T @ [0, 0, 1.0]), -1, 1))))
    # A person standing upright is not exactly plumb from ankles to thorax: a few degrees remain where the
    # floor cannot decide (waving on the spot), as over held-out mocap (benchmarks/world_alignment.py, truth).
    assert up_error < 3.0
    assert alignment.pitch_deg == pytest.approx(18.0, abs=3.0)
    # heights match the truth's everywhere (floor at 0 and no tilt along the path)
    lower_ankle = result.joints[:, [J["left_ankle"], J["right_ankle"]], 2].min(axis=1)
    planted = truth[:, [J["left_ankle"], J["right_ankle"]], 2].min(axis=1) < BANDAI_ANKLE_HEIGHT + 0.002
    floor_error = lower_ankle[planted] - BANDAI_ANKLE_HEIGHT
    assert abs(np.median(floor_error)) < 0.02
    assert np.percentile(np.abs(floor_error), 90) < 0.03
    assert np.abs(result.joints[..., 2] - truth[..., 2]).mean() < 0.02
    # facing -Y in the first frames, first pelvis above the origin
    assert facing_error_deg(result.joints, np.array([0.0, -1.0])) < 10.0
    np.testing.assert_allclose(result.joints[0, 0, :2], 0.0, atol=1e-9)
    # the alignment reproduces the result, and the trajectory is the pelvis
    np.testing.assert_allclose(alignment.apply(joints + trajectory[:, None]), result.joints, atol=1e-9)
    np.testing.assert_allclose(result.trajectory, result.joints[:, 0])
    # the motion is the truth up to a turn about Z and a shift: distances are preserved
    d_result = np.linalg.norm(result.joints[:, 3] - result.joints[:, 10], axis=-1)
    d_truth = np.linalg.norm(noisy[:, 3] - noisy[:, 10], axis=-1)
    np.testing.assert_allclose(d_result, d_truth, atol=1e-9)


def test_default_yaw_keeps_the_cameras_view_and_places_the_camera(bandai_split):
    truth = real_clip(bandai_split, "walk")
    camera = truth[0, 0] + np.array([0.5, -5.0, 0.9])
    joints, trajectory, _ = film(truth, pitch_deg=10.0, roll_deg=3.0, yaw_deg=-70.0, camera=camera)
    result = align_to_world(joints, trajectory, center_subject=False, ankle_height_m=BANDAI_ANKLE_HEIGHT)
    alignment = result.alignment
    forward = alignment.rotation @ np.array([0.0, 0.0, 1.0])
    assert abs(forward[0]) < 1e-9 and forward[1] > 0.9               # looks along +Y, pitched down
    assert forward[2] == pytest.approx(-math.sin(math.radians(10.0)), abs=0.03)
    np.testing.assert_allclose(alignment.translation[:2], 0.0, atol=1e-12)  # camera above the origin
    assert alignment.translation[2] == pytest.approx(camera[2], abs=0.03)    # at its true height
    matrix = alignment.camera_matrix_world()
    np.testing.assert_allclose(matrix[:3, 3], alignment.translation)
    np.testing.assert_allclose(-matrix[:3, 2], forward)                      # Blender cameras look down -Z
    np.testing.assert_allclose(np.linalg.det(matrix[:3, :3]), 1.0)


def test_subject_height_in_place_and_serialisation(bandai_split):
    truth = real_clip(bandai_split, "walk")
    joints, trajectory, _ = film(truth, pitch_deg=5.0, roll_deg=0.0, yaw_deg=0.0,
                                 camera=truth[0, 0] + np.array([0.0, -6.0, 0.5]))
    plain = align_to_world(joints, trajectory, ankle_height_m=BANDAI_ANKLE_HEIGHT)
    tall = align_to_world(joints, trajectory, subject_height_m=1.85, ankle_height_m=BANDAI_ANKLE_HEIGHT)
    measured = np.percentile(tall.joints[:, J["head_top"], 2], 90)  # floor at 0: the head top's height
    assert measured == pytest.approx(1.85, abs=0.02)
    plain_height = np.percentile(plain.joints[:, J["head_top"], 2], 90)   # the metric result's own height
    assert tall.alignment.scale == pytest.approx(1.85 / plain_height, rel=0.02)
    thigh = lambda j: np.linalg.norm(j[:, 2] - j[:, 1], axis=-1)  # noqa: E731
    np.testing.assert_allclose(thigh(tall.joints), tall.alignment.scale * thigh(plain.joints), rtol=1e-9)

    still = align_to_world(joints, trajectory, in_place=True, ankle_height_m=BANDAI_ANKLE_HEIGHT)
    assert np.ptp(plain.joints[:, 0, :2], axis=0).max() > 2.0               # the walk covers metres
    np.testing.assert_allclose(still.joints[:, 0, :2] - still.joints[:1, 0, :2], 0.0, atol=1e-12)
    np.testing.assert_allclose(still.joints[..., 2], plain.joints[..., 2])
    np.testing.assert_allclose(still.joints - still.joints[:, :1], plain.joints - plain.joints[:, :1], atol=1e-12)
    assert still.alignment.in_place

    restored = WorldAlignment.from_dict(json.loads(json.dumps(tall.alignment.to_dict())))
    np.testing.assert_allclose(restored.apply(joints + trajectory[:, None]), tall.joints, atol=1e-12)
    assert restored.facing_deg == tall.alignment.facing_deg and restored.scale == tall.alignment.scale


def test_default_floor_prior_allows_for_the_lifters_trajectory_errors(bandai_split):
    """On held-out mocap (CMU subjects, every 10th Bandai style clip) through the bundled lifter with detector
    errors, the default prior finds up better than trusting the floor points from a few centimetres of spread,
    which follows the trajectory's errors."""
    validation = cmu.load_split()[1] + bandai_split[1][::10]
    lifter = Lifter.load()
    intrinsics = Intrinsics.default(*IMAGE_SIZE, focal_px=FOCAL_PX)
    errors: dict[float, list[float]] = {0.05: [], DEFAULT_FLOOR_PRIOR_M: []}
    for index, clip in enumerate(validation):
        batch = SyntheticGenerator(seed=index).batch(clip.joints[None].astype(np.float64),
                                                     clip.head_axes[None].astype(np.float64), augment_body=False,
                                                     detector_noise=True, flip=False)
        filmed = (batch.poses[0] + batch.trajectory[0][:, None]).astype(np.float64)
        # The camera's rotation, exactly: the clip and its filmed joints differ by it and a shift.
        world = clip.joints.astype(np.float64)
        u, _, vt = np.linalg.svd((world - world.mean(axis=(0, 1))).reshape(-1, 3).T
                                 @ (filmed - filmed.mean(axis=(0, 1))).reshape(-1, 3))
        true_up = (u @ vt).T @ WORLD_UP
        pixels = normalized_to_pixels(batch.inputs[0, :, :, :2].astype(np.float64), intrinsics)
        lifted = lifter.lift(np.concatenate([pixels, batch.inputs[0, :, :, 2:]], axis=-1), image_size=IMAGE_SIZE,
                             focal_px=FOCAL_PX)
        for prior, found in errors.items():
            up = align_to_world(lifted.joints, lifted.trajectory, floor_prior_m=prior).alignment.up_camera
            found.append(math.degrees(math.acos(float(np.clip(up @ true_up, -1.0, 1.0)))))
    default, small = np.mean(errors[DEFAULT_FLOOR_PRIOR_M]), np.mean(errors[0.05])
    print(f"mean up error: default prior {default:.1f} deg, 0.05 m {small:.1f} deg")
    assert default < 8.0
    assert default < 0.8 * small


def test_bad_input_is_refused():
    joints = np.zeros((10, 17, 3))
    with pytest.raises(ValueError, match=r"\(T, 17, 3\)"):
        align_to_world(np.zeros((10, 16, 3)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="trajectory"):
        align_to_world(joints, np.zeros((9, 3)))
    with pytest.raises(ValueError, match="subject_height_m"):
        align_to_world(joints, np.zeros((10, 3)), subject_height_m=12.0)
    with pytest.raises(ValueError, match="NaN"):
        align_to_world(np.full((10, 17, 3), np.nan), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="missing"):
        WorldAlignment.from_dict({"scale": 1.0})

"""Pose metrics: the Human3.6M protocols on hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest

from blender_vp3d.core.rotations import axis_angle_to_matrix
from blender_vp3d.core.training.metrics import (
    MetricReport,
    evaluate,
    evaluate_by_action,
    mpjpe,
    mpjve,
    n_mpjpe,
    p_mpjpe,
    per_frame_errors,
    speed_ratio,
)


def random_clip(rng: np.random.Generator, frames: int = 20, joints: int = 17) -> np.ndarray:
    return rng.normal(0.0, 0.3, (frames, joints, 3))


def test_mpjpe_hand_computed():
    target = np.zeros((2, 2, 3))
    pred = np.array([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]], [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]]])
    # Distances 5, 1, 0, 2.
    assert mpjpe(pred, target) == pytest.approx(2.0)
    np.testing.assert_allclose(per_frame_errors(pred, target), [3.0, 1.0])


def test_p_mpjpe_removes_rotation_scale_and_translation_per_frame():
    rng = np.random.default_rng(0)
    target = random_clip(rng)
    rotation = axis_angle_to_matrix(rng.normal(0.0, 1.0, (len(target), 3)))
    scale = rng.uniform(0.5, 2.0, (len(target), 1, 1))
    shift = rng.normal(0.0, 1.0, (len(target), 1, 3))
    pred = scale * np.einsum("fij,fkj->fki", rotation, target) + shift
    assert mpjpe(pred, target) > 0.1
    assert p_mpjpe(pred, target) == pytest.approx(0.0, abs=1e-9)
    # Works on any number of leading frame axes.
    assert p_mpjpe(pred.reshape(4, 5, 17, 3), target.reshape(4, 5, 17, 3)) == pytest.approx(0.0, abs=1e-9)


def test_p_mpjpe_does_not_excuse_a_mirror_image():
    rng = np.random.default_rng(1)
    target = random_clip(rng, frames=5)
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    assert p_mpjpe(mirrored, target) > 0.01


def test_p_mpjpe_is_not_above_mpjpe_for_noisy_predictions():
    rng = np.random.default_rng(2)
    target = random_clip(rng)
    pred = target + rng.normal(0.0, 0.05, target.shape)
    assert 0.0 < p_mpjpe(pred, target) <= mpjpe(pred, target)


def test_n_mpjpe_removes_scale_only():
    rng = np.random.default_rng(3)
    target = random_clip(rng)
    target -= target[:, :1]
    scale = rng.uniform(0.5, 2.0, (len(target), 1, 1))
    assert mpjpe(scale * target, target) > 0.05
    assert n_mpjpe(scale * target, target) == pytest.approx(0.0, abs=1e-12)
    # It works on root-relative poses: a global translation on top does not matter either.
    assert n_mpjpe(scale * target + [1.0, 2.0, 3.0], target) == pytest.approx(0.0, abs=1e-12)
    # But a rotation is not removed.
    rotation = axis_angle_to_matrix(np.array([0.0, 0.5, 0.0]))
    assert n_mpjpe(target @ rotation.T, target) > 0.05


def test_mpjve_of_a_constant_offset_is_zero():
    rng = np.random.default_rng(4)
    target = random_clip(rng)
    pred = target + np.array([0.1, -0.2, 0.3])
    assert mpjpe(pred, target) > 0.3
    assert mpjve(pred, target) == pytest.approx(0.0, abs=1e-12)


def test_mpjve_hand_computed_and_axis():
    target = np.zeros((3, 1, 3))
    pred = np.array([[[0.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]]])
    # Velocities (1, 0, 0) and (0, 0, 0): mean error 0.5.
    assert mpjve(pred, target) == pytest.approx(0.5)
    batched = np.stack([pred, pred])  # (2, 3, 1, 3): time on axis 1
    assert mpjve(batched, np.zeros_like(batched), axis=1) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="axis"):
        mpjve(pred, target, axis=1)  # the joint axis is not a time axis


def test_invalid_inputs_are_rejected():
    good = np.zeros((4, 17, 3))
    with pytest.raises(ValueError, match="shape"):
        mpjpe(good, np.zeros((4, 16, 3)))
    with pytest.raises(ValueError, match=r"\(\.\.\., J, 3\)"):
        mpjpe(np.zeros((4, 17, 2)), np.zeros((4, 17, 2)))
    with pytest.raises(ValueError, match="2 frames"):
        mpjve(good[:1], good[:1])
    bad = good.copy()
    bad[2, 3, 1] = np.nan
    for metric in (mpjpe, p_mpjpe, n_mpjpe, mpjve, per_frame_errors):
        with pytest.raises(ValueError, match="NaN"):
            metric(bad, good)
        with pytest.raises(ValueError, match="NaN"):
            metric(good, bad)


def test_evaluate_reports_everything():
    rng = np.random.default_rng(5)
    target = random_clip(rng)
    pred = target + rng.normal(0.0, 0.02, target.shape)
    report = evaluate(pred, target)
    assert report.frames == len(target)
    assert report.mpjpe == pytest.approx(mpjpe(pred, target))
    assert report.p_mpjpe == pytest.approx(p_mpjpe(pred, target))
    assert report.n_mpjpe == pytest.approx(n_mpjpe(pred, target))
    assert report.mpjve == pytest.approx(mpjve(pred, target))
    assert report.speed_ratio == pytest.approx(speed_ratio(pred, target))
    assert report.to_dict() == {
        "mpjpe": report.mpjpe, "p_mpjpe": report.p_mpjpe, "n_mpjpe": report.n_mpjpe, "mpjve": report.mpjve,
        "frames": report.frames, "speed_ratio": report.speed_ratio,
    }
    with pytest.raises(ValueError, match=r"\(T, J, 3\)"):
        evaluate(pred[None], target[None])


def test_speed_ratio_sees_damped_and_jittery_motion():
    rng = np.random.default_rng(7)
    target = random_clip(rng, 60)
    mean_pose = target.mean(axis=0, keepdims=True)
    damped = mean_pose + 0.5 * (target - mean_pose)       # half way to the mean pose: half the speed
    assert speed_ratio(damped, target) == pytest.approx(0.5, rel=1e-6)
    assert speed_ratio(target + 5.0, target) == pytest.approx(1.0)  # a constant offset moves nothing
    jitter = target + rng.normal(0.0, 0.05, target.shape)
    assert speed_ratio(jitter, target) > 1.0


def test_evaluate_by_action_weights_frames():
    rng = np.random.default_rng(6)
    # Walking: 10 frames off by 1 cm, then 30 frames off by 3 cm. Sitting: 20 frames off by 2 cm.
    walk_a, walk_b, sit = random_clip(rng, 10), random_clip(rng, 30), random_clip(rng, 20)
    offset = np.array([1.0, 0.0, 0.0])
    clips = [
        ("walking", walk_a + 0.01 * offset, walk_a),
        ("sitting", sit + 0.02 * offset, sit),
        ("walking", walk_b + 0.03 * offset, walk_b),
    ]
    reports = evaluate_by_action(clips)
    assert list(reports) == ["walking", "sitting", "overall"]
    assert isinstance(reports["walking"], MetricReport)
    assert reports["walking"].frames == 40
    assert reports["walking"].mpjpe == pytest.approx((10 * 0.01 + 30 * 0.03) / 40)  # not the clip mean 0.02
    assert reports["sitting"].frames == 20
    assert reports["sitting"].mpjpe == pytest.approx(0.02)
    assert reports["overall"].frames == 60
    assert reports["overall"].mpjpe == pytest.approx((10 * 0.01 + 20 * 0.02 + 30 * 0.03) / 60)
    # Constant offsets: no velocity error, and none made up across clip borders.
    for report in reports.values():
        assert report.mpjve == pytest.approx(0.0, abs=1e-12)
    # MPJVE of noisy clips: per clip, frame-weighted.
    noisy = [(name, t + rng.normal(0.0, 0.01, t.shape), t) for name, _, t in clips]
    per_clip = [evaluate(p, t) for _, p, t in noisy]
    expected = sum(r.mpjve * r.frames for r in per_clip) / 60
    assert evaluate_by_action(noisy)["overall"].mpjve == pytest.approx(expected)


def test_evaluate_by_action_rejects_empty_and_reserved_names():
    with pytest.raises(ValueError, match="no clips"):
        evaluate_by_action([])
    clip = np.zeros((3, 17, 3))
    with pytest.raises(ValueError, match="overall"):
        evaluate_by_action([("overall", clip, clip)])

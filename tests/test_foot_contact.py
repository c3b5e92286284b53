"""Foot contacts and foot locking on real walks and runs (Bandai ground truth, turned Z-up)."""

from __future__ import annotations

import numpy as np
import pytest

from blender_vp3d.core.cleanup.foot_contact import (
    LEFT,
    LEGS,
    RIGHT,
    ContactSettings,
    contact_intervals,
    detect_contacts,
    lock_feet,
    skating_speed,
)
from blender_vp3d.core.lift.resampling import resample
from blender_vp3d.core.skeleton import leg_length

FPS = 30.0


def z_up(joints_y_up: np.ndarray) -> np.ndarray:
    """Bandai's Y-up world to the Z-up world: (x, y, z) -> (x, -z, y)."""
    j = np.asarray(joints_y_up, dtype=np.float64)
    return np.stack([j[..., 0], -j[..., 2], j[..., 1]], axis=-1)


def clip(bandai_split, action: str, min_frames: int = 150) -> np.ndarray:
    _, validation = bandai_split
    return z_up(next(c for c in validation if c.action == action and c.num_frames >= min_frames).joints)


def with_skating(joints: np.ndarray, contacts: np.ndarray, rng: np.random.Generator,
                 speed_m_s: float = 0.3) -> np.ndarray:
    """Slide the planted ankles (and half as much the knees) by a smooth random drift during contacts."""
    frames = len(joints)
    noisy = joints.copy()
    kernel = np.exp(-0.5 * (np.arange(-12, 13) / 4.0) ** 2)
    velocity = np.stack([np.convolve(rng.normal(size=frames + 24), kernel, mode="valid") for _ in range(2)], -1)
    velocity *= speed_m_s / np.sqrt(np.mean(np.sum(velocity**2, axis=-1)))
    for foot in (LEFT, RIGHT):
        _, knee, ankle = LEGS[foot]
        for start, end in contact_intervals(contacts[:, foot]):
            slide = np.cumsum(velocity[start:end], axis=0) / FPS
            slide -= slide.mean(axis=0)
            noisy[start:end, ankle, :2] += slide
            noisy[start:end, knee, :2] += 0.5 * slide
    return noisy


def test_contacts_of_a_real_walk_alternate_and_cover_the_stances(bandai_split):
    joints = clip(bandai_split, "walk")
    contacts = detect_contacts(joints, fps=FPS)
    assert contacts.shape == (len(joints), 2) and contacts.dtype == bool
    for foot in (LEFT, RIGHT):
        assert 0.35 < contacts[:, foot].mean() < 0.65
        assert len(contact_intervals(contacts[:, foot])) >= 3
    assert contacts.any(axis=1).mean() > 0.9          # walking: nearly always a foot on the ground
    # contacts are where the ankle is low and nearly still, swings where it moves fast
    ankles = joints[:, [LEGS[LEFT][2], LEGS[RIGHT][2]]]
    speed = np.linalg.norm(np.gradient(ankles, axis=0), axis=-1) * FPS
    assert np.median(speed[contacts]) < 0.3 < 1.5 < np.median(speed[~contacts])
    # starts alternate between the feet
    starts = sorted((s, foot) for foot in (LEFT, RIGHT) for s, _ in contact_intervals(contacts[:, foot]) if s > 0)
    feet = [foot for _, foot in starts]
    assert sum(a != b for a, b in zip(feet, feet[1:])) >= len(feet) - 2


def test_contact_thresholds_scale_with_subject_size_and_frame_rate(bandai_split):
    joints = clip(bandai_split, "walk")
    contacts = detect_contacts(joints, fps=FPS)
    np.testing.assert_array_equal(detect_contacts(1.3 * joints, fps=FPS), contacts)
    fast = detect_contacts(resample(joints, FPS, 2 * FPS), fps=2 * FPS)
    assert abs(fast.mean() - contacts.mean()) < 0.05


def test_runs_have_short_contacts_and_flight(bandai_split):
    contacts = detect_contacts(clip(bandai_split, "run", min_frames=60), fps=FPS)
    assert 0.05 < contacts.mean() < 0.4
    assert (~contacts.any(axis=1)).mean() > 0.3      # flight phases
    assert all(end - start >= 3 for foot in (0, 1) for start, end in contact_intervals(contacts[:, foot]))


def test_locking_removes_skating_and_leaves_swings_alone(bandai_split):
    truth = clip(bandai_split, "walk")
    true_contacts = detect_contacts(truth, fps=FPS)
    noisy = with_skating(truth, true_contacts, np.random.default_rng(0))
    contacts = detect_contacts(noisy, fps=FPS)
    assert (contacts == true_contacts).mean() > 0.9
    result = lock_feet(noisy, contacts, fps=FPS, blend_s=0.1)
    before = skating_speed(noisy, true_contacts, fps=FPS)
    after = skating_speed(result.joints, true_contacts, fps=FPS)
    assert before > 0.2
    assert after < 0.2 * before                       # > 80% less sliding during contacts
    assert result.skating_before == pytest.approx(skating_speed(noisy, contacts, fps=FPS))
    assert result.skating_after < 0.05 * result.skating_before
    # only knees and ankles move, and nothing at all farther than the blend from a contact
    changed = np.abs(result.joints - noisy).max(axis=(1, 2)) > 0
    unchanged_joints = [j for j in range(17) if j not in (LEGS[LEFT][1], LEGS[LEFT][2], LEGS[RIGHT][1], LEGS[RIGHT][2])]
    np.testing.assert_array_equal(result.joints[:, unchanged_joints], noisy[:, unchanged_joints])
    blend = 3
    near = np.zeros(len(truth), dtype=bool)
    for foot in (LEFT, RIGHT):
        for start, end in contact_intervals(contacts[:, foot]):
            near[max(start - blend, 0) : end + blend] = True
    assert not changed[~near].any()
    # swing frames inside the blend move by less than the correction at the contact's end, and little overall
    for foot in (LEFT, RIGHT):
        ankle = LEGS[foot][2]
        moved = np.linalg.norm(result.joints[:, ankle] - noisy[:, ankle], axis=-1)
        for start, end in contact_intervals(contacts[:, foot]):
            for edge, outside in ((start, range(max(start - blend, 0), start)), (end - 1, range(end, end + blend))):
                outside = [t for t in outside if t < len(truth) and not contacts[t, foot]]
                assert all(moved[t] < moved[edge] + 1e-9 for t in outside)
        assert moved[~contacts[:, foot]].mean() < 0.01


def test_ik_keeps_bone_lengths_and_the_leg_plane(bandai_split):
    truth = clip(bandai_split, "walk")
    contacts = detect_contacts(truth, fps=FPS)
    noisy = with_skating(truth, contacts, np.random.default_rng(1), speed_m_s=0.2)
    out = lock_feet(noisy, contacts, fps=FPS, pin="first").joints
    for foot in (LEFT, RIGHT):
        hip, knee, ankle = LEGS[foot]
        for a, b in ((hip, knee), (knee, ankle)):
            np.testing.assert_allclose(np.linalg.norm(out[:, b] - out[:, a], axis=-1),
                                       np.linalg.norm(noisy[:, b] - noisy[:, a], axis=-1), atol=1e-9)
        # the new knee lies in the plane of hip, new ankle and old knee
        normal = np.cross(out[:, ankle] - out[:, hip], noisy[:, knee] - out[:, hip])
        normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
        assert np.abs(np.sum((out[:, knee] - out[:, hip]) * normal, axis=-1)).max() < 1e-9
        # pinned at the first frame of every contact: the ankle does not move horizontally inside it
        for start, end in contact_intervals(contacts[:, foot]):
            drift = np.linalg.norm(out[start:end, ankle, :2] - noisy[start, ankle, :2], axis=-1)
            assert drift.max() < 1e-9


def test_helpers_and_errors(bandai_split):
    joints = clip(bandai_split, "walk")
    assert 0.7 < leg_length(joints) < 0.9
    assert contact_intervals(np.array([True, True, False, True, False, False, True])) == [(0, 2), (3, 4), (6, 7)]
    assert contact_intervals(np.zeros(4, dtype=bool)) == []
    no_contacts = np.zeros((len(joints), 2), dtype=bool)
    assert skating_speed(joints, no_contacts, fps=FPS) == 0.0
    np.testing.assert_array_equal(lock_feet(joints, no_contacts, fps=FPS).joints, joints)
    with pytest.raises(ValueError, match=r"\(T, 17, 3\)"):
        detect_contacts(joints[:, :16], fps=FPS)
    with pytest.raises(ValueError, match="fps"):
        detect_contacts(joints, fps=0)
    with pytest.raises(ValueError, match="bool"):
        lock_feet(joints, no_contacts.astype(int), fps=FPS)
    with pytest.raises(ValueError, match="pin"):
        lock_feet(joints, no_contacts, fps=FPS, pin="last")
    with pytest.raises(ValueError, match="hysteresis"):
        ContactSettings(height_on=0.2, height_off=0.1)
    with pytest.raises(ValueError, match="NaN"):
        detect_contacts(np.full((5, 17, 3), np.nan), fps=FPS)


def test_a_pin_out_of_reach_is_released_with_a_blend_not_slid(bandai_split):
    """A foot marked planted for the whole of a walk cannot stay on one spot: the lock releases the frames
    the leg cannot reach, keeps the rest pinned, and eases the ankle out instead of popping it."""
    truth = clip(bandai_split, "walk")[:90]
    contacts = np.zeros((len(truth), 2), dtype=bool)
    contacts[:, LEFT] = True                                  # wrong on purpose: the body walks away
    result = lock_feet(truth, contacts, fps=FPS)
    kept = result.contacts
    assert result.released_frames > 0 and kept[:, LEFT].sum() < len(truth)
    assert not (kept & ~contacts).any()
    ankle = LEGS[LEFT][2]
    speed = np.linalg.norm(np.diff(result.joints[:, ankle, :2], axis=0), axis=-1) * FPS
    both = kept[1:, LEFT] & kept[:-1, LEFT]
    assert both.any() and speed[both].max() < 0.02          # m/s: planted means planted
    # no pop: the ankle never moves much faster than the walk's own fastest ankle
    own = np.linalg.norm(np.diff(truth[:, ankle, :2], axis=0), axis=-1).max() * FPS
    assert speed.max() < 2.0 * own, (speed.max(), own)
    assert result.skating_after < 0.02

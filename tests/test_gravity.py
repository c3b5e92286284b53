"""The learned up prior: it ships, it is CMU-only, and on held-out mocap it finds up better than the body axis."""

from __future__ import annotations

import numpy as np
import pytest

from blender_vp3d.core.cleanup.gravity import FILE_NAME, UpEstimator, bundled_up_estimator
from blender_vp3d.core.lift.bundled import bundled_dirs
from blender_vp3d.core.lift.lifter import Lifter
from blender_vp3d.core.training.mocap import cmu
from blender_vp3d.core.training.up_estimator import film, train_estimator, up_errors


@pytest.fixture(scope="module")
def estimator() -> UpEstimator:
    found = bundled_up_estimator()
    assert found is not None, f"no {FILE_NAME} in {[str(d) for d in bundled_dirs()]}"
    return found


def test_bundled_estimator_is_trained_on_cmu_alone(estimator):
    assert estimator.metadata["sources"] == ["cmu"]
    licence = estimator.metadata["licence"]
    assert licence.startswith("Commercial use allowed.") and "non-commercial" not in licence.lower()
    assert estimator.metadata["lifter"] == "cmu"   # learned from the commercially usable lifter's output


def test_learned_up_beats_the_body_axis_on_held_out_subjects(estimator, bandai_split):
    """CMU validation subjects and every 10th Bandai validation clip (another studio), each through one level
    random camera with detector errors, lifted by the bundled default lifter (not the one it learned from)."""
    lifter = Lifter.load()
    for name, clips in (("cmu", cmu.load_split()[1]), ("bandai", bandai_split[1][::10])):
        filmed = film(clips, lifter, views=1, augment=False, seed=3, max_frames=10**9, desc=name)
        body, learned = up_errors(filmed, None), up_errors(filmed, estimator)
        print(f"{name}: mean up error body axis {body.mean():.1f}, learned {learned.mean():.1f} deg")
        assert learned.mean() < body.mean()
        assert np.median(learned) < 6.0


def test_training_round_trip_and_bad_files(tmp_path, estimator):
    clips = cmu.load_split()[1][:2]
    filmed = film(clips, Lifter.load("cmu"), views=1, augment=True, seed=1, max_frames=120, desc="tiny")
    small = train_estimator(filmed, hidden=8, steps=5, batch=32, seed=0)
    path = tmp_path / "up.npz"
    small.save(path)
    loaded = UpEstimator.load(path)
    joints = filmed[0].joints
    np.testing.assert_allclose(loaded.frame_ups(joints), small.frame_ups(joints), atol=1e-5)
    assert path.with_suffix(".json").is_file()

    np.savez(tmp_path / "other.npz", metadata=np.array('{"format": "something else", "format_version": 1}'))
    with pytest.raises(ValueError, match="not a blender_vp3d.up_estimator file"):
        UpEstimator.load(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="do not chain"):
        UpEstimator((np.zeros((50, 3)),), (np.zeros(3),), {})
    with pytest.raises(ValueError, match="NaN"):
        UpEstimator((np.full((51, 3), np.nan),), (np.zeros(3),), {})
    with pytest.raises(ValueError, match="output 3"):
        UpEstimator((np.zeros((51, 4)),), (np.zeros(4),), {})

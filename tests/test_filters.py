"""Temporal filters: exactness of Savitzky-Golay, the One Euro filter against the paper, and jitter on real motion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blender_vp3d.core.cleanup.filters import (
    DEFAULT_METHOD,
    DEFAULT_PARAMS,
    jitter_and_lag,
    one_euro,
    savgol,
    savgol_coefficients,
    smooth,
    window_frames,
)
from blender_vp3d.core.rotations import axis_angle_to_matrix


def walk_clip(bandai_split) -> np.ndarray:
    _, validation = bandai_split
    return next(c for c in validation if c.action == "walk" and c.num_frames > 150).joints.astype(np.float64)


def lifter_like_noise(rng: np.random.Generator, shape, white=0.004, drift=0.004) -> np.ndarray:
    slow = rng.normal(size=(shape[0] + 8, *shape[1:]))
    kernel = np.ones(9) / 3.0
    slow = np.apply_along_axis(lambda s: np.convolve(s, kernel, mode="valid"), 0, slow)
    return white * rng.normal(size=shape) + drift * slow


@pytest.mark.parametrize("polyorder", [0, 1, 2, 3])
@pytest.mark.parametrize("window", [5, 7, 11])
def test_savgol_preserves_polynomials_of_its_order_everywhere_including_the_ends(window, polyorder):
    if polyorder >= window:
        pytest.skip("order must be below the window")
    t = np.linspace(-1.3, 2.1, 40)
    rng = np.random.default_rng(window * 10 + polyorder)
    coefficients = rng.normal(size=(polyorder + 1, 4, 3))
    signal = sum(c * t[:, None, None] ** k for k, c in enumerate(coefficients))
    np.testing.assert_allclose(savgol(signal, window=window, polyorder=polyorder), signal, atol=1e-10)


def test_savgol_equals_a_local_least_squares_fit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    window, order = 9, 3
    out = savgol(x, window=window, polyorder=order)
    half = window // 2
    for t in range(len(x)):
        start = min(max(t - half, 0), len(x) - window)  # the ends use the first/last full window
        positions = np.arange(start, start + window)
        fit = np.polyfit(positions, x[start : start + window], order)
        assert out[t] == pytest.approx(np.polyval(fit, t), abs=1e-9)
    # the interior kernel is the classic symmetric one and sums to 1
    kernel = savgol_coefficients(window, order)[half]
    np.testing.assert_allclose(kernel, kernel[::-1], atol=1e-12)
    assert kernel.sum() == pytest.approx(1.0)


def test_savgol_on_short_clips_shrinks_the_window_and_never_fails():
    x = np.arange(6.0) ** 2
    np.testing.assert_allclose(savgol(x, window=11, polyorder=2), x, atol=1e-9)  # window 5 fits a parabola
    np.testing.assert_allclose(savgol(x[:2], window=7, polyorder=3), x[:2])
    assert savgol(np.zeros((0, 17, 3)), window=7, polyorder=2).shape == (0, 17, 3)


@pytest.mark.parametrize("window, order, message", [(6, 2, "odd"), (0, 0, "odd"), (5, 5, "smaller"), (5, -1, ">= 0")])
def test_savgol_rejects_bad_settings(window, order, message):
    with pytest.raises(ValueError, match=message):
        savgol(np.zeros(10), window=window, polyorder=order)


def _one_euro_reference(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float) -> np.ndarray:
    """Scalar 1-euro filter, line by line from Casiez et al. (2012), Algorithm 1."""

    def alpha(cutoff):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * fps)

    out, x_prev, dx_prev = [x[0]], x[0], 0.0
    for value in x[1:]:
        dx = (value - x_prev) * fps
        dx_hat = alpha(d_cutoff) * dx + (1 - alpha(d_cutoff)) * dx_prev
        cutoff = min_cutoff + beta * abs(dx_hat)
        x_hat = alpha(cutoff) * value + (1 - alpha(cutoff)) * x_prev
        out.append(x_hat)
        x_prev, dx_prev = x_hat, dx_hat
    return np.array(out)


def test_one_euro_matches_the_papers_algorithm_on_scalar_signals():
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(size=200)) * 0.01
    ours = one_euro(x, fps=30.0, min_cutoff=1.2, beta=0.7, d_cutoff=1.0)
    np.testing.assert_allclose(ours, _one_euro_reference(x, 30.0, 1.2, 0.7, 1.0), rtol=1e-12, atol=1e-12)


def test_one_euro_treats_points_independently_of_axis_orientation(bandai_split):
    joints = walk_clip(bandai_split)[:80]
    rotation = axis_angle_to_matrix(np.array([0.3, -1.1, 0.5]))
    filtered = one_euro(joints, fps=30.0, min_cutoff=1.0, beta=2.0)
    filtered_rotated = one_euro(joints @ rotation.T, fps=30.0, min_cutoff=1.0, beta=2.0)
    np.testing.assert_allclose(filtered_rotated, filtered @ rotation.T, atol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    ({"fps": 0.0}, "fps"), ({"fps": 30.0, "min_cutoff": -1.0}, "min_cutoff"),
    ({"fps": 30.0, "beta": float("nan")}, "beta"), ({"fps": 30.0, "d_cutoff": 0.0}, "d_cutoff"),
])
def test_one_euro_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        one_euro(np.zeros((5, 3)), **kwargs)


def test_filters_reduce_jitter_on_noisy_real_motion(bandai_split):
    truth = walk_clip(bandai_split)
    noisy = truth + lifter_like_noise(np.random.default_rng(2), truth.shape)
    before = jitter_and_lag(noisy, truth)
    one = jitter_and_lag(smooth(noisy, "one_euro", fps=30.0), truth)
    default = jitter_and_lag(smooth(noisy, fps=30.0), truth)
    assert one.velocity_error < 0.85 * before.velocity_error
    assert one.acceleration_error < 0.7 * before.acceleration_error
    assert default.velocity_error < 0.75 * before.velocity_error
    assert default.acceleration_error < 0.5 * before.acceleration_error
    assert abs(default.lag_frames) < 0.5          # symmetric: no lag
    assert 0.0 < one.lag_frames < 1.5              # causal: late, but by little
    assert default.fast_error < 1.1 * before.fast_error


def test_jitter_and_lag_measures_a_known_delay(bandai_split):
    truth = walk_clip(bandai_split)
    delayed = np.concatenate([np.repeat(truth[:1], 3, axis=0), truth[:-3]])
    result = jitter_and_lag(delayed, truth)
    assert result.lag_frames == pytest.approx(3.0, abs=0.2)
    exact = jitter_and_lag(truth, truth)
    assert exact.position_error == exact.velocity_error == exact.acceleration_error == 0.0
    assert exact.lag_frames == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="shape"):
        jitter_and_lag(truth[:10], truth[:11])


def test_smooth_dispatches_with_defaults_and_checks_parameters():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 17, 3))
    assert DEFAULT_METHOD in DEFAULT_PARAMS
    np.testing.assert_array_equal(smooth(x, "none", fps=30.0), x)
    window = window_frames(DEFAULT_PARAMS["savgol"]["window_s"], 30.0)
    np.testing.assert_allclose(smooth(x, "savgol", fps=30.0),
                               savgol(x, window=window, polyorder=int(DEFAULT_PARAMS["savgol"]["polyorder"])))
    np.testing.assert_allclose(smooth(x, "savgol", fps=30.0, window=5, polyorder=2), savgol(x, window=5, polyorder=2))
    np.testing.assert_allclose(smooth(x, "one_euro", fps=30.0, beta=0.0),
                               one_euro(x, fps=30.0, **{**DEFAULT_PARAMS["one_euro"], "beta": 0.0}))
    assert window_frames(0.23, 30.0) == 7 and window_frames(0.23, 60.0) == 13 and window_frames(0.01, 30.0) == 1
    with pytest.raises(ValueError, match="unknown smoothing method"):
        smooth(x, "kalman", fps=30.0)
    with pytest.raises(ValueError, match="unknown parameter"):
        smooth(x, "one_euro", fps=30.0, window=5)
    with pytest.raises(ValueError, match="not both"):
        smooth(x, "savgol", fps=30.0, window=5, window_s=0.2)
    with pytest.raises(ValueError, match="non-finite"):
        smooth(np.full((5, 3), np.nan), "savgol", fps=30.0)

"""Temporal smoothing of lifted joints, and the measurement that chose its default.

The lifter's output jitters from frame to frame (detector noise passes through it) and drifts slowly. Two
classic filters are offered, numpy only (Blender ships no scipy):

* **One Euro** (Casiez, Roussel and Vogel, *1€ Filter: A Simple Speed-based Low-pass Filter for Noisy Input
  in Interactive Systems*, CHI 2012): a causal first-order low-pass whose cutoff rises with speed, so slow
  motion is smoothed hard and fast motion follows quickly. Being causal it always lags a little.
* **Savitzky-Golay** (Savitzky and Golay, *Smoothing and Differentiation of Data by Simplified Least Squares
  Procedures*, Analytical Chemistry 36(8), 1964): each frame becomes the value at its centre of a polynomial
  fitted by least squares to the window around it. It is symmetric, so it has no lag; it needs the whole
  clip, which an offline capture has. The first and last half-windows take the values of the polynomial
  fitted to the first and last full window (not zero padding), so polynomials of the filter's order pass
  through unchanged everywhere.

:func:`smooth` is the one entry point; :func:`jitter_and_lag` measures what a filter did against ground truth.
The default (:data:`DEFAULT_METHOD`, :data:`DEFAULT_PARAMS`) comes from ``benchmarks/filters.py``; see
:data:`DEFAULT_METHOD` for the figures.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import check_positive

logger = logging.getLogger(__name__)

METHODS = ("none", "one_euro", "savgol")

DEFAULT_METHOD = "savgol"
"""Savitzky-Golay, cubic, over 0.23 s (7 frames at 30 fps, 13 at 60): chosen by ``benchmarks/filters.py``.

Measured on the 606 held-out Bandai clips (56,755 frames at 30 fps) with synthetic lifter-like noise: white
3 mm plus 15 mm correlated over 0.1 s, per coordinate, 1.5x on wrists and ankles. Rule, fixed before
measuring: the lowest velocity error (MPJVE) among settings with |lag| under one frame whose error on the
fastest 10% of frames is no worse than unfiltered. Figures in mm (per frame, per frame squared)::

    method    setting                     MPJPE  MPJVE  accel  lag(frames)  fast-motion MPJPE
    none      -                            27.3   9.82  13.34   0.00        27.3
    one_euro  min_cutoff=1 beta=8          29.2   8.15   7.35   0.36        31.6   (best One Euro)
    one_euro  min_cutoff=1 beta=0         133.8  16.88   7.81   2.27       159.4
    savgol    0.17 s (5 frames), cubic     27.0   7.34   5.93   0.00        27.0
    savgol    0.23 s (7 frames), cubic     27.0   7.16   5.09   0.00        27.1   (chosen)
    savgol    0.5 s (15 frames), cubic     30.4  10.63   7.02  -0.19        32.2

One Euro always lags (it is causal) and every setting that smooths much costs error on fast motion; the
symmetric Savitzky-Golay removes most of the frame-to-frame jitter (acceleration error 13.3 -> 5.1) without
lag. The choice holds at 60 fps (0.23 s = 13 frames: MPJVE 8.20 -> 3.79) and with whiter noise (8 mm white +
8 mm correlated: 0.3 s is best, 0.23 s within 0.5 mm/frame of it).
"""

DEFAULT_PARAMS: dict[str, dict[str, float]] = {
    "none": {},
    "one_euro": {"min_cutoff": 1.0, "beta": 8.0, "d_cutoff": 1.0},
    "savgol": {"window_s": 0.23, "polyorder": 3},
}
"""Per-method defaults: the best setting of each method in the same measurement."""


# --------------------------------------------------------------------------------------------- One Euro

def one_euro(x: np.ndarray, *, fps: float, min_cutoff: float = 1.0, beta: float = 0.0,
             d_cutoff: float = 1.0, per_point: bool = True) -> np.ndarray:
    """One Euro filter along axis 0 of ``x`` (T, ...), every other element an independent signal.

    ``min_cutoff`` (Hz) is the cutoff at rest, ``beta`` (1/units) how fast the cutoff rises with speed, and
    ``d_cutoff`` (Hz) the cutoff of the low-pass on the speed itself (Casiez et al. 2012, section 4).
    With ``per_point`` (and ``x.ndim >= 2``) the last axis holds the coordinates of one point: they share
    one cutoff, from the point's speed (the norm of its velocity), so the result does not depend on how the
    axes are oriented. Otherwise every element uses its own speed, as in the paper's scalar filter.
    Returns a new float64 array of the same shape.
    """
    _positive("fps", fps)
    _positive("min_cutoff", min_cutoff)
    _positive("d_cutoff", d_cutoff)
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    x = _check_series(x)
    out = np.empty_like(x)
    if len(x) == 0:
        return out
    period = 1.0 / fps
    alpha_d = _alpha(d_cutoff, period)
    previous = x[0].copy()
    speed_hat = np.zeros_like(x[0])
    out[0] = previous
    vector = per_point and x.ndim >= 2
    for t in range(1, len(x)):
        speed = (x[t] - previous) * fps
        speed_hat = alpha_d * speed + (1.0 - alpha_d) * speed_hat
        magnitude = np.linalg.norm(speed_hat, axis=-1, keepdims=True) if vector else np.abs(speed_hat)
        alpha = _alpha(min_cutoff + beta * magnitude, period)
        previous = alpha * x[t] + (1.0 - alpha) * previous
        out[t] = previous
    return out


def _alpha(cutoff: float | np.ndarray, period: float) -> float | np.ndarray:
    """Smoothing factor of a first-order low-pass with the given cutoff (Hz) at sampling period (s)."""
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / period)


# --------------------------------------------------------------------------------------- Savitzky-Golay

def savgol_coefficients(window: int, polyorder: int) -> np.ndarray:
    """The (window, window) least-squares projection ("hat") matrix of a Savitzky-Golay filter.

    Row ``i`` holds the weights that give, from the ``window`` samples, the value at sample ``i`` of the
    polynomial of degree ``polyorder`` fitted to them. The middle row is the classic convolution kernel;
    the other rows evaluate the fit off-centre, which is how the clip's ends are handled.
    """
    _check_window(window, polyorder)
    positions = np.arange(window, dtype=np.float64) - window // 2
    scale = max(window // 2, 1)  # scaled positions keep the Vandermonde matrix well conditioned
    vander = np.vander(positions / scale, polyorder + 1, increasing=True)
    return vander @ np.linalg.pinv(vander)


def savgol(x: np.ndarray, *, window: int, polyorder: int) -> np.ndarray:
    """Savitzky-Golay smoothing along axis 0 of ``x`` (T, ...).

    ``window`` is odd and larger than ``polyorder``. A clip shorter than the window uses the longest odd
    window that fits; when even that is not longer than ``polyorder``, a polynomial passes through every
    sample and the input is returned unchanged (as a copy). Returns a new float64 array.
    """
    _check_window(window, polyorder)
    x = _check_series(x)
    frames = len(x)
    if frames < window:
        window = frames if frames % 2 else frames - 1
        logger.debug("clip of %d frames: Savitzky-Golay window shortened to %d", frames, window)
    if window <= polyorder or window < 3:
        return x.copy()
    hat = savgol_coefficients(window, polyorder)
    half = window // 2
    out = np.empty_like(x)
    flat = x.reshape(frames, -1)
    windows = np.lib.stride_tricks.sliding_window_view(flat, window, axis=0)  # (T-w+1, N, w)
    out.reshape(frames, -1)[half : frames - half] = windows @ hat[half]
    out.reshape(frames, -1)[:half] = hat[:half] @ flat[:window]
    out.reshape(frames, -1)[frames - half :] = hat[half + 1 :] @ flat[frames - window :]
    return out


def _check_window(window: int, polyorder: int) -> None:
    if not isinstance(window, (int, np.integer)) or window < 1 or window % 2 == 0:
        raise ValueError(f"Savitzky-Golay window must be a positive odd integer, got {window!r}")
    if not isinstance(polyorder, (int, np.integer)) or polyorder < 0:
        raise ValueError(f"Savitzky-Golay polyorder must be an integer >= 0, got {polyorder!r}")
    if polyorder >= window:
        raise ValueError(f"Savitzky-Golay polyorder ({polyorder}) must be smaller than the window ({window})")


def window_frames(window_s: float, fps: float) -> int:
    """The odd number of frames closest to ``window_s`` seconds at ``fps`` (at least 1)."""
    _positive("window_s", window_s)
    _positive("fps", fps)
    frames = window_s * fps
    odd = 2 * int(math.floor((frames - 1.0) / 2.0 + 0.5)) + 1
    return max(odd, 1)


# ------------------------------------------------------------------------------------------ entry point

def smooth(joints: np.ndarray, method: str = DEFAULT_METHOD, *, fps: float, **params: Any) -> np.ndarray:
    """Smooth (T, ...) joint positions along time with ``method`` ("none", "one_euro" or "savgol").

    Parameters not given take :data:`DEFAULT_PARAMS` of that method. One Euro takes ``min_cutoff``,
    ``beta``, ``d_cutoff`` (see :func:`one_euro`). Savitzky-Golay takes ``polyorder`` and either ``window``
    (frames, odd) or ``window_s`` (seconds, turned into the nearest odd number of frames at ``fps``).
    Returns a new array; "none" returns a copy.
    """
    if method not in METHODS:
        raise ValueError(f"unknown smoothing method {method!r}; choose one of {', '.join(METHODS)}")
    _positive("fps", fps)
    if method == "savgol" and "window" in params and "window_s" in params:
        raise ValueError("give the Savitzky-Golay window either in frames (window) or seconds (window_s), not both")
    allowed = set(DEFAULT_PARAMS[method]) | ({"window"} if method == "savgol" else set())
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(sorted(unknown))} for smoothing method {method!r}"
            f" (accepted: {', '.join(sorted(allowed)) or 'none'})"
        )
    options = {**DEFAULT_PARAMS[method], **params}
    if method == "none":
        return _check_series(joints).copy()
    if method == "one_euro":
        return one_euro(joints, fps=fps, min_cutoff=float(options["min_cutoff"]), beta=float(options["beta"]),
                        d_cutoff=float(options["d_cutoff"]))
    window = int(options["window"]) if "window" in params else window_frames(float(options["window_s"]), fps)
    return savgol(joints, window=window, polyorder=int(options["polyorder"]))


# ------------------------------------------------------------------------------------------ measurement

@dataclass(frozen=True)
class JitterLag:
    """How a smoothed clip compares with the truth; lengths in the input's units, times in frames.

    position_error:      mean per-joint position error (MPJPE).
    velocity_error:      MPJPE of first differences (MPJVE, per frame): residual jitter.
    acceleration_error:  MPJPE of second differences (per frame squared): high-frequency jitter.
    lag_frames:          delay of the smoothed motion behind the truth, from the peak of the
                         cross-correlation of their velocities (sub-frame by a parabola through the peak);
                         positive means late.
    fast_error:          MPJPE on the frames where the truth moves fastest (the top ``fast_fraction`` by
                         mean joint speed): what over-smoothing or lag costs on quick motion.
    """

    position_error: float
    velocity_error: float
    acceleration_error: float
    lag_frames: float
    fast_error: float


def jitter_and_lag(estimate: np.ndarray, truth: np.ndarray, *, max_lag: int = 10,
                   fast_fraction: float = 0.1) -> JitterLag:
    """Compare (T, J, 3) estimated joints with the truth; see :class:`JitterLag`."""
    estimate = np.asarray(estimate, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if estimate.shape != truth.shape or estimate.ndim != 3:
        raise ValueError(f"need two (T, J, 3) arrays of one shape, got {estimate.shape} and {truth.shape}")
    frames = len(truth)
    if frames < 3:
        raise ValueError(f"need at least 3 frames to measure jitter, got {frames}")
    if not 0 < fast_fraction <= 1:
        raise ValueError(f"fast_fraction must be in (0, 1], got {fast_fraction}")
    if max_lag < 1:
        raise ValueError(f"max_lag must be >= 1, got {max_lag}")

    def err(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(a - b, axis=-1).mean())

    speed = np.linalg.norm(np.diff(truth, axis=0), axis=-1).mean(axis=-1)
    speed = np.concatenate([speed[:1], speed])  # speed of frame t: motion into it
    fast = speed >= np.quantile(speed, 1.0 - fast_fraction)
    return JitterLag(
        position_error=err(estimate, truth),
        velocity_error=err(np.diff(estimate, axis=0), np.diff(truth, axis=0)),
        acceleration_error=err(np.diff(estimate, 2, axis=0), np.diff(truth, 2, axis=0)),
        lag_frames=_velocity_lag(estimate, truth, min(max_lag, frames - 3)),
        fast_error=err(estimate[fast], truth[fast]),
    )


def _velocity_lag(estimate: np.ndarray, truth: np.ndarray, max_lag: int) -> float:
    """Shift s maximising sum_t v_est[t] . v_true[t - s], refined by a parabola through the peak."""
    v_est = np.diff(estimate, axis=0).reshape(len(estimate) - 1, -1)
    v_true = np.diff(truth, axis=0).reshape(len(truth) - 1, -1)
    v_est = v_est - v_est.mean(axis=0)
    v_true = v_true - v_true.mean(axis=0)
    if max_lag < 1:
        return 0.0
    shifts = np.arange(-max_lag, max_lag + 1)
    n = len(v_est)
    corr = np.empty(len(shifts))
    for i, s in enumerate(shifts):
        if s >= 0:
            a, b = v_est[s:], v_true[: n - s]
        else:
            a, b = v_est[: n + s], v_true[-s:]
        corr[i] = np.sum(a * b) / len(a)
    k = int(np.argmax(corr))
    if 0 < k < len(shifts) - 1:
        left, mid, right = corr[k - 1], corr[k], corr[k + 1]
        curvature = left - 2.0 * mid + right
        offset = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
        return float(shifts[k] + offset)
    return float(shifts[k])


# ------------------------------------------------------------------------------------------ validation

def _positive(name: str, value: float) -> None:
    check_positive(name, value)


def _check_series(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1:
        raise ValueError("need an array with time along axis 0, got a scalar")
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot smooth non-finite values (NaN or inf); fill gaps first")
    return x

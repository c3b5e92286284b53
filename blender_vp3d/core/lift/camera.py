"""Pinhole camera with Brown-Conrady lens distortion (OpenCV's model), in numpy.

The lifter works in undistorted normalised camera coordinates (x/z, y/z), so every 2D detection passes
through the camera's intrinsics first; unless a capture turns refining off, ``refine`` projects the 3D result
back to fit it to the 2D (the reprojection error a capture reports). This module holds those conversions for
the add-on (no torch, no bpy); ``training/camera_torch.py`` mirrors ``project`` in torch.

Conventions:

* camera frame: x right, y down, z forward (OpenCV), metres;
* pixels: continuous coordinates with the image covering ``[0, width] x [0, height]``, so the image centre is
  ``(width / 2, height / 2)``;
* distortion acts on normalised coordinates: with r² = x² + y²,
  ``x' = x (1 + k1 r² + k2 r⁴ + k3 r⁶) + 2 p1 x y + p2 (r² + 2 x²)`` and
  ``y' = y (1 + k1 r² + k2 r⁴ + k3 r⁶) + p1 (r² + 2 y²) + 2 p2 x y``.

NaN coordinates pass through as NaN, so missing detections need no special casing by callers.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..checks import check_positive

#: Default lens when the user knows nothing about the camera: 26 mm equivalent focal length on a 36 mm-wide
#: full frame, the main camera of most phones. Across the long image side this is a field of view of
#: 2 * atan(18 / 26) ≈ 69.4 degrees (≈ 42.2 degrees across the short side of a 16:9 image).
DEFAULT_FOCAL_35MM = 26.0
FULL_FRAME_WIDTH_MM = 36.0
UNDISTORT_TOLERANCE = 1e-6  # normalised units; larger residuals mean the lens model has no inverse there

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intrinsics:
    """Image size, pinhole parameters (pixels) and OpenCV distortion coefficients of one camera."""

    width: int                                          # image size in pixels
    height: int
    fx: float                                           # focal lengths in pixels
    fy: float
    cx: float                                           # principal point in pixels
    cy: float
    radial: tuple[float, float, float] = (0.0, 0.0, 0.0)  # k1, k2, k3
    tangential: tuple[float, float] = (0.0, 0.0)          # p1, p2

    def __post_init__(self) -> None:
        _check_size(self.width, self.height)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        for name in ("fx", "fy"):
            object.__setattr__(self, name, check_positive(f"focal length {name}", float(getattr(self, name))))
        for name in ("cx", "cy"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ValueError(f"principal point {name} must be finite, got {value!r}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "radial", _coefficients("radial (k1, k2, k3)", self.radial, 3))
        object.__setattr__(self, "tangential", _coefficients("tangential (p1, p2)", self.tangential, 2))

    @classmethod
    def default(cls, width: int, height: int, focal_px: float | None = None) -> Intrinsics:
        """Principal point at the image centre, square pixels, no distortion.

        Without ``focal_px`` the focal length is that of :data:`DEFAULT_FOCAL_35MM`:
        ``max(width, height) * DEFAULT_FOCAL_35MM / 36`` pixels.
        """
        _check_size(width, height)
        if focal_px is None:
            focal_px = max(width, height) * DEFAULT_FOCAL_35MM / FULL_FRAME_WIDTH_MM
        return cls(width, height, focal_px, focal_px, width / 2.0, height / 2.0)

    @classmethod
    def from_focal_mm(cls, width: int, height: int, focal_mm: float, sensor_width_mm: float) -> Intrinsics:
        """From a lens focal length and the sensor width, both in mm; the sensor width spans the long side."""
        _check_size(width, height)
        check_positive("focal length (mm)", focal_mm)
        check_positive("sensor width (mm)", sensor_width_mm)
        return cls.default(width, height, max(width, height) * focal_mm / sensor_width_mm)

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float) -> Intrinsics:
        """From the field of view, in degrees, across the long image side."""
        _check_size(width, height)
        if not math.isfinite(fov_deg) or not 0.0 < fov_deg < 180.0:
            raise ValueError(f"field of view must lie strictly between 0 and 180 degrees, got {fov_deg!r}")
        focal = 0.5 * max(width, height) / math.tan(math.radians(fov_deg) / 2.0)
        return cls.default(width, height, focal)

    @property
    def fov_deg(self) -> float:
        """Field of view across the long image side, in degrees (pinhole, ignoring distortion)."""
        if self.width >= self.height:
            return math.degrees(2.0 * math.atan(self.width / (2.0 * self.fx)))
        return math.degrees(2.0 * math.atan(self.height / (2.0 * self.fy)))

    def has_distortion(self) -> bool:
        return any(c != 0.0 for c in self.radial + self.tangential)


def distort(xy_normalized: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Apply the radial and tangential distortion to undistorted normalised coordinates (..., 2)."""
    xy = _as_points(xy_normalized, 2, "normalised coordinates")
    if not intr.has_distortion():
        return xy.copy()
    return brown_conrady(xy, intr.radial, intr.tangential)


def undistort(xy_distorted: np.ndarray, intr: Intrinsics, iterations: int = 10) -> np.ndarray:
    """Invert :func:`distort` on distorted normalised coordinates (..., 2).

    The model has no closed-form inverse. OpenCV's ``undistortPoints`` uses a fixed-point iteration, which
    converges only linearly and is visibly off (tenths of a pixel) in the corners of strongly distorted
    wide-angle images after 10 steps. Here each of the ``iterations`` steps is a Newton step with the analytic
    2x2 Jacobian, started like OpenCV's at the distorted point; it converges quadratically wherever the lens
    model is invertible (inside the radius where the radial factor folds over), and stops early once the
    residual is below 1e-12. Where the Jacobian is singular the step falls back to the fixed-point update.

    Points that no undistorted point distorts onto (beyond the fold of a strong barrel model, where OpenCV
    returns arbitrary values) and points that did not converge to within 1e-6 in normalised units
    (about a thousandth of a pixel) come out as NaN, like missing detections.
    """
    if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    target = _as_points(xy_distorted, 2, "distorted normalised coordinates")
    if not intr.has_distortion():
        return target.copy()
    k1, k2, k3 = intr.radial
    p1, p2 = intr.tangential
    xy = target.copy()
    for _ in range(int(iterations)):
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        factor = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        slope = k1 + r2 * (2.0 * k2 + 3.0 * r2 * k3)  # d factor / d r²
        residual = brown_conrady(xy, intr.radial, intr.tangential) - target
        with np.errstate(invalid="ignore"):
            worst = np.nanmax(np.abs(residual)) if np.isfinite(residual).any() else 0.0
        if worst < 1e-12:
            break
        j_xx = factor + 2.0 * x * x * slope + 2.0 * p1 * y + 6.0 * p2 * x
        j_xy = 2.0 * x * y * slope + 2.0 * p1 * x + 2.0 * p2 * y  # the Jacobian is symmetric
        j_yy = factor + 2.0 * y * y * slope + 6.0 * p1 * y + 2.0 * p2 * x
        det = j_xx * j_yy - j_xy * j_xy
        singular = np.abs(det) < 1e-12
        safe_det = np.where(singular, 1.0, det)
        newton_x = x - (j_yy * residual[..., 0] - j_xy * residual[..., 1]) / safe_det
        newton_y = y - (j_xx * residual[..., 1] - j_xy * residual[..., 0]) / safe_det
        # OpenCV's fixed-point update, used only where Newton cannot step.
        safe_factor = np.where(factor == 0.0, 1.0, factor)
        fixed_x = (target[..., 0] - (2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x))) / safe_factor
        fixed_y = (target[..., 1] - (p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y)) / safe_factor
        xy = np.stack([np.where(singular, fixed_x, newton_x), np.where(singular, fixed_y, newton_y)], axis=-1)
    with np.errstate(invalid="ignore"):
        failed = np.abs(brown_conrady(xy, intr.radial, intr.tangential) - target).max(axis=-1) > UNDISTORT_TOLERANCE
    if failed.any():
        logger.debug("undistort: %d of %d points have no inverse under this lens", failed.sum(), failed.size)
        xy[failed] = np.nan
    return xy


def project(points_cam: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Camera-frame points (..., 3) in metres to pixels (..., 2), lens distortion included.

    Points on or behind the image plane (z <= 0) have no image and come out as NaN.
    """
    points = _as_points(points_cam, 3, "camera-frame points")
    z = points[..., 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = np.where(z > 0.0, points[..., :2] / np.where(z > 0.0, z, 1.0), np.nan)
    xy = np.where(np.isnan(z), np.nan, xy)
    return normalized_to_pixels(xy, intr)


def pixels_to_normalized(pixels: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Pixels (..., 2) to undistorted normalised coordinates (x/z, y/z), the lifter's input space."""
    uv = _as_points(pixels, 2, "pixel coordinates")
    distorted = np.stack([(uv[..., 0] - intr.cx) / intr.fx, (uv[..., 1] - intr.cy) / intr.fy], axis=-1)
    return undistort(distorted, intr)


def normalized_to_pixels(xy: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Undistorted normalised coordinates (..., 2) to pixels (..., 2), lens distortion included."""
    distorted = distort(xy, intr)
    return np.stack([distorted[..., 0] * intr.fx + intr.cx, distorted[..., 1] * intr.fy + intr.cy], axis=-1)


def brown_conrady(xy: np.ndarray, radial, tangential) -> np.ndarray:
    """OpenCV's radial + tangential model on normalised coordinates (..., 2).

    ``radial`` (k1, k2, k3) and ``tangential`` (p1, p2) are sequences or arrays whose last axis holds the
    coefficients and whose leading axes broadcast against ``xy``'s (one lens per batch item in training).
    """
    radial = np.asarray(radial, dtype=np.float64)
    tangential = np.asarray(tangential, dtype=np.float64)
    k1, k2, k3 = radial[..., 0], radial[..., 1], radial[..., 2]
    p1, p2 = tangential[..., 0], tangential[..., 1]
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    factor = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * factor + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
    yd = y * factor + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    return np.stack([xd, yd], axis=-1)


def _as_points(values: np.ndarray, dims: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim < 1 or array.shape[-1] != dims:
        raise ValueError(f"{what} must have shape (..., {dims}), got {array.shape}")
    return array


def _coefficients(what: str, values: tuple[float, ...], count: int) -> tuple[float, ...]:
    result = tuple(float(v) for v in values)
    if len(result) != count:
        raise ValueError(f"{what} distortion needs {count} coefficients, got {len(result)}")
    if not all(math.isfinite(v) for v in result):
        raise ValueError(f"{what} distortion coefficients must be finite, got {result}")
    return result


def _check_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        integral = isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not integral or value <= 0:
            raise ValueError(f"image {name} must be a positive integer, got {value!r}")

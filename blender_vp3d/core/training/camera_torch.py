"""Differentiable projection in torch, for the reprojection loss; mirrors ``core.lift.camera.project``.

Same conventions as :mod:`blender_vp3d.core.lift.camera`: camera frame x right, y down, z forward; distortion is
OpenCV's Brown-Conrady model on normalised coordinates. Unlike the numpy version, which gives NaN for points
behind the camera, depth is clamped at ``min_depth`` here: a lifter early in training may put joints behind
the camera, and the loss must still have finite values and gradients.
"""

from __future__ import annotations

import torch


def project_to_normalized(
    points_cam: torch.Tensor,
    radial: torch.Tensor | None = None,
    tangential: torch.Tensor | None = None,
    min_depth: float = 1e-3,
) -> torch.Tensor:
    """Camera-frame points (..., 3) to distorted normalised coordinates (..., 2).

    ``radial`` (..., 3) holds k1, k2, k3 and ``tangential`` (..., 2) holds p1, p2; their leading dimensions
    broadcast against those of the points (give a (B, 1, 1, 3) tensor for per-window lenses on (B, L, J, 3)
    points). Without coefficients the result is the pinhole projection x/z, y/z.
    """
    if points_cam.ndim < 1 or points_cam.shape[-1] != 3:
        raise ValueError(f"camera-frame points must have shape (..., 3), got {tuple(points_cam.shape)}")
    if not min_depth > 0:
        raise ValueError(f"min_depth must be positive, got {min_depth!r}")
    _check_coefficients("radial", radial, 3)
    _check_coefficients("tangential", tangential, 2)
    z = points_cam[..., 2].clamp(min=min_depth)
    x = points_cam[..., 0] / z
    y = points_cam[..., 1] / z
    if radial is None and tangential is None:
        return torch.stack([x, y], dim=-1)
    r2 = x * x + y * y
    xd, yd = x, y
    if radial is not None:
        k1, k2, k3 = radial[..., 0], radial[..., 1], radial[..., 2]
        factor = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd, yd = x * factor, y * factor
    if tangential is not None:
        p1, p2 = tangential[..., 0], tangential[..., 1]
        xd = xd + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = yd + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return torch.stack(torch.broadcast_tensors(xd, yd), dim=-1)


def project_to_pixels(
    points_cam: torch.Tensor,
    focal: torch.Tensor,
    center: torch.Tensor,
    radial: torch.Tensor | None = None,
    tangential: torch.Tensor | None = None,
) -> torch.Tensor:
    """Camera-frame points (..., 3) to pixels (..., 2); ``focal`` (..., 2) is fx, fy and ``center`` cx, cy."""
    _check_coefficients("focal", focal, 2)
    _check_coefficients("center", center, 2)
    return project_to_normalized(points_cam, radial, tangential) * focal + center


def _check_coefficients(what: str, values: torch.Tensor | None, count: int) -> None:
    if values is not None and (values.ndim < 1 or values.shape[-1] != count):
        raise ValueError(f"{what} must have shape (..., {count}), got {tuple(values.shape)}")

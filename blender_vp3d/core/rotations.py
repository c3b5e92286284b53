"""Small rotation toolkit in numpy (no mathutils: the core must run without Blender)."""

from __future__ import annotations

import numpy as np

_AXES = {"X": 0, "Y": 1, "Z": 2}


def axis_rotation(axis: str, angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about a principal axis, right-handed."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    one, zero = np.ones_like(c), np.zeros_like(c)
    if axis == "X":
        rows = ((one, zero, zero), (zero, c, -s), (zero, s, c))
    elif axis == "Y":
        rows = ((c, zero, s), (zero, one, zero), (-s, zero, c))
    elif axis == "Z":
        rows = ((c, -s, zero), (s, c, zero), (zero, zero, one))
    else:
        raise ValueError(f"unknown rotation axis {axis!r}")
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def euler_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """Matrices for Euler angles given in the order the channels are listed (BVH convention).

    BVH channels ``Zrotation Xrotation Yrotation`` mean R = Rz @ Rx @ Ry (intrinsic rotations in the listed
    order), which is what this computes for any order of the three axes.
    """
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"rotation order must be a permutation of XYZ, got {order!r}")
    radians = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    result = axis_rotation(order[0], radians[..., 0])
    for i in (1, 2):
        result = result @ axis_rotation(order[i], radians[..., i])
    return result


def normalize(v: np.ndarray, axis: int = -1, eps: float = 1e-9) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=axis, keepdims=True), eps)


def rotation_about_y(angle_rad: float | np.ndarray) -> np.ndarray:
    return axis_rotation("Y", np.asarray(angle_rad, dtype=np.float64))


def random_rotation_small(rng: np.random.Generator, max_deg: float, size: int) -> np.ndarray:
    """Random rotations with axis uniform on the sphere and angle uniform in [0, max_deg]."""
    axis = normalize(rng.normal(size=(size, 3)))
    angle = np.deg2rad(rng.uniform(0.0, max_deg, size=size))
    return axis_angle_to_matrix(axis * angle[:, None])


def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula for rotation vectors (..., 3)."""
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    axis = rotvec / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)
    a = angle[..., None]
    eye = np.broadcast_to(np.eye(3, dtype=k.dtype), k.shape)
    return eye + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)

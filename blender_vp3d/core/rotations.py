"""The one home of rotation math, in numpy (no mathutils: the core must run without Blender).

Matrices act on column vectors. Euler angles come in two conventions: BVH's (:func:`euler_to_matrix`,
:func:`matrix_to_euler`; the order lists the channels, R = R_order[0] R_order[1] R_order[2], degrees) and
Blender's (:func:`blender_euler_to_matrix`, :func:`matrix_to_blender_euler`; the order lists the axes as they
apply, ``'XYZ'`` meaning R = Rz Ry Rx, radians). Quaternions are (w, x, y, z).
"""

from __future__ import annotations

import math

import numpy as np

EULER_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


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


def matrix_to_euler(rotations: np.ndarray, order: str) -> np.ndarray:
    """Euler angles (T, ..., 3) in degrees, in channel ``order`` (R = R_order[0] R_order[1] R_order[2], the
    BVH convention), continuous over axis 0.

    Every rotation has two Euler solutions (and any multiple of 360 degrees added); each frame takes the one
    nearest the previous frame's angles, the first frame the one with the smaller angles. At gimbal lock
    (middle angle +-90 degrees) the third angle is set to 0.
    """
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"rotation order must be a permutation of XYZ, got {order!r}")
    i, j, k = ("XYZ".index(a) for a in order)
    sign = 1.0 if order in ("XYZ", "YZX", "ZXY") else -1.0
    r = np.asarray(rotations, dtype=np.float64)
    middle = np.arcsin(np.clip(sign * r[..., i, k], -1.0, 1.0))
    gimbal = np.cos(middle) < 1e-7
    first_angle = np.where(gimbal, np.arctan2(sign * r[..., k, j], r[..., j, j]),
                           np.arctan2(-sign * r[..., j, k], r[..., k, k]))
    third_angle = np.where(gimbal, 0.0, np.arctan2(-sign * r[..., i, j], r[..., i, i]))
    first = np.degrees(np.stack([first_angle, middle, third_angle], axis=-1))
    second = first + np.array([180.0, 0.0, 180.0])
    second[..., 1] = 180.0 - first[..., 1]
    wrap = lambda a: (a + 180.0) % 360.0 - 180.0  # noqa: E731
    out = np.empty_like(first)
    a0, b0 = wrap(first[0]), wrap(second[0])
    out[0] = np.where((np.abs(a0).sum(-1) <= np.abs(b0).sum(-1))[..., None], a0, b0)
    for t in range(1, len(r)):
        previous = out[t - 1]
        a = previous + wrap(first[t] - previous)
        b = previous + wrap(second[t] - previous)
        closer = np.abs(a - previous).sum(-1) <= np.abs(b - previous).sum(-1)
        out[t] = np.where(closer[..., None], a, b)
    return out


def frame_from(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frames (..., 3, 3), columns: primary, secondary made orthogonal to it, their cross."""
    e1 = normalize(primary)
    e2 = normalize(secondary - np.sum(secondary * e1, axis=-1, keepdims=True) * e1)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) to unit quaternions (..., 4) as (w, x, y, z), w >= 0 not enforced."""
    m = np.asarray(m, dtype=np.float64)
    # Four candidates (Shepperd); take per element the one with the largest diagonal term for stability.
    t = np.stack([m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2],
                  m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                  -m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
                  -m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], axis=-1)
    best = np.argmax(t, axis=-1)
    s = np.sqrt(np.maximum(1.0 + np.take_along_axis(t, best[..., None], -1)[..., 0], 1e-12)) * 2.0
    q = np.empty(m.shape[:-2] + (4,))
    c = [best == i for i in range(4)]
    q[..., 0] = np.select(c, [0.25 * s, (m[..., 2, 1] - m[..., 1, 2]) / s, (m[..., 0, 2] - m[..., 2, 0]) / s,
                              (m[..., 1, 0] - m[..., 0, 1]) / s])
    q[..., 1] = np.select(c, [(m[..., 2, 1] - m[..., 1, 2]) / s, 0.25 * s, (m[..., 0, 1] + m[..., 1, 0]) / s,
                              (m[..., 0, 2] + m[..., 2, 0]) / s])
    q[..., 2] = np.select(c, [(m[..., 0, 2] - m[..., 2, 0]) / s, (m[..., 0, 1] + m[..., 1, 0]) / s, 0.25 * s,
                              (m[..., 1, 2] + m[..., 2, 1]) / s])
    q[..., 3] = np.select(c, [(m[..., 1, 0] - m[..., 0, 1]) / s, (m[..., 0, 2] + m[..., 2, 0]) / s,
                              (m[..., 1, 2] + m[..., 2, 1]) / s, 0.25 * s])
    return normalize(q)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) as (w, x, y, z) to rotation matrices (..., 3, 3)."""
    w, x, y, z = np.moveaxis(normalize(np.asarray(q, dtype=np.float64)), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def continuous_quaternions(q: np.ndarray) -> np.ndarray:
    """Flip signs along axis 0 so consecutive quaternions (T, ..., 4) have non-negative dot products; the first
    frame is made w >= 0."""
    q = np.array(q, dtype=np.float64)
    q[0] *= np.where(q[0, ..., :1] < 0, -1.0, 1.0)
    for t in range(1, len(q)):
        q[t] *= np.where(np.sum(q[t] * q[t - 1], axis=-1, keepdims=True) < 0, -1.0, 1.0)
    return q


def matrix_to_blender_euler(rotations: np.ndarray, order: str = "XYZ") -> np.ndarray:
    """(T, 3, 3) rotations to (T, 3) radians (x, y, z) in Blender's Euler ``order`` (``'XYZ'``:
    ``R = Rz @ Ry @ Rx``), each frame the solution nearest the previous frame's."""
    if order not in EULER_ORDERS:
        raise ValueError(f"Euler order must be one of {', '.join(EULER_ORDERS)}, got {order!r}")
    # Blender's order lists the axes in the order they apply: R = R[order[2]] R[order[1]] R[order[0]], which
    # is the BVH-style (listed = matrix product order) reversed.
    listed = np.radians(matrix_to_euler(rotations, order[::-1]))   # angles for order[2], order[1], order[0]
    out = np.empty_like(listed)
    for position, axis in enumerate(order[::-1]):
        out[..., "XYZ".index(axis)] = listed[..., position]
    return out


def blender_euler_to_matrix(angles: np.ndarray, order: str = "XYZ") -> np.ndarray:
    """Inverse of :func:`matrix_to_blender_euler`: (..., 3) radians (x, y, z) to (..., 3, 3)."""
    angles = np.asarray(angles, dtype=np.float64)
    result = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for axis in order:  # first listed axis applies first: left-multiply
        result = axis_rotation(axis, angles[..., "XYZ".index(axis)]) @ result
    return result


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (degrees) between the vectors of two (..., 3) arrays; 90 for a zero vector."""
    return np.degrees(np.arccos(np.clip(np.sum(normalize(a) * normalize(b), axis=-1), -1.0, 1.0)))


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation (3, 3) taking unit vector ``a`` onto unit vector ``b``."""
    a, b = normalize(a), normalize(b)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis)
    cos = float(a @ b)
    if sin < 1e-12:
        if cos > 0:
            return np.eye(3)
        perpendicular = normalize(np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0]))
        return axis_angle_to_matrix(perpendicular * math.pi)
    return axis_angle_to_matrix(axis / sin * math.atan2(sin, cos))


def quaternion_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """(T, 4) quaternions (w, x, y, z) to Blender's axis-angle (angle, x, y, z)."""
    w = np.clip(q[:, 0], -1.0, 1.0)
    angle = 2.0 * np.arccos(w)
    s = np.sqrt(np.maximum(1.0 - w * w, 0.0))
    axis = np.where(s[:, None] > 1e-9, q[:, 1:] / np.maximum(s, 1e-9)[:, None], [0.0, 1.0, 0.0])
    return np.column_stack([angle, axis])

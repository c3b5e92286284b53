"""Fit the lifted motion to the 2D keypoints it came from: the 3D lands on the person in the video.

The lifter sees 81 frames of 2D at once and is trained to be plausible, not to reproject exactly: on a video
its limbs, projected back through the camera, miss the detected keypoints by more than the detector's own
error. VideoPose3D trains its semi-supervised branch with exactly this back-projection (3D through the camera
intrinsics against the 2D input); here it is applied at capture time, to one clip, with numpy only.

:func:`refine` takes the lifter's root-relative joints and root trajectory (camera frame) with the 2D
keypoints in undistorted normalised camera coordinates (the lifter's input space) and returns joints and
trajectory in the same conventions that

* are rigid: one length per bone for the clip (the clip's median, left and right averaged, as
  ``core.cleanup.bones``);
* reproject onto the confident keypoints of the 12 limb joints (hips, knees, ankles, shoulders, elbows,
  wrists; COCO-17 in, H36M-17 out), with a confidence-weighted robust loss;
* stay close to the lifter where the image says nothing: joints without a keypoint (spine, neck, head)
  keep the lifter's directions, and the depth of a limb (the part of its direction the image cannot see)
  moves only as far as the bone length and the 2D require;
* are smooth in time: corrections are low-passed, so detector noise does not turn into jitter.

Steps, all vectorised over frames:

1. **Weights.** Confidence times a Geman-McClure weight of how far each keypoint jumps from its own median
   over a few frames (a detector outlier is a spike; a lifter error is not), in units of the expected
   detector noise, a fraction of the person's size in the image. Hips and shoulders count less: detectors
   put them on the body surface, not at the joint centres; their constant part of that offset is removed.
2. **Root.** A per-frame translation of the whole (rigid) body that best reprojects the weighted keypoints,
   a linear least-squares problem with a prior towards the lifter's trajectory, low-passed in time.
3. **Limbs.** From the body outwards, each bone with a keypoint at its end turns about its (already fitted)
   parent joint: the direction u on the unit sphere minimising
   ``w |ray distance of (parent + L u)|^2 + prior |L (u - u_lifter)|^2`` is found exactly by the secular
   equation of this trust-region problem; the weights are re-estimated from the residuals (Huber, IRLS).
4. **Time.** The change of each bone's direction is low-passed (Gaussian), and the skeleton is rebuilt
   from the fitted root with the rigid lengths.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..checks import check_positive
from ..skeleton import COCO17, H36M17, bone_lengths

logger = logging.getLogger(__name__)

# H36M-17 joints with a COCO-17 keypoint, and that keypoint.
FITTED_H36M = tuple(H36M17.index(name) for name in (
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist"))
FITTED_COCO = tuple(COCO17.index(H36M17.joint_names[j]) for j in FITTED_H36M)
MIN_DEPTH_M = 0.2  # frames whose root is closer to the camera keep the lifter's pose
SURFACE_JOINTS = tuple(H36M17.index(name) for name in ("right_hip", "left_hip", "left_shoulder", "right_shoulder"))


@dataclass(frozen=True)
class RefineSettings:
    """Weights of :func:`refine`. Lengths in metres, 2D errors as fractions of the person's image height.

    The defaults were chosen on 50 held-out clips per validation set with the detector-error model
    (``training.evaluate``; that model's 2D is noisier than BlazePose on the sample videos, so the fit trusts
    the 2D less than a clean video would allow), then checked on all of them and on the multi-view video
    reference (``benchmarks/video_accuracy.py``). Figures with the bundled model, mm, ``refine`` off -> on::

        held-out, detector errors  MPJPE          P-MPJPE       MPJVE (mm/frame)
        bandai (56,755 frames)     76.1 -> 70.2   53.3 -> 49.5  13.31 -> 12.01
        cmu (5,833 frames)         141.1 -> 140.1 89.9 -> 85.7  12.44 -> 11.66
        bandai, focal 0.7x / 1.3x  81.8 -> 73.0 / 77.3 -> 73.0
        cmu, focal 0.7x / 1.3x     137.0 -> 136.2 / 145.5 -> 144.2
        Demo_MultiPerson, P-MPJPE of 14 joints against 3 other cameras: lift 85.5 -> 83.3, capture 86.6 -> 84.0

    Trusting the 2D more (``noise`` 0.01-0.02) or the lifter's direction less (``limb_prior_m`` 0.15) made the
    held-out error worse; fitting the root to the torso keypoints alone, or not fitting its depth, did too.
    """

    noise: float = 0.04             # expected detector error, fraction of the person's height in the image
    limb_prior_m: float = 0.08      # how far (at the bone's end) the lifter's direction is trusted, metres
    root_prior_m: float = 0.10      # lateral prior of the root translation, metres
    depth_prior: float = 0.10       # depth prior of the root translation, fraction of the depth
    surface_weight: float = 0.3     # hips and shoulders: detectors put them on the body surface
    outlier_window_s: float = 0.3   # median window for detector spikes
    outlier_scale: float = 3.0      # spike size (in units of ``noise``) at which the weight has fallen to 1/4
    root_joints: str = "limbs"      # keypoints the root translation is fitted to: "torso" (hips, shoulders) or "limbs"
    huber: float = 2.0              # residual (in units of ``noise``) beyond which the loss grows linearly
    smooth_s: float = 0.1           # Gaussian sigma of the low-pass on corrections, seconds
    iterations: int = 3             # IRLS passes over the limbs
    length_percentile: float = 75.0  # distal limb bones at least this percentile of their 2D length (0: off)

    def __post_init__(self) -> None:
        for name in ("noise", "limb_prior_m", "root_prior_m", "depth_prior", "outlier_window_s", "outlier_scale",
                     "huber"):
            check_positive(f"RefineSettings.{name}", getattr(self, name))
        if not (math.isfinite(self.surface_weight) and 0.0 <= self.surface_weight <= 1.0):
            raise ValueError(f"RefineSettings.surface_weight must be in [0, 1], got {self.surface_weight!r}")
        if not (math.isfinite(self.smooth_s) and self.smooth_s >= 0):
            raise ValueError(f"RefineSettings.smooth_s must be >= 0, got {self.smooth_s!r}")
        if not (math.isfinite(self.length_percentile) and 0.0 <= self.length_percentile <= 100.0):
            raise ValueError(f"RefineSettings.length_percentile must be in [0, 100], got {self.length_percentile!r}")
        if int(self.iterations) != self.iterations or self.iterations < 1:
            raise ValueError(f"RefineSettings.iterations must be a positive integer, got {self.iterations!r}")


@dataclass(frozen=True)
class RefineResult:
    """joints (T, 17, 3) root-relative and trajectory (T, 3), camera frame, metres; the median reprojection
    error of the 12 limb joints over confident keypoints (confidence >= 0.5), in normalised units, before
    and after (multiply by the focal length for pixels)."""

    joints: np.ndarray
    trajectory: np.ndarray
    error_before: float
    error_after: float


def refine(joints: np.ndarray, trajectory: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, *,
           fps: float, settings: RefineSettings | None = None) -> RefineResult:
    """Fit a lifted clip to its 2D keypoints (see the module docstring).

    ``joints`` (T, 17, 3) H36M-17 relative to the pelvis and ``trajectory`` (T, 3), camera frame (x right,
    y down, z forward), metres, as ``Lifter.lift`` returns them. ``keypoints`` (T, 17, 2) COCO-17 in
    undistorted normalised coordinates (x/z, y/z), gaps filled; ``confidence`` (T, 17), 0 where missing.
    """
    settings = settings or RefineSettings()
    joints, trajectory, keypoints, confidence = _check(joints, trajectory, keypoints, confidence)
    check_positive("fps", fps)
    frames = len(joints)
    uv = keypoints[:, FITTED_COCO]                                   # (T, 12, 2)
    conf = confidence[:, FITTED_COCO]
    absolute = joints + trajectory[:, None]
    before = reprojection_error(absolute, keypoints, confidence)

    lengths = _rigid_lengths(joints)
    if settings.length_percentile > 0:
        lengths = _lengths_seen(lengths, absolute, uv, conf, fps, settings.length_percentile)
    directions = _directions(joints)                                 # (T, 17, 3) unit, row 0 unused
    rigid = _build(np.zeros((frames, 3)), directions, lengths)

    size = _person_size(uv, conf)
    sigma = settings.noise * size                                    # normalised units
    weight = conf * _spike_weight(uv, sigma, settings, fps)
    weight[trajectory[:, 2] < MIN_DEPTH_M] = 0.0   # a root at or behind the camera: nothing to fit there
    surface = np.isin(np.array(FITTED_H36M), SURFACE_JOINTS)
    weight[:, surface] *= settings.surface_weight

    # Root: one translation per frame for the rigid body.
    root_weight = conf * (weight > 0) if settings.root_joints == "torso" else weight
    if settings.root_joints == "torso":
        root_weight = np.where(surface, root_weight * _spike_weight(uv, sigma, settings, fps), 0.0)
    root = _fit_root(rigid, trajectory, uv, root_weight, sigma, settings)
    root = _lowpass(root - trajectory, fps, settings.smooth_s) + trajectory
    # The constant part of the surface offset of hips and shoulders (in the image) is not the lifter's error.
    body = rigid + root[:, None]
    offset = np.zeros_like(uv)
    for k in np.flatnonzero(surface):
        j = FITTED_H36M[k]
        residual = uv[:, k] - body[:, j, :2] / body[:, j, 2:3]
        good = conf[:, k] > 0
        if good.any():
            offset[:, k] = np.median(residual[good], axis=0)
    target = uv - offset

    # Limbs, from the body outwards.
    fitted = directions.copy()
    evidence = np.zeros(directions.shape[:2])               # (T, 17) how much the image said about each bone
    position = np.empty_like(joints)
    position[:, 0] = root
    slot = {j: k for k, j in enumerate(FITTED_H36M)}
    for child, parent in enumerate(H36M17.parents):
        if parent < 0:
            continue
        if child in slot:
            k = slot[child]
            fitted[:, child] = _fit_bone(position[:, parent], directions[:, child], lengths[child],
                                         target[:, k], weight[:, k], sigma, settings)
            evidence[:, child] = weight[:, k]
        position[:, child] = position[:, parent] + lengths[child] * fitted[:, child]

    # Time: low-pass the change of direction, then rebuild from the root.
    # Normalised convolution: a frame whose keypoint was missing or an outlier takes its neighbours' change.
    change = _lowpass(evidence[..., None] * (fitted - directions), fps, settings.smooth_s)
    change /= _lowpass(evidence, fps, settings.smooth_s)[..., None] + 0.02
    smoothed = directions + change
    smoothed /= np.maximum(np.linalg.norm(smoothed, axis=-1, keepdims=True), 1e-12)
    out = _build(np.zeros((frames, 3)), smoothed, lengths)
    after = reprojection_error(out + root[:, None], keypoints, confidence)
    logger.debug("refine: median reprojection error %.4f -> %.4f (normalised units)", before, after)
    return RefineResult(joints=out, trajectory=root, error_before=before, error_after=after)


def reprojection_error(absolute: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray,
                       min_confidence: float = 0.5) -> float:
    """Median distance, in normalised units, between the 12 limb joints of absolute camera-frame H36M joints
    (T, 17, 3) projected and their COCO keypoints (T, 17, 2) where confidence >= ``min_confidence``.

    NaN when no keypoint is that confident.
    """
    points = absolute[:, list(FITTED_H36M)]
    with np.errstate(divide="ignore", invalid="ignore"):
        projected = points[..., :2] / points[..., 2:3]
    distance = np.linalg.norm(projected - keypoints[:, list(FITTED_COCO)], axis=-1)
    good = (confidence[:, list(FITTED_COCO)] >= min_confidence) & np.isfinite(distance)
    return float(np.median(distance[good])) if good.any() else float("nan")


# ------------------------------------------------------------------------------------------ internals

def _check(joints, trajectory, keypoints, confidence):
    joints = np.asarray(joints, dtype=np.float64)
    trajectory = np.asarray(trajectory, dtype=np.float64)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    frames = len(joints)
    if joints.shape != (frames, H36M17.num_joints, 3) or frames < 1:
        raise ValueError(f"joints must be (T, 17, 3) with T >= 1, got {joints.shape}")
    if trajectory.shape != (frames, 3):
        raise ValueError(f"trajectory must be ({frames}, 3), got {trajectory.shape}")
    if keypoints.shape != (frames, COCO17.num_joints, 2):
        raise ValueError(f"keypoints must be ({frames}, 17, 2) normalised coordinates, got {keypoints.shape}")
    if confidence.shape != (frames, COCO17.num_joints):
        raise ValueError(f"confidence must be ({frames}, 17), got {confidence.shape}")
    if not (np.isfinite(joints).all() and np.isfinite(trajectory).all()):
        raise ValueError("joints and trajectory must be finite")
    confidence = np.where(np.isfinite(keypoints).all(axis=-1), np.nan_to_num(confidence), 0.0)
    keypoints = np.nan_to_num(keypoints)
    return joints, trajectory, keypoints, confidence


def _rigid_lengths(joints: np.ndarray) -> np.ndarray:
    """(17,) one length per bone (ending at each joint): the clip's median, left and right averaged."""
    lengths = np.median(bone_lengths(joints), axis=0)
    for left, right in zip(H36M17.joints_left, H36M17.joints_right):
        lengths[left] = lengths[right] = 0.5 * (lengths[left] + lengths[right])
    return lengths


def _lengths_seen(lengths: np.ndarray, absolute: np.ndarray, uv: np.ndarray, conf: np.ndarray, fps: float,
                  percentile: float) -> np.ndarray:
    """Limb bone lengths raised to what the image shows: a bone seen across the image plane is at least as
    long as its projection, so each distal limb bone (shin, forearm: keypoints at both ends, neither on the
    body surface) is at least the given percentile over confident frames of its low-passed 2D length times
    the lifter's depth of its parent; twins averaged.

    The lifter regresses uncertain distal joints towards the body, so its forearms and shins come out short;
    a bone too short to reach its keypoint's ray would otherwise be laid flat across the image.
    """
    out = lengths.copy()
    slot = {j: k for k, j in enumerate(FITTED_H36M)}
    smooth = _lowpass(uv, fps, 0.05)
    for child, parent in enumerate(H36M17.parents):
        if child not in slot or parent not in slot or parent in SURFACE_JOINTS:
            continue
        c, p = slot[child], slot[parent]
        good = (conf[:, c] >= 0.5) & (conf[:, p] >= 0.5)
        if good.sum() < 5:
            continue
        seen = np.linalg.norm(smooth[:, c] - smooth[:, p], axis=-1) * absolute[:, parent, 2]
        out[child] = max(out[child], float(np.percentile(seen[good], percentile)))
    for left, right in zip(H36M17.joints_left, H36M17.joints_right):
        out[left] = out[right] = 0.5 * (out[left] + out[right])
    return out


def _directions(joints: np.ndarray) -> np.ndarray:
    parents = np.array(H36M17.parents)
    out = np.zeros_like(joints)
    bone = joints[:, 1:] - joints[:, parents[1:]]
    norm = np.linalg.norm(bone, axis=-1, keepdims=True)
    fallback = np.array([0.0, -1.0, 0.0])  # a zero-length bone points up (camera y is down)
    out[:, 1:] = np.where(norm > 1e-9, bone / np.maximum(norm, 1e-9), fallback)
    return out


def _build(root: np.ndarray, directions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    out = np.empty_like(directions)
    out[:, 0] = root
    for child, parent in enumerate(H36M17.parents):
        if parent >= 0:
            out[:, child] = out[:, parent] + lengths[child] * directions[:, child]
    return out


def _person_size(uv: np.ndarray, conf: np.ndarray) -> float:
    """Median over frames of the person's height in the image (normalised units) from the limb keypoints."""
    y = np.where(conf > 0, uv[..., 1], np.nan)
    seen = (conf > 0).sum(axis=1) >= 2
    if not seen.any():
        return 1.0
    with np.errstate(invalid="ignore"):
        height = np.nanmax(y[seen], axis=1) - np.nanmin(y[seen], axis=1)
    size = float(np.median(height))
    return size if size > 1e-6 else 1.0


def _spike_weight(uv: np.ndarray, sigma: float, settings: RefineSettings, fps: float) -> np.ndarray:
    """(T, 12) Geman-McClure weight of each keypoint's distance from its running median."""
    frames = len(uv)
    half = max(1, int(round(settings.outlier_window_s * fps / 2)))
    if frames < 3:
        return np.ones(uv.shape[:2])
    half = min(half, (frames - 1) // 2)
    padded = np.pad(uv, ((half, half), (0, 0), (0, 0)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0)  # (T, 12, 2, W)
    median = np.median(windows, axis=-1)
    r = np.linalg.norm(uv - median, axis=-1) / (settings.outlier_scale * sigma)
    return 1.0 / (1.0 + r * r) ** 2


def _fit_root(rigid: np.ndarray, trajectory: np.ndarray, uv: np.ndarray, weight: np.ndarray, sigma: float,
              settings: RefineSettings) -> np.ndarray:
    """(T, 3) root positions: the lifter's trajectory plus the translation that best reprojects the keypoints.

    Linearised (algebraic) residual per keypoint, divided by depth so that it is in normalised units:
    ``((X + t)_xy - uv (X + t)_z) / z``, which is linear in t; a Gaussian prior on t.
    """
    points = rigid[:, list(FITTED_H36M)] + trajectory[:, None]          # (T, 12, 3)
    depth = np.maximum(points[..., 2], 1e-3)
    w = weight / (sigma * depth) ** 2                                 # (T, 12)
    frames = len(points)
    normal = np.zeros((frames, 3, 3))
    rhs = np.zeros((frames, 3))
    for axis in (0, 1):
        row = np.zeros(points.shape)                                  # d residual / d t
        row[..., axis] = 1.0
        row[..., 2] = -uv[..., axis]
        value = uv[..., axis] * points[..., 2] - points[..., axis]     # residual at t = 0, negated
        normal += np.einsum("tj,tja,tjb->tab", w, row, row)
        rhs += np.einsum("tj,tja,tj->ta", w, row, value)
    prior = np.stack([np.full(frames, settings.root_prior_m), np.full(frames, settings.root_prior_m),
                      settings.depth_prior * np.maximum(trajectory[:, 2], MIN_DEPTH_M)], axis=-1) ** -2.0
    normal[:, [0, 1, 2], [0, 1, 2]] += prior
    shift = np.linalg.solve(normal, rhs[..., None])[..., 0]
    root = trajectory + shift
    near = trajectory[:, 2] < MIN_DEPTH_M
    root[near] = trajectory[near]
    root[:, 2] = np.where(near, root[:, 2], np.maximum(root[:, 2], 0.5 * trajectory[:, 2]))
    return root


def _fit_bone(parent: np.ndarray, prior: np.ndarray, length: float, target: np.ndarray, weight: np.ndarray,
              sigma: float, settings: RefineSettings) -> np.ndarray:
    """(T, 3) unit direction of one bone about its fitted parent (T, 3), towards the keypoint's ray.

    Minimises ``w |P (parent + L u)|^2 + L^2 / s^2 |u - prior|^2`` over unit u, where P removes the ray's
    direction d (so the first term is the squared distance from the ray), w = weight / (sigma z)^2 and s
    the limb prior. On the unit sphere this is ``u'Au - 2b'u`` with A = w L^2 P, b = L^2/s^2 prior - w L P
    parent; its global minimum is u = (A + nu I)^-1 b with the unique nu >= 0 that makes |u| = 1.
    """
    ray = np.concatenate([target, np.ones((len(target), 1))], axis=-1)
    ray /= np.linalg.norm(ray, axis=-1, keepdims=True)
    depth = np.maximum(parent[:, 2], 1e-3)
    prior_weight = length**2 / settings.limb_prior_m**2
    direction = prior
    robust = np.ones(len(parent))
    for _ in range(settings.iterations):
        w = weight * robust / (sigma * depth) ** 2
        lateral = parent - np.sum(parent * ray, axis=-1, keepdims=True) * ray      # P parent
        b = prior_weight * prior - (w * length)[:, None] * lateral
        b_along = np.sum(b * ray, axis=-1)
        b_across = b - b_along[:, None] * ray
        a = w * length**2
        direction = _secular(b_along, b_across, a, ray)
        child = parent + length * direction
        with np.errstate(divide="ignore", invalid="ignore"):
            residual = np.linalg.norm(child[:, :2] / child[:, 2:3] - target, axis=-1) / sigma
        residual = np.nan_to_num(residual, nan=0.0, posinf=0.0)
        robust = np.minimum(1.0, settings.huber / np.maximum(residual, 1e-12))
    return direction


def _secular(b_along: np.ndarray, b_across: np.ndarray, a: np.ndarray, ray: np.ndarray) -> np.ndarray:
    """Unit u = b_along / nu * ray + b_across / (a + nu) for the nu > 0 where |u| = 1 (Newton from below)."""
    across2 = np.sum(b_across * b_across, axis=-1)
    along2 = b_along * b_along
    # Start where one term alone is >= 1, so phi >= 0: Newton on the convex, decreasing phi then climbs
    # monotonically to the root.
    nu = np.maximum(np.maximum(np.abs(b_along), np.sqrt(across2) - a), 1e-12)
    for _ in range(50):
        p = along2 / nu**2
        q = across2 / (a + nu) ** 2
        phi = p + q - 1.0
        slope = -2.0 * (p / nu + q / (a + nu))
        step = phi / np.minimum(slope, -1e-300)
        nu = nu - step
        if np.all(np.abs(step) <= 1e-12 * nu):
            break
    u = (b_along / nu)[:, None] * ray + b_across / (a + nu)[:, None]
    return u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-12)


def _lowpass(x: np.ndarray, fps: float, sigma_s: float) -> np.ndarray:
    """Gaussian low-pass along axis 0 of (T, ...) with reflected ends; sigma in seconds."""
    sigma = sigma_s * fps
    if sigma < 0.3 or len(x) < 2:
        return x.copy()
    radius = max(1, int(math.ceil(3 * sigma)))
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    flat = x.reshape(len(x), -1)
    padded = np.pad(flat, ((radius, radius), (0, 0)), mode="reflect" if len(x) > radius else "edge")
    out = np.zeros_like(flat)
    for k, c in enumerate(kernel):
        out += c * padded[k : k + len(x)]
    return out.reshape(x.shape)

"""Training pairs from mocap: skeleton and pose augmentation, virtual cameras, detector-like 2D.

Everything is batched over windows (B, L frames) in numpy. One call of :meth:`SyntheticGenerator.batch`
turns mocap windows into what the lifter sees at run time:

1. *Skeleton augmentation*: each bone's length scaled independently (left/right pairs share most of the
   factor), hip and shoulder spacing over a wide range (studios differ by about 2x), the pelvis moved along
   the spine, global scale.
2. *Pose augmentation* against Bandai's narrow repertoire: whole arms or legs swung about the shoulder or hip,
   knees and elbows bent further, the trunk leaned, arms transplanted from another clip (in the thorax's
   frame), and now and then the whole body tilted (lying, floor work).
3. *Detector keypoints* (COCO-17): nose, eyes and ears placed on the head from its orientation; hips and
   shoulders moved from joint centres to where detectors put them on the body surface.
4. *Virtual camera*: yaw all round, pitch, roll (in training, a quarter of the cameras rolled by up to 30
   degrees; evaluation keeps level cameras), off-centre framing; a real image size (landscape or portrait),
   focal length across phones and camcorders, principal point and lens distortion. The subject's distance
   follows from how large it appears in the frame.
5. *Detector errors*: per-joint jitter, temporally correlated drift, systematic offsets, outliers with lowered
   confidence, missing joints (confidence 0), and windows with no confidence at all.
6. *Intrinsics known or not*: for part of the windows the lifter is told the true camera (exact normalised
   coordinates); for the rest it assumes the documented default, as for a video with unknown intrinsics, and
   the trajectory target is made consistent with that assumption (depth scaled by the focal ratio).

Inputs are undistorted normalised camera coordinates (x/z, y/z) plus confidence; targets are the H36M-17
joints relative to the pelvis and the pelvis position, both in the camera frame (x right, y down, z forward).

The arrays of a batch are float32 throughout (per-window parameters are drawn in float64 and cast): the
generator is memory-bound and runs beside the training math on the same cores, and float32 halves its time
(``benchmarks/training.py``, ``gen only``). Float32 keeps the normalised coordinates to about 1e-7.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lift.camera import DEFAULT_FOCAL_35MM, brown_conrady
from ..rotations import axis_angle_to_matrix, normalize, random_rotation_small
from ..skeleton import COCO17, H36M17
from .mocap.clip import Clip

H = {name: i for i, name in enumerate(H36M17.joint_names)}
C = {name: i for i, name in enumerate(COCO17.joint_names)}

# Face keypoints relative to H36M `neck_nose`, metres along the head's (up, forward, left) axes.
FACE_OFFSETS_M = {
    "nose": (0.0, 0.05, 0.0),
    "left_eye": (0.03, 0.035, 0.032),
    "right_eye": (0.03, 0.035, -0.032),
    "left_ear": (0.005, -0.055, 0.075),
    "right_ear": (0.005, -0.055, -0.075),
}
# Relative noise per COCO joint (face keypoints are found precisely; hips least precisely).
JOINT_NOISE_WEIGHT = np.array([0.6, 0.6, 0.6, 0.8, 0.8, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.6, 1.6, 1.2, 1.2, 1.3, 1.3],
                              dtype=np.float32)
IMAGE_SIZES = [(1920, 1080), (1280, 720), (3840, 2160), (1080, 1920), (720, 1280), (2160, 3840), (1440, 1080)]
WORLD_UP = np.array([0.0, 1.0, 0.0])  # mocap worlds are Y up


def true_up_in_camera(world: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """The world's up (mocap Y) in camera coordinates, from a clip's (T, J, 3) world joints and the same joints as
    a camera filmed them: the rotation between the two (Kabsch; the camera is rigid, so it is exact)."""
    a = (world - world.mean(axis=(0, 1))).reshape(-1, 3).astype(np.float64)
    b = (camera - camera.mean(axis=(0, 1))).reshape(-1, 3).astype(np.float64)
    u, _, vt = np.linalg.svd(a.T @ b)
    return (u @ vt).T @ WORLD_UP
F32 = np.float32


def _chain_matrix(parents: tuple[int, ...]) -> np.ndarray:
    """(J, J): row j has ones at j and its ancestors below the root (the bones from the root to j)."""
    chain = np.zeros((len(parents), len(parents)), F32)
    for joint in range(1, len(parents)):
        k = joint
        while k > 0:
            chain[joint, k] = 1
            k = parents[k]
    return chain


_CHAIN = _chain_matrix(H36M17.parents)
_PARENT_OR_SELF = np.maximum(np.array(H36M17.parents), 0)  # the root's "bone" is zero
_COCO_FROM_H36M = [(C[n], H[n]) for n in ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
                                          "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
                                          "left_ankle", "right_ankle")]


@dataclass
class AugmentationConfig:
    bone_scale: float = 0.12          # +-range of independent per-bone length factors
    hip_width: tuple[float, float] = (0.8, 2.3)
    shoulder_width: tuple[float, float] = (0.8, 1.4)
    global_scale: tuple[float, float] = (0.85, 1.15)
    pelvis_shift: tuple[float, float] = (-0.05, 0.25)   # fraction of pelvis->spine
    limb_swing_prob: float = 0.1
    limb_swing_deg: float = 60.0
    bend_prob: float = 0.1
    trunk_lean_prob: float = 0.15
    trunk_lean_deg: float = 30.0
    arm_transplant_prob: float = 0.2
    body_tilt_prob: float = 0.05
    body_tilt_deg: float = 90.0
    known_intrinsics_prob: float = 0.6
    no_confidence_prob: float = 0.15
    max_noise: float = 1.0            # detector-error level per window is uniform in [0, max_noise]
    flip_prob: float = 0.5
    tilted_camera_prob: float = 0.25  # training windows whose camera roll is uniform in +-tilted_roll_deg
    tilted_roll_deg: float = 30.0


@dataclass
class Batch:
    inputs: np.ndarray        # (B, L, 17, 3) float32: normalised x, y, confidence (COCO-17)
    poses: np.ndarray         # (B, L, 17, 3) float32: H36M-17 relative to pelvis, camera frame, metres
    trajectory: np.ndarray    # (B, L, 3) float32: pelvis in the camera frame, metres


class ClipBank:
    """Training clips concatenated for fast window sampling (windows near clip ends replicate the edge).

    Windows are drawn in proportion to frames, or, with ``dataset_shares`` (dataset name -> share of the
    windows), each dataset gets its share and its clips are drawn in proportion to their frames within it.
    """

    def __init__(self, clips: list[Clip], dataset_shares: dict[str, float] | None = None):
        if not clips:
            raise ValueError("no clips")
        self.joints = np.concatenate([c.joints for c in clips]).astype(F32)
        self.head_axes = np.concatenate([c.head_axes for c in clips]).astype(F32)
        lengths = np.array([c.num_frames for c in clips])
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.lengths = lengths
        weights = lengths.astype(float)
        if dataset_shares:
            datasets = np.array([c.dataset for c in clips])
            missing = sorted(set(datasets) - set(dataset_shares))
            if missing:
                raise ValueError(f"no share given for datasets {missing}")
            for name, share in dataset_shares.items():
                chosen = datasets == name
                if chosen.any():
                    weights[chosen] = share * lengths[chosen] / lengths[chosen].sum()
        self.weights = weights / weights.sum()

    @property
    def num_frames(self) -> int:
        return int(self.lengths.sum())

    def sample_windows(self, rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        clip = rng.choice(len(self.lengths), size=batch, p=self.weights)
        centre = (rng.random(batch) * self.lengths[clip]).astype(int)
        offsets = np.arange(length) - (length - 1) // 2
        frame = np.clip(centre[:, None] + offsets[None], 0, self.lengths[clip][:, None] - 1)
        index = self.starts[clip][:, None] + frame
        return self.joints[index], self.head_axes[index]

    def sequential_windows(self, length: int, stride: int = 1):
        """Every frame of every clip as a window centre, in order (for evaluation)."""
        offsets = np.arange(length) - (length - 1) // 2
        for start, n in zip(self.starts, self.lengths):
            frame = np.clip(np.arange(0, n, stride)[:, None] + offsets[None], 0, n - 1)
            yield self.joints[start + frame], self.head_axes[start + frame]


class SyntheticGenerator:
    def __init__(self, config: AugmentationConfig | None = None, seed: int = 0):
        self.config = config or AugmentationConfig()
        self.rng = np.random.default_rng(seed)

    def batch(self, joints: np.ndarray, head_axes: np.ndarray, augment_body: bool = True,
              detector_noise: bool = True, flip: bool = True) -> Batch:
        """joints (B, L, 17, 3) and head_axes (B, L, 3, 3) in a Y-up world, metres.

        ``augment_body`` switches skeleton and pose augmentation (and randomised detector keypoint placement
        and unknown intrinsics); ``detector_noise`` the detector-error model; ``flip`` left/right mirroring.
        Cameras are always random.
        """
        joints, head_axes = joints.astype(F32), head_axes.astype(F32)  # copies
        if augment_body:
            joints = self._augment_skeleton(joints)
            joints, head_axes = self._augment_pose(joints, head_axes)
        keypoints3d = self._detector_keypoints(joints, head_axes, augment_body)
        cam_joints, focal_ratio, normalised = self._camera(joints, keypoints3d, augment_body)
        inputs = self._detector_errors(normalised, detector_noise)
        trajectory = cam_joints[:, :, 0].copy()
        trajectory[..., 2] *= focal_ratio[:, None]
        poses = cam_joints - cam_joints[:, :, :1]
        if flip:
            mirror = self.rng.random(len(inputs)) < self.config.flip_prob
            inputs[mirror] = inputs[mirror][:, :, COCO17.flip_permutation()]
            inputs[mirror, :, :, 0] *= -1
            poses[mirror] = poses[mirror][:, :, H36M17.flip_permutation()]
            poses[mirror, :, :, 0] *= -1
            trajectory[mirror, :, 0] *= -1
        return Batch(inputs.astype(F32, copy=False), poses.astype(F32, copy=False), trajectory.astype(F32, copy=False))

    # -- float32 draws --------------------------------------------------------------------------------
    def _normal(self, scale, size) -> np.ndarray:
        return self.rng.standard_normal(size, dtype=F32) * F32(scale)

    def _uniform(self, low, high, size) -> np.ndarray:
        return self.rng.uniform(low, high, size).astype(F32)

    def _uniform_big(self, low: float, high: float, size) -> np.ndarray:
        """Uniform draws for per-joint arrays, drawn directly in float32."""
        return F32(low) + F32(high - low) * self.rng.random(size, dtype=F32)

    def _rotation(self, max_deg: float, size: int) -> np.ndarray:
        return random_rotation_small(self.rng, max_deg, size).astype(F32)

    # -- skeleton -------------------------------------------------------------------------------------
    def _augment_skeleton(self, joints: np.ndarray) -> np.ndarray:
        cfg, rng = self.config, self.rng
        b = len(joints)
        scale = 1 + rng.uniform(-cfg.bone_scale, cfg.bone_scale, size=(b, H36M17.num_joints))
        # Left/right twins share their factor up to +-3%.
        for left, right in zip(H36M17.joints_left, H36M17.joints_right):
            scale[:, right] = scale[:, left] * rng.uniform(0.97, 1.03, size=b)
        scale[:, H["left_hip"]] = scale[:, H["right_hip"]] = rng.uniform(*cfg.hip_width, size=b)
        scale[:, H["left_shoulder"]] = scale[:, H["right_shoulder"]] = rng.uniform(*cfg.shoulder_width, size=b)
        scale *= rng.uniform(*cfg.global_scale, size=(b, 1))
        # Each joint = pelvis + the sum of its chain's scaled bones: one product with the ancestor matrix.
        bones = (joints - joints[:, :, _PARENT_OR_SELF]) * scale.astype(F32)[:, None, :, None]
        out = joints[:, :, :1] + np.einsum("jk,blkd->bljd", _CHAIN, bones, optimize=True)
        shift = self._uniform(*cfg.pelvis_shift, size=(b, 1, 1))
        out[:, :, 0] += shift * (out[:, :, H["spine"]] - out[:, :, 0])
        return out

    # -- pose -----------------------------------------------------------------------------------------
    def _body_frame(self, joints: np.ndarray, left: str, right: str) -> np.ndarray:
        """(B, L, 3, 3) columns: lateral (to the left), up (pelvis to thorax), forward."""
        lateral = normalize(joints[:, :, H[left]] - joints[:, :, H[right]])
        up = joints[:, :, H["thorax"]] - joints[:, :, 0]
        up = normalize(up - (up * lateral).sum(-1, keepdims=True) * lateral)
        forward = np.cross(lateral, up)
        return np.stack([lateral, up, forward], axis=-1)

    def _rotate_about(self, joints, pivot, indices, rotation, mask):
        """Rotate joints[indices] about joints[pivot] by rotation (B,3,3) for windows in mask."""
        centre = joints[mask][:, :, pivot : pivot + 1]
        moved = (joints[mask][:, :, indices] - centre) @ rotation[mask].transpose(0, 2, 1)[:, None] + centre
        sub = joints[mask]
        sub[:, :, indices] = moved
        joints[mask] = sub

    def _augment_pose(self, joints: np.ndarray, head_axes: np.ndarray):
        cfg, rng = self.config, self.rng
        b = len(joints)
        # Arms transplanted from another window (the previous one), expressed in each thorax frame.
        chosen = np.flatnonzero(rng.random(b) < cfg.arm_transplant_prob)
        if chosen.size:
            receiver, donor = joints[chosen], joints[chosen - 1]  # copies; the donor is the previous window
            frame = self._body_frame(receiver, "left_shoulder", "right_shoulder")
            donor_frame = self._body_frame(donor, "left_shoulder", "right_shoulder")
            for side in ("left", "right"):
                shoulder = H[f"{side}_shoulder"]
                arm = [H[f"{side}_elbow"], H[f"{side}_wrist"]]
                local = (donor[:, :, arm] - donor[:, :, shoulder, None]) @ donor_frame
                receiver[:, :, arm] = receiver[:, :, shoulder, None] + local @ frame.transpose(0, 1, 3, 2)
            joints[chosen] = receiver
        # Limbs swung about the shoulder or hip.
        for root, chain in (("left_shoulder", ("left_elbow", "left_wrist")), ("right_shoulder", ("right_elbow", "right_wrist")),
                            ("left_hip", ("left_knee", "left_ankle")), ("right_hip", ("right_knee", "right_ankle"))):
            mask = rng.random(b) < cfg.limb_swing_prob
            if mask.any():
                rotation = self._rotation(cfg.limb_swing_deg, b)
                self._rotate_about(joints, H[root], [H[c] for c in chain], rotation, mask)
        # Knees and elbows bent further in their current plane.
        frame = self._body_frame(joints, "left_hip", "right_hip")
        for upper, middle, lower, fallback_sign, limits in (
            ("left_hip", "left_knee", "left_ankle", -1, (0, 150)), ("right_hip", "right_knee", "right_ankle", -1, (0, 150)),
            ("left_shoulder", "left_elbow", "left_wrist", 1, (-10, 150)), ("right_shoulder", "right_elbow", "right_wrist", 1, (-10, 150)),
        ):
            mask = rng.random(b) < cfg.bend_prob
            if not mask.any():
                continue
            limb = joints[mask]
            a = limb[:, :, H[middle]] - limb[:, :, H[upper]]
            c = limb[:, :, H[lower]] - limb[:, :, H[middle]]
            axis = np.cross(a, c)
            weak = np.linalg.norm(axis, axis=-1, keepdims=True) < 1e-3 * np.linalg.norm(a, axis=-1, keepdims=True) ** 2
            fallback = np.cross(a, fallback_sign * frame[mask][..., 2])
            axis = normalize(np.where(weak, fallback, axis))
            current = np.degrees(np.arccos(np.clip((normalize(a) * normalize(c)).sum(-1), -1, 1)))
            delta = self._uniform(limits[0], 90, size=(b, 1))[mask]
            delta = np.clip(current + delta, F32(0), F32(limits[1])) - current
            rotation = axis_angle_to_matrix(axis * np.radians(delta)[..., None])
            joints[mask, :, H[lower]] = (rotation @ c[..., None])[..., 0] + limb[:, :, H[middle]]
        # Trunk leaned about the pelvis (everything above it, and the head's axes).
        upper_body = [H[n] for n in ("spine", "thorax", "neck_nose", "head_top", "left_shoulder", "left_elbow",
                                      "left_wrist", "right_shoulder", "right_elbow", "right_wrist")]
        mask = rng.random(b) < cfg.trunk_lean_prob
        if mask.any():
            rotation = self._rotation(cfg.trunk_lean_deg, b)
            self._rotate_about(joints, 0, upper_body, rotation, mask)
            head_axes[mask] = rotation[mask][:, None] @ head_axes[mask]
        # Whole body tilted (lying down, floor work).
        mask = rng.random(b) < cfg.body_tilt_prob
        if mask.any():
            rotation = self._rotation(cfg.body_tilt_deg, b)
            self._rotate_about(joints, 0, list(range(1, H36M17.num_joints)), rotation, mask)
            head_axes[mask] = rotation[mask][:, None] @ head_axes[mask]
        return joints, head_axes

    # -- detector keypoints in 3D ---------------------------------------------------------------------
    def _detector_keypoints(self, joints: np.ndarray, head_axes: np.ndarray, augment: bool) -> np.ndarray:
        rng = self.rng
        b = len(joints)
        out = np.empty(joints.shape[:2] + (COCO17.num_joints, 3), dtype=F32)
        coco, h36m = zip(*_COCO_FROM_H36M)
        out[:, :, list(coco)] = joints[:, :, list(h36m)]
        head_size = self._uniform(0.85, 1.15, size=(b, 1, 1)) if augment else np.ones((b, 1, 1), F32)
        local = np.empty((b, len(FACE_OFFSETS_M), 3), F32)  # face points in each window's head axes
        for i, offset in enumerate(FACE_OFFSETS_M.values()):
            local[:, i] = np.asarray(offset, dtype=F32)
            if augment:
                local[:, i] += self._normal(0.008, (b, 3))
        local *= head_size
        face = [C[name] for name in FACE_OFFSETS_M]
        out[:, :, face] = joints[:, :, H["neck_nose"], None] + local[:, None] @ head_axes.transpose(0, 1, 3, 2)
        # Detector hips and shoulders sit on the body surface: outward, up and forward of the joint centres.
        for pair, outward, up, fwd in ((("left_hip", "right_hip"), (0.0, 0.06), (0.0, 0.08), (-0.02, 0.03)),
                                       (("left_shoulder", "right_shoulder"), (0.0, 0.04), (0.0, 0.05), (-0.02, 0.02))):
            frame = self._body_frame(joints, *pair)
            lo = np.array([outward[0], up[0], fwd[0]])
            hi = np.array([outward[1], up[1], fwd[1]])
            for side, sign in zip(pair, (1.0, -1.0)):
                offset = rng.uniform(lo, hi, size=(b, 3)) if augment else 0.5 * (lo + hi)[None].repeat(b, 0)
                offset = (offset * np.array([sign, 1.0, 1.0])).astype(F32)
                out[:, :, C[side]] += (frame @ offset[:, None, :, None])[..., 0]
        return out

    # -- camera ---------------------------------------------------------------------------------------
    def _camera(self, joints: np.ndarray, keypoints: np.ndarray, augment: bool):
        rng = self.rng
        b = len(joints)
        size_index = rng.integers(len(IMAGE_SIZES), size=b)
        width = np.array([IMAGE_SIZES[i][0] for i in size_index], dtype=float)
        height = np.array([IMAGE_SIZES[i][1] for i in size_index], dtype=float)
        long_side = np.maximum(width, height)
        focal_35 = np.exp(rng.uniform(np.log(16), np.log(85), size=b))
        focal = long_side * focal_35 / 36.0
        # Distance from how tall the subject appears: 25-95% of the image height.
        body_height = np.ptp(keypoints[..., 1], axis=-1).max(axis=1) + 0.1
        fill = rng.uniform(0.25, 0.95, size=b)
        distance = np.clip(focal * body_height / (fill * height), 1.5, 25.0)  # float64 from here: per window
        yaw = rng.uniform(0, 2 * np.pi, size=b)
        pitch = np.radians(rng.uniform(-10, 35, size=b))
        target = joints[:, :, 0].mean(axis=1) + np.stack([np.zeros(b), rng.uniform(-0.3, 0.3, b), np.zeros(b)], -1)
        direction = np.stack([np.cos(pitch) * np.sin(yaw), np.sin(pitch), np.cos(pitch) * np.cos(yaw)], -1)
        position = target + distance[:, None] * direction
        forward = normalize(target - position)
        right = normalize(np.cross(forward, WORLD_UP))
        down = np.cross(forward, right)
        rotation = np.stack([right, down, forward], axis=1)  # rows: camera axes in world coordinates
        # Roll and off-centre framing (pan/tilt in the camera frame).
        half_fov_x = np.arctan(width / (2 * focal))
        half_fov_y = np.arctan(height / (2 * focal))
        pan = rng.uniform(-0.4, 0.4, b) * half_fov_x
        tilt = rng.uniform(-0.4, 0.4, b) * half_fov_y
        roll = np.clip(rng.normal(0, 3, b), -10, 10)  # a level camera, held or on a tripod
        if augment:
            # Cameras mounted or held at an angle: the Pose2Sim demo's are rolled by 3-26 degrees.
            tilted = rng.random(b) < self.config.tilted_camera_prob
            roll = np.where(tilted, rng.uniform(-self.config.tilted_roll_deg, self.config.tilted_roll_deg, b), roll)
        roll = np.radians(roll)
        offset = axis_angle_to_matrix(np.stack([tilt, pan, roll], -1))
        rotation = (offset @ rotation).astype(F32)
        position = position.astype(F32)

        def to_camera(points):
            return (points - position[:, None, None]) @ rotation.transpose(0, 2, 1)[:, None]

        cam_joints, cam_keypoints = to_camera(joints), to_camera(keypoints)
        # A detector only sees people inside the frame and in front of the camera: first move the camera back
        # until everything is at least 1 m in front of it, then, where a window's motion leaves the image,
        # back along its axis by 5% more than its outermost keypoint needs (the median depth 25 m at most).
        def push_back(amount: np.ndarray) -> None:
            cam_joints[..., 2] += amount[:, None, None].astype(F32)
            cam_keypoints[..., 2] += amount[:, None, None].astype(F32)

        nearest = np.minimum(cam_joints[..., 2].min(axis=(1, 2)), cam_keypoints[..., 2].min(axis=(1, 2)))
        push_back(np.maximum(0.0, 1.0 - nearest))
        half_extent = (np.stack([width, height], -1)[:, None, None] / (2 * focal[:, None, None, None])).astype(F32)
        # A point at lateral offset x fits at depth z >= |x| / half extent; moving back adds to every z alike.
        needed = (np.abs(cam_keypoints[..., :2]) / half_extent - cam_keypoints[..., 2:3]).max(axis=(1, 2, 3))
        room = np.maximum(0.0, 25.0 - np.median(cam_keypoints[..., 2], axis=(1, 2)))
        push_back(np.clip(needed * 1.05, 0.0, room))
        xy = cam_keypoints[..., :2] / cam_keypoints[..., 2:3]
        known = (rng.random(b) < self.config.known_intrinsics_prob) if augment else np.ones(b, bool)
        focal_ratio = np.ones(b)
        if augment and (~known).any():
            # Unknown intrinsics: the true lens distorts, the lifter assumes the default camera.
            radial = np.stack([rng.uniform(-0.25, 0.08, b), rng.uniform(-0.05, 0.1, b), np.zeros(b)], -1)
            tangential = rng.normal(0, 0.001, (b, 2))
            centre_shift = rng.normal(0, 0.02, (b, 2)) * np.stack([width, height], -1)
            default_focal = long_side * DEFAULT_FOCAL_35MM / 36.0
            u = np.flatnonzero(~known)  # drawn for every window above, computed for these
            seen, f = xy[u], focal[u, None, None, None]
            # The polynomial only describes the lens inside the frame: clamp the radius to the image corner.
            corner = np.hypot(width[u], height[u])[:, None, None, None] / (2 * f)
            radius = np.linalg.norm(seen, axis=-1, keepdims=True)
            inside = seen * np.minimum(1.0, corner / np.maximum(radius, 1e-9))
            distorted = brown_conrady(inside, radial[u, None, None], tangential[u, None, None])
            pixels = (distorted + (seen - inside)) * f + centre_shift[u, None, None]
            xy[u] = pixels / default_focal[u, None, None, None]
            focal_ratio = np.where(known, 1.0, default_focal / focal)
        # Pixel noise is modelled relative to the person's size below; this is the camera's share only.
        return cam_joints, focal_ratio, xy

    # -- detector errors ------------------------------------------------------------------------------
    def _detector_errors(self, xy: np.ndarray, augment: bool) -> np.ndarray:
        rng, cfg = self.rng, self.config
        b, length, joints, _ = xy.shape
        confidence = np.ones((b, length, joints), F32)
        if not augment:
            return np.concatenate([xy, confidence[..., None]], axis=-1)
        size = np.ptp(xy[..., 1], axis=-1).mean(axis=1)[:, None, None, None] + 1e-6
        level = self._uniform(0, cfg.max_noise, size=(b, 1, 1, 1))
        scaled = level * JOINT_NOISE_WEIGHT[None, None, :, None] * size  # per window and joint
        noise = self._normal(0.012, xy.shape) * scaled
        # Temporally correlated drift: AR(1) with correlation 0.9, unit stationary variance.
        drift = np.empty_like(xy)
        innovations = self._normal(np.sqrt(1 - 0.9**2), xy.shape)
        drift[:, 0] = self._normal(1.0, (b, joints, 2))
        for t in range(1, length):
            np.multiply(drift[:, t - 1], F32(0.9), out=drift[:, t])
            drift[:, t] += innovations[:, t]
        noise += drift * (F32(0.015) * scaled)
        noise += self._normal(0.01, (b, 1, joints, 2)) * scaled  # systematic per window
        error = np.hypot(noise[..., 0], noise[..., 1])
        confidence = np.clip(F32(0.95) - error / (F32(0.1) * size[..., 0]) + self._normal(0.05, error.shape),
                             F32(0.05), F32(1.0))
        # Outliers: a joint jumps far, with middling confidence (drawn for those joints only: 1-2% of them).
        outlier = np.nonzero(self.rng.random((b, length, joints), dtype=F32) < F32(0.02) * level[..., 0])
        count = len(outlier[0])
        window_size = size[outlier[0], 0, 0]  # (count, 1)
        noise[outlier] = normalize(self._normal(1.0, (count, 2))) * self._uniform_big(0.1, 0.4, (count, 1)) * window_size
        confidence[outlier] = self._uniform_big(0.1, 0.6, count)
        # Missing joints: confidence 0, position roughly interpolated (the lifter fills gaps the same way).
        missing = self.rng.random((b, length, joints), dtype=F32) < F32(0.03) * level[..., 0]
        missing |= (self.rng.random((b, length, 1), dtype=F32) < F32(0.01) * level[..., 0])
        missing = np.nonzero(missing)
        noise[missing] = self._normal(0.05, (len(missing[0]), 2)) * size[missing[0], 0, 0]
        confidence[missing] = 0.0
        # Some sources give no confidence at all.
        no_conf = rng.random(b) < cfg.no_confidence_prob
        confidence[no_conf] = 1.0
        return np.concatenate([xy + noise, confidence[..., None]], axis=-1)

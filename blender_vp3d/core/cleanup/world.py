"""From the lifter's camera frame to a Z-up world with the floor at z = 0 (Blender's convention).

The lifter gives joints in the camera frame (x right, y down, z forward). Blender's world is x right,
y forward (into the scene), z up. Between the two lie the camera's unknown pitch and roll relative to the
ground, the camera's height above the floor, and (optionally) the subject's scale and facing. This module
estimates them from the body alone and returns them as a :class:`WorldAlignment`, so the preview and the
export can place a camera that sees what the video saw:

    world = scale * rotation @ camera + translation

1. **Up** is first a prior: with an ``up_estimator`` (:mod:`.gravity`, the capture's default) what the
   learned estimator reads from the poses; without one, the body's axis: the mean direction from the ankles'
   midpoint to the thorax over the fifth of the frames where the person stands most upright (straight knees,
   legs together, trunk in line with them). Then the floor refines it: the ankle positions while the feet
   are slow and low form the floor plane; its normal replaces the prior along the directions where those
   points spread enough to define it (a Tikhonov blend, ``floor_prior_m``), with points well above the plane
   trimmed and the fit repeated. A subject walking about fixes the tilt from the floor; one standing still
   keeps the prior.
   The floor points are only as good as the lifter's trajectory (errors of 20-30 cm), so they must spread
   by about that much before they outweigh the prior: ``benchmarks/world_alignment.py`` measures the
   up error by prior on held-out mocap, ``benchmarks/video_accuracy.py`` against calibrated cameras.
2. **Yaw**: by default the camera's forward, projected onto the floor, becomes +Y, so a Blender camera at
   :meth:`WorldAlignment.camera_matrix_world` sees the subject as the video did. With ``face_viewer`` the
   subject instead faces -Y in the first frames, i.e. faces Blender's front view (which looks along +Y).
3. **Scale**: the model's metric scale, or the one that makes the subject ``subject_height_m`` tall:
   height = (head top - lower ankle, a high percentile over frames) + ``ankle_height_m``.
4. **Floor**: z = 0 lies ``ankle_height_m`` below a low percentile of the lower ankle's height over frames.
   The default ankle height is anatomical: COCO annotates ankles at the malleolus, about 8 cm above the
   floor for an adult. (Bandai's mocap skeleton, which the lifter learned from, has its ankle joints
   0.117 m above the floor; pass that for its ground truth.)
5. **Origin**: the subject's first-frame pelvis above (0, 0) by default (``center_subject``), or the camera
   above the origin. ``in_place`` keeps the pelvis's horizontal position at its first-frame value (height
   and the body's motion relative to it unchanged).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checks import check_positive
from ..rotations import angle_between_deg, axis_rotation, normalize, rotation_between
from ..skeleton import H36M17, leg_length

if TYPE_CHECKING:
    from .gravity import UpEstimator

logger = logging.getLogger(__name__)

DEFAULT_ANKLE_HEIGHT_M = 0.08
"""Height of the ankle keypoint above the floor when the foot is flat (lateral malleolus of an adult)."""
DEFAULT_FLOOR_PRIOR_M = 0.3
"""How far (metres) the floor points must spread in a direction before they decide the tilt along it.

About the lifter's trajectory error: with 0.05 the floor fit followed the trajectory's depth errors, and the
mean up error on held-out mocap through session 5's lifter was 12.0 degrees (CMU) and 9.3 (Bandai), against 6.6 and
5.5 with 0.3 (``benchmarks/world_alignment.py``); on the calibrated Pose2Sim cameras the pitch error fell
from 8.6 to about 5 degrees. Exact 3D would want a smaller one."""
SUBJECT_HEIGHT_RANGE_M = (0.3, 3.0)
"""The subject heights ``align_to_world`` accepts, metres (``CaptureSettings.height_m`` checks them up front)."""

# Camera frame (x right, y down, z forward) to the level "naive" world (x right, y forward, z up).
CAMERA_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

_J = {name: i for i, name in enumerate(H36M17.joint_names)}
_ANKLES = [_J["left_ankle"], _J["right_ankle"]]
FACING_FRAMES = 5           # frames whose mean hip and shoulder lines give the initial facing
UPRIGHT_FRACTION = 0.2      # the share of frames, most upright first, whose body axis gives up
FLOOR_ITERATIONS = 4


@dataclass(frozen=True)
class WorldAlignment:
    """The similarity transform from the lifter's camera frame to the Z-up world, and what it is made of.

    rotation:      (3, 3) camera -> world rotation (pitch, roll and yaw included).
    translation:   (3,) world position of the camera centre, metres; ``translation[2]`` is its height.
    scale:         uniform factor applied to the lifter's metres (1.0 without ``subject_height_m``).
    floor_height:  z of the floor in the scaled, rotated frame before translation (the camera's height
                   above the floor is ``-floor_height``).
    facing_deg:    rotation about world Z (degrees, counter-clockwise seen from above) that was applied
                   after levelling: turns the camera's forward onto +Y, or the subject's onto -Y.
    pitch_deg:     the camera's tilt below the horizon (positive: looking down).
    roll_deg:      the camera's roll about its forward axis (positive: the world's up appears tilted to the
                   image's right, i.e. the camera turned counter-clockwise as seen from behind).
    up_camera:     (3,) the world's up direction in camera coordinates.
    face_viewer, center_subject, in_place: the options the motion was aligned with.
    ankle_height_m: the ankle height above the floor that was assumed.
    """

    rotation: np.ndarray
    translation: np.ndarray
    scale: float
    floor_height: float
    facing_deg: float
    pitch_deg: float
    roll_deg: float
    up_camera: np.ndarray
    face_viewer: bool
    center_subject: bool
    in_place: bool
    ankle_height_m: float

    def apply(self, points_camera: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) to world points (no ``in_place`` correction: that is per frame)."""
        points = np.asarray(points_camera, dtype=np.float64)
        return self.scale * points @ self.rotation.T + self.translation

    def camera_matrix_world(self) -> np.ndarray:
        """4x4 world matrix of a Blender camera object that sees what the video saw.

        Blender cameras look along their local -Z with +Y up; the lifter's camera looks along +Z with +Y
        down, hence the flip of y and z. The focal length is unchanged by the alignment (a uniform scale
        about the camera centre changes no projection).
        """
        matrix = np.eye(4)
        matrix[:3, :3] = self.rotation @ np.diag([1.0, -1.0, -1.0])
        matrix[:3, 3] = self.translation
        return matrix

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays as lists)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, np.ndarray):
                out[key] = value.tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldAlignment:
        missing = set(cls.__dataclass_fields__) - set(data)
        if missing:
            raise ValueError(f"world alignment is missing {', '.join(sorted(missing))}")
        values = dict(data)
        values["rotation"] = np.asarray(values["rotation"], dtype=np.float64).reshape(3, 3)
        values["translation"] = np.asarray(values["translation"], dtype=np.float64).reshape(3)
        values["up_camera"] = np.asarray(values["up_camera"], dtype=np.float64).reshape(3)
        return cls(**{k: values[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class WorldResult:
    """Joints (T, 17, 3) and root trajectory (T, 3) in the Z-up world (metres), and the alignment used."""

    joints: np.ndarray
    trajectory: np.ndarray
    alignment: WorldAlignment


def align_to_world(joints: np.ndarray, trajectory: np.ndarray, *, subject_height_m: float | None = None,
                   face_viewer: bool = False, center_subject: bool = True, in_place: bool = False,
                   ankle_height_m: float = DEFAULT_ANKLE_HEIGHT_M, floor_percentile: float = 20.0,
                   floor_prior_m: float = DEFAULT_FLOOR_PRIOR_M,
                   up_estimator: UpEstimator | None = None) -> WorldResult:
    """Place the lifter's output in a Z-up world (see the module docstring).

    ``joints`` (T, 17, 3) are H36M-17 joints relative to the pelvis and ``trajectory`` (T, 3) the pelvis
    positions, both in the camera frame (x right, y down, z forward), metres, as ``Lifter.lift`` returns.
    ``floor_percentile`` is the percentile of the lower ankle's height that sits at ``ankle_height_m``;
    ``floor_prior_m`` is how far (metres) the floor points must spread in a direction before they, rather
    than the prior, decide the tilt along it. ``up_estimator`` gives the prior up instead of the body axis
    (step 1 of the module docstring).
    """
    joints, trajectory = _check_inputs(joints, trajectory)
    low, high = SUBJECT_HEIGHT_RANGE_M
    if subject_height_m is not None and (not math.isfinite(subject_height_m) or not low <= subject_height_m <= high):
        raise ValueError(f"subject_height_m must be between {low} and {high} metres, got {subject_height_m!r}")
    if not math.isfinite(ankle_height_m) or not 0.0 <= ankle_height_m < 0.5:
        raise ValueError(f"ankle_height_m must be in [0, 0.5) metres, got {ankle_height_m!r}")
    if not 0.0 <= floor_percentile <= 50.0:
        raise ValueError(f"floor_percentile must be in [0, 50], got {floor_percentile!r}")
    check_positive("floor_prior_m", floor_prior_m)

    camera = joints + trajectory[:, None, :]          # absolute positions, camera frame
    naive = camera @ CAMERA_TO_ZUP.T                   # level-camera guess: z up
    prior = CAMERA_TO_ZUP @ up_estimator.up(joints) if up_estimator is not None else body_axis(naive)
    up = _estimate_up(naive, floor_prior_m, prior)
    level = rotation_between(up, np.array([0.0, 0.0, 1.0])) @ CAMERA_TO_ZUP
    levelled = camera @ level.T

    if face_viewer:
        left = (levelled[:FACING_FRAMES, _J["left_hip"]] - levelled[:FACING_FRAMES, _J["right_hip"]]
                + levelled[:FACING_FRAMES, _J["left_shoulder"]] - levelled[:FACING_FRAMES, _J["right_shoulder"]])
        forward = np.cross(left.mean(axis=0), [0.0, 0.0, 1.0])
        if np.linalg.norm(forward[:2]) < 1e-9:
            raise ValueError("cannot tell which way the subject faces in the first frames (no hip/shoulder width)")
        yaw = math.atan2(forward[0], forward[1]) - math.pi   # turns forward onto -Y
    else:
        forward = level @ np.array([0.0, 0.0, 1.0])          # the camera's optical axis
        yaw = math.atan2(forward[0], forward[1]) if np.linalg.norm(forward[:2]) > 1e-9 else 0.0
    yaw = math.remainder(yaw, 2.0 * math.pi)
    rotation = axis_rotation("Z", np.float64(yaw)) @ level
    oriented = camera @ rotation.T

    scale = 1.0
    lower_ankle = oriented[:, _ANKLES, 2].min(axis=1)
    if subject_height_m is not None:
        head_to_ankle = float(np.percentile(oriented[:, _J["head_top"], 2] - lower_ankle, 90.0))
        if head_to_ankle <= 0:
            raise ValueError("the head top is not above the ankles: cannot measure the subject's height")
        if subject_height_m <= ankle_height_m:
            raise ValueError(f"subject_height_m ({subject_height_m}) must exceed ankle_height_m ({ankle_height_m})")
        scale = (subject_height_m - ankle_height_m) / head_to_ankle
    scaled = scale * oriented
    floor = float(np.percentile(scale * lower_ankle, floor_percentile)) - ankle_height_m
    if center_subject:
        translation = np.array([-scaled[0, 0, 0], -scaled[0, 0, 1], -floor])
    else:
        translation = np.array([0.0, 0.0, -floor])
    world = scaled + translation
    if in_place:
        world[..., :2] -= (world[:, 0, :2] - world[0, 0, :2])[:, None, :]

    up_camera = up @ CAMERA_TO_ZUP          # naive -> camera: the inverse (transpose) of CAMERA_TO_ZUP
    alignment = WorldAlignment(
        rotation=rotation,
        translation=translation,
        scale=float(scale),
        floor_height=floor,
        facing_deg=math.degrees(yaw),
        pitch_deg=math.degrees(math.asin(float(np.clip(-up_camera[2], -1.0, 1.0)))),
        roll_deg=math.degrees(math.atan2(up_camera[0], -up_camera[1])),
        up_camera=up_camera,
        face_viewer=bool(face_viewer),
        center_subject=bool(center_subject),
        in_place=bool(in_place),
        ankle_height_m=float(ankle_height_m),
    )
    logger.info("world alignment: pitch %.1f deg, roll %.1f deg, yaw %.1f deg, scale %.3f, camera %.2f m above floor",
                alignment.pitch_deg, alignment.roll_deg, alignment.facing_deg, scale, -floor)
    return WorldResult(joints=world, trajectory=world[:, 0].copy(), alignment=alignment)


# ------------------------------------------------------------------------------------------ up direction

def body_axis(points: np.ndarray) -> np.ndarray:
    """Mean unit direction from the ankles' midpoint to the thorax over the most upright frames, (3,).

    A frame's departure from standing upright is its largest angle among: each knee's bend, the two legs'
    spread (hip-to-ankle lines) and the trunk's angle to the line from the ankles to the pelvis. The
    ``UPRIGHT_FRACTION`` of frames (at least 3) with the smallest departure count. Ranking rather than a
    threshold keeps a clip without a single upright frame from falling back to all of them, and the legs'
    spread ranks strides and one-leg balances below standing, where the trunk can line up with the legs'
    midline while the whole body leans. A body leaning as one straight line (the demo, as the lifter sees
    it: ``benchmarks/demo_lean.py``) still looks upright to every such test. On held-out mocap through session 5's
    lifter this cut the mean up error on the CMU subjects from 8.1 to 6.6 degrees (90th percentile 19.8 to 10.6),
    Bandai unchanged at 5.5 (``benchmarks/world_alignment.py``).
    """
    mid_ankle = points[:, _ANKLES].mean(axis=1)
    pelvis, thorax = points[:, _J["pelvis"]], points[:, _J["thorax"]]
    departure = angle_between_deg(pelvis - mid_ankle, thorax - pelvis)
    for side in ("left", "right"):
        hip, knee, ankle = (points[:, _J[f"{side}_{name}"]] for name in ("hip", "knee", "ankle"))
        departure = np.maximum(departure, angle_between_deg(knee - hip, ankle - knee))
    spread = angle_between_deg(points[:, _J["left_ankle"]] - points[:, _J["left_hip"]],
                        points[:, _J["right_ankle"]] - points[:, _J["right_hip"]])
    departure = np.maximum(departure, spread)
    count = min(len(points), max(3, round(UPRIGHT_FRACTION * len(points))))
    upright = np.argsort(departure, kind="stable")[:count]
    axis = normalize(thorax - mid_ankle)[upright].mean(axis=0)
    if np.linalg.norm(axis) < 1e-6:
        raise ValueError("cannot find the body's up direction (thorax and ankles coincide)")
    return normalize(axis)


def _estimate_up(points: np.ndarray, prior_m: float, prior: np.ndarray) -> np.ndarray:
    """Up direction (3,) in the frame of ``points``: the ``prior`` up refined by the floor plane."""
    leg = leg_length(points)
    ankles = points[:, _ANKLES]                                   # (T, 2, 3)
    step = np.linalg.norm(np.diff(ankles, axis=0), axis=-1)       # (T-1, 2), per frame
    if len(step) == 0:
        return prior
    step = np.concatenate([step[:1], step])
    slow = step <= np.percentile(step, 50.0)
    candidates = ankles[slow]                                     # (N, 3)
    if len(candidates) < 3:
        return prior
    up = prior
    trim = 0.1 * leg
    for _ in range(FLOOR_ITERATIONS):
        height = candidates @ up
        floor = np.percentile(height, 10.0)
        keep = np.abs(height - floor) < trim
        if keep.sum() < 3:
            break
        kept = candidates[keep]
        centred = kept - kept.mean(axis=0)
        scatter = centred.T @ centred / len(kept)
        blended = np.linalg.solve(scatter + prior_m**2 * np.eye(3), prior_m**2 * prior)
        up = normalize(blended)
        if up @ prior < 0:
            up = -up
    logger.debug("up: prior %s, after floor fit %s (%.2f deg apart)", np.round(prior, 4), np.round(up, 4),
                 angle_between_deg(up, prior))
    return up


def _check_inputs(joints: np.ndarray, trajectory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    joints = np.asarray(joints, dtype=np.float64)
    trajectory = np.asarray(trajectory, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (H36M17.num_joints, 3):
        raise ValueError(f"need H36M-17 joints of shape (T, 17, 3), got {joints.shape}")
    if len(joints) == 0:
        raise ValueError("need at least one frame, got none")
    if trajectory.shape != (len(joints), 3):
        raise ValueError(f"trajectory must be (T, 3) = ({len(joints)}, 3), got {trajectory.shape}")
    if not (np.all(np.isfinite(joints)) and np.all(np.isfinite(trajectory))):
        raise ValueError("joints or trajectory contain NaN or inf")
    return joints, trajectory

"""Foot contacts and foot locking: planted feet stay planted.

A lifted motion's feet slide while they should stand still ("foot skating"): small errors of the root
trajectory and of the legs move a planted ankle by centimetres from frame to frame. This module

1. finds when each foot is planted (:func:`detect_contacts`): the ankle is low (near the lowest level it
   reaches in the clip, i.e. the floor) and slow. Thresholds are in leg lengths and seconds, so they hold
   for any subject size and frame rate; hysteresis (separate on and off thresholds), a minimum contact
   duration and the filling of short gaps keep noise from flickering the state;
2. pins each planted ankle (:func:`lock_feet`) to one position per contact (the mean over the contact, or
   its first frame), fading the correction in before and out after the contact so nothing pops, and moves
   the knee by two-bone inverse kinematics: hip fixed, thigh and shin lengths kept, knee in the plane of hip,
   new ankle and original knee. Where the leg cannot reach its pin (the body moved too far from it), the
   contact is released for those frames, so the flag never says "planted" while the foot slides; the lock
   fades out into the release like at any contact's end, and the remaining parts are pinned again;
3. measures skating (:func:`skating_speed`): the mean horizontal ankle speed during contacts.

Everything works on world joints (T, 17, 3) in the Z-up frame of ``core.cleanup.world`` (metres, z up, floor near
z = 0); only the z axis's meaning (up) matters here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..checks import check_positive
from ..skeleton import H36M17, check_h36m_joints, leg_length

logger = logging.getLogger(__name__)

LEFT, RIGHT = 0, 1  # columns of a (T, 2) contact array
MAX_RELEASE_PASSES = 8  # lock, release unreachable frames, lock again with the new pins
MAX_HEEL_RISE = 0.1     # leg lengths: a pinned ankle that must rise more than this cannot reach its pin
LEGS = (
    (H36M17.index("left_hip"), H36M17.index("left_knee"), H36M17.index("left_ankle")),
    (H36M17.index("right_hip"), H36M17.index("right_knee"), H36M17.index("right_ankle")),
)


@dataclass(frozen=True)
class ContactSettings:
    """Thresholds of :func:`detect_contacts`; lengths in leg lengths (hip to ankle), times in seconds.

    A foot enters contact when its ankle is less than ``height_on`` above the clip's floor level (the 5th
    percentile of the lower ankle's height) *and* slower than ``speed_on``; it leaves when it rises above
    ``height_off`` *or* moves faster than ``speed_off``. Speeds are central differences over
    ``speed_window_s``. Gaps up to ``max_gap_s`` between contacts are filled, then contacts shorter than
    ``min_duration_s`` are dropped.

    The defaults were set on held-out Bandai walks and runs (leg 0.8 m; walking stance ankle speeds
    0.01-0.3 m/s, swing 2-3 m/s; a running stance dips below 0.8 m/s for only 4-5 frames at 30 fps). The
    ankle is no foot: it moves during heel strike and push-off, so the speed thresholds trade how much of a
    stance is locked (about 49% of walking frames per foot, 14% of running ones) against how far the true
    ankle moves while locked (0.15 m/s mean in those walks).
    
    """

    height_on: float = 0.08
    height_off: float = 0.10
    speed_on: float = 0.7
    speed_off: float = 1.0
    speed_window_s: float = 0.1
    min_duration_s: float = 0.1
    max_gap_s: float = 0.07

    def __post_init__(self) -> None:
        for name in ("height_on", "height_off", "speed_on", "speed_off", "speed_window_s", "min_duration_s"):
            check_positive(f"ContactSettings.{name}", getattr(self, name))
        if not math.isfinite(self.max_gap_s) or self.max_gap_s < 0:
            raise ValueError(f"ContactSettings.max_gap_s must be >= 0, got {self.max_gap_s!r}")
        if self.height_off < self.height_on or self.speed_off < self.speed_on:
            raise ValueError("ContactSettings: the off thresholds must not be below the on thresholds (hysteresis)")


@dataclass(frozen=True)
class FootLockResult:
    """Output of :func:`lock_feet`.

    joints:            (T, 17, 3) joints with pinned ankles and re-solved knees (other joints unchanged).
    skating_before:    mean horizontal ankle speed during the given contacts before locking, metres per second.
    skating_after:     the same after locking, during ``contacts``.
    unreachable_frames: frames where a pinned ankle was out of the straight leg's reach, so the heel rises
                       (or, rarely, the ankle stops short of the pin; see ``_two_bone_ik``).
    contacts:          (T, 2) the contacts that were locked: the given ones less the frames released because
                       the leg could not reach its pin horizontally. Save these with the motion.
    released_frames:   how many foot-frames were released.
    """

    joints: np.ndarray
    skating_before: float
    skating_after: float
    unreachable_frames: int
    contacts: np.ndarray | None = None
    released_frames: int = 0


def detect_contacts(joints: np.ndarray, *, fps: float, settings: ContactSettings | None = None) -> np.ndarray:
    """(T, 2) bool: whether the left and right foot are planted in each frame of Z-up world joints."""
    joints = check_h36m_joints(joints)
    fps = _check_fps(fps)
    settings = settings or ContactSettings()
    frames = len(joints)
    contacts = np.zeros((frames, 2), dtype=bool)
    if frames < 2:
        return contacts
    leg = leg_length(joints)
    if not leg > 0:
        raise ValueError("the legs have zero length: cannot scale foot-contact thresholds")
    ankles = joints[:, [LEGS[LEFT][2], LEGS[RIGHT][2]]]                # (T, 2, 3)
    floor = float(np.percentile(ankles[..., 2].min(axis=1), 5.0))
    height = (ankles[..., 2] - floor) / leg                             # leg lengths above the floor level
    speed = _speed(ankles, fps, settings.speed_window_s) / leg          # leg lengths per second
    max_gap = int(round(settings.max_gap_s * fps))
    min_frames = max(1, int(math.ceil(settings.min_duration_s * fps - 1e-9)))
    for foot in (LEFT, RIGHT):
        state = False
        for t in range(frames):
            if state:
                state = height[t, foot] <= settings.height_off and speed[t, foot] <= settings.speed_off
            else:
                state = height[t, foot] < settings.height_on and speed[t, foot] < settings.speed_on
            contacts[t, foot] = state
        contacts[:, foot] = _drop_short(_fill_gaps(contacts[:, foot], max_gap), min_frames)
    logger.debug("contacts: left %.0f%%, right %.0f%% of %d frames", 100 * contacts[:, 0].mean(),
                 100 * contacts[:, 1].mean(), frames)
    return contacts


def contact_intervals(contact: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a (T,) bool array as half-open (start, end) frame intervals."""
    contact = np.asarray(contact, dtype=bool)
    if contact.ndim != 1:
        raise ValueError(f"need a (T,) bool array, got shape {contact.shape}")
    edges = np.diff(np.concatenate([[False], contact, [False]]).astype(np.int8))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def skating_speed(joints: np.ndarray, contacts: np.ndarray, *, fps: float) -> float:
    """Mean horizontal ankle speed (units per second) over consecutive frame pairs both in contact.

    Returns 0.0 when there are no such pairs.
    """
    joints = check_h36m_joints(joints)
    contacts = _check_contacts(contacts, len(joints))
    fps = _check_fps(fps)
    speeds = []
    for foot in (LEFT, RIGHT):
        ankle = joints[:, LEGS[foot][2], :2]
        both = contacts[1:, foot] & contacts[:-1, foot]
        speeds.append(np.linalg.norm(np.diff(ankle, axis=0), axis=-1)[both] * fps)
    speeds_all = np.concatenate(speeds)
    return float(speeds_all.mean()) if speeds_all.size else 0.0


def lock_feet(joints: np.ndarray, contacts: np.ndarray, *, fps: float, blend_s: float = 0.1,
              pin: str = "mean", max_blend_speed: float = 1.0) -> FootLockResult:
    """Pin planted ankles (see the module docstring) and re-solve the knees.

    ``contacts`` is (T, 2) bool (left, right), e.g. from :func:`detect_contacts`. ``pin`` is "mean" (the
    ankle's mean position over the contact) or "first" (its position at the contact's first frame).
    ``blend_s`` is how long the correction takes to fade in before and out after each contact, at least;
    a larger correction fades over more frames, so that the fade alone moves the ankle by at most
    ``max_blend_speed`` (units per second) on average.
    """
    joints = check_h36m_joints(joints)
    contacts = _check_contacts(contacts, len(joints))
    fps = _check_fps(fps)
    if not math.isfinite(blend_s) or blend_s < 0:
        raise ValueError(f"blend_s must be a finite number >= 0, got {blend_s!r}")
    if not max_blend_speed > 0:
        raise ValueError(f"max_blend_speed must be > 0, got {max_blend_speed!r}")
    if pin not in ("mean", "first"):
        raise ValueError(f"pin must be 'mean' or 'first', got {pin!r}")
    blend = int(round(blend_s * fps))
    out = joints.copy()
    locked = contacts.copy()
    unreachable = 0
    for foot in (LEFT, RIGHT):
        _, knee, ankle = LEGS[foot]
        clipped = np.zeros(len(joints), dtype=bool)
        for attempt in range(MAX_RELEASE_PASSES):
            new_knee, new_ankle, clipped, sliding = _lock_one(joints, locked[:, foot], foot, blend, pin,
                                                              max_blend_speed / fps)
            out[:, knee], out[:, ankle] = new_knee, new_ankle
            sliding &= locked[:, foot]
            if not sliding.any():
                break
            locked[sliding, foot] = False      # the leg cannot reach: not planted there
            locked[:, foot] = _drop_short(locked[:, foot], 2)
            if attempt == MAX_RELEASE_PASSES - 1:  # the joints must follow the contacts that are kept
                new_knee, new_ankle, clipped, sliding = _lock_one(joints, locked[:, foot], foot, blend, pin,
                                                                  max_blend_speed / fps)
                out[:, knee], out[:, ankle] = new_knee, new_ankle
                locked[sliding & locked[:, foot], foot] = False
        unreachable += int(clipped.sum())
    released = int((contacts & ~locked).sum())
    before = skating_speed(joints, contacts, fps=fps)
    after = skating_speed(out, locked, fps=fps)
    logger.info("foot locking: skating %.3f -> %.3f m/s during contacts (%d frames out of reach, %d released)",
                before, after, unreachable, released)
    return FootLockResult(joints=out, skating_before=before, skating_after=after, unreachable_frames=unreachable,
                          contacts=locked, released_frames=released)


# ------------------------------------------------------------------------------------------ internals

def _lock_one(joints: np.ndarray, contact: np.ndarray, foot: int, blend: int, pin: str, max_blend_step: float):
    """Knee and ankle (T, 3) of one leg locked to the pins of ``contact``; (T,) frames out of reach, and
    (T,) frames where the ankle cannot stay above its pin (it would slide, or rise too far)."""
    hip, knee, ankle = LEGS[foot]
    new_knee, new_ankle = joints[:, knee].copy(), joints[:, ankle].copy()
    clipped = np.zeros(len(joints), dtype=bool)
    sliding = np.zeros(len(joints), dtype=bool)
    offset = _pin_offsets(joints[:, ankle], contact, blend, pin, max_blend_step)
    moved = np.any(offset != 0.0, axis=-1)
    if moved.any():
        new_knee[moved], new_ankle[moved], clipped[moved], sliding[moved] = _two_bone_ik(
            joints[moved, hip], joints[moved, knee], joints[moved, ankle], joints[moved, ankle] + offset[moved],
            fallback_bend=_body_forward(joints[moved]),
        )
    return new_knee, new_ankle, clipped, sliding


def _speed(points: np.ndarray, fps: float, window_s: float) -> np.ndarray:
    """Speed (T, ...) of points (T, ..., 3) by central differences over about ``window_s`` seconds."""
    frames = len(points)
    half = max(1, int(round(window_s * fps / 2)))
    ahead = points[np.minimum(np.arange(frames) + half, frames - 1)]
    behind = points[np.maximum(np.arange(frames) - half, 0)]
    span = (np.minimum(np.arange(frames) + half, frames - 1) - np.maximum(np.arange(frames) - half, 0)) / fps
    span = span.reshape(-1, *([1] * (points.ndim - 2)))
    return np.linalg.norm(ahead - behind, axis=-1) / span


def _fill_gaps(contact: np.ndarray, max_gap: int) -> np.ndarray:
    out = contact.copy()
    if max_gap <= 0:
        return out
    intervals = contact_intervals(contact)
    for (_, end), (start, _) in zip(intervals[:-1], intervals[1:]):
        if start - end <= max_gap:
            out[end:start] = True
    return out


def _drop_short(contact: np.ndarray, min_frames: int) -> np.ndarray:
    out = contact.copy()
    for start, end in contact_intervals(contact):
        if end - start < min_frames:
            out[start:end] = False
    return out


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _pin_offsets(ankle: np.ndarray, contact: np.ndarray, blend: int, pin: str,
                 max_blend_speed: float = math.inf) -> np.ndarray:
    """(T, 3) displacement of one ankle: to its pin inside contacts, fading out over ``blend`` frames around.

    Outside a contact the displacement at its nearest end is carried and faded (smoothstep), so the foot
    leaves and lands with its own motion plus a vanishing correction. A fade lasts longer where the
    displacement is large, so that it moves the ankle by at most ``max_blend_speed`` (units per frame) on
    average. Where the fades of two contacts overlap, the one with the larger weight wins.
    """
    frames = len(ankle)
    offset = np.zeros_like(ankle)
    weight = np.zeros(frames)
    for start, end in contact_intervals(contact):
        target = ankle[start:end].mean(axis=0) if pin == "mean" else ankle[start]
        offset[start:end] = target - ankle[start:end]
        weight[start:end] = 2.0  # inside a contact: always wins
        for edge, step in ((start, -1), (end - 1, 1)):
            jump = float(np.linalg.norm(target - ankle[edge]))
            frames_needed = int(math.ceil(jump / max_blend_speed)) if math.isfinite(max_blend_speed) else 0
            length = max(blend, frames_needed)
            for k in range(1, length + 1):
                t = edge + step * k
                if not 0 <= t < frames:
                    break
                w = float(_smoothstep(np.array(1.0 - k / (length + 1))))
                if w > weight[t]:
                    weight[t] = w
                    offset[t] = w * (target - ankle[edge])
    return offset


def _two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray,
                 fallback_bend: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Knee and ankle (N, 3) reaching ``target`` with the hip fixed and both bone lengths kept.

    The knee stays in the plane through the hip, the target and the original knee (the original knee is the
    pole); for a straight leg, where that plane is undefined, the knee bends towards ``fallback_bend``.
    A target beyond the leg's reach keeps its horizontal position and rises until the straight leg reaches
    it (a planted foot lifting its heel rather than sliding); one whose horizontal distance alone is out of
    reach, or that is closer than the leg can fold, moves along the hip-target line to the nearest reachable
    point. The third output marks the frames where the ankle is not exactly at the target, the fourth those
    where it is not above it either (the foot would slide) or has to rise more than ``MAX_HEEL_RISE`` leg
    lengths to stay above it (the leg cannot reach).
    """
    thigh = np.linalg.norm(knee - hip, axis=-1)
    shin = np.linalg.norm(ankle - knee, axis=-1)
    lo, hi = np.abs(thigh - shin) + 1e-9, thigh + shin - 1e-9
    target = target.copy()
    horizontal = np.linalg.norm(target[:, :2] - hip[:, :2], axis=-1)
    raise_heel = (np.linalg.norm(target - hip, axis=-1) > hi) & (horizontal < hi)
    wanted_z = target[:, 2].copy()
    target[raise_heel, 2] = hip[raise_heel, 2] - np.sqrt(hi[raise_heel] ** 2 - horizontal[raise_heel] ** 2)
    reach = target - hip
    distance = np.linalg.norm(reach, axis=-1)
    clipped = (distance < lo) | (distance > hi) | raise_heel
    tolerance = 1e-6 * hi
    rise = np.where(raise_heel, target[:, 2] - wanted_z, 0.0)
    slides = (distance < lo - tolerance) | (distance > hi + tolerance) | (rise > MAX_HEEL_RISE * hi)
    d = np.clip(distance, lo, hi)
    axis = reach / np.maximum(distance, 1e-12)[:, None]
    pole = knee - hip
    bend = pole - np.sum(pole * axis, axis=-1, keepdims=True) * axis
    bend_norm = np.linalg.norm(bend, axis=-1)
    weak = bend_norm < 1e-6 * np.maximum(thigh, 1e-12)
    if weak.any():
        fb = fallback_bend[weak] - np.sum(fallback_bend[weak] * axis[weak], axis=-1, keepdims=True) * axis[weak]
        bend[weak] = fb
        bend_norm[weak] = np.linalg.norm(fb, axis=-1)
    bend = bend / np.maximum(bend_norm, 1e-12)[:, None]
    along = (thigh**2 - shin**2 + d**2) / (2.0 * d)
    across = np.sqrt(np.maximum(thigh**2 - along**2, 0.0))
    new_knee = hip + along[:, None] * axis + across[:, None] * bend
    new_ankle = hip + d[:, None] * axis
    return new_knee, new_ankle, clipped, slides


def _body_forward(joints: np.ndarray) -> np.ndarray:
    """(N, 3) horizontal facing direction of Z-up bodies: (left hip - right hip) x up."""
    left = joints[:, H36M17.index("left_hip")] - joints[:, H36M17.index("right_hip")]
    return np.cross(left, np.array([0.0, 0.0, 1.0]))


def _check_contacts(contacts: np.ndarray, frames: int) -> np.ndarray:
    contacts = np.asarray(contacts)
    if contacts.shape != (frames, 2):
        raise ValueError(f"contacts must be (T, 2) = ({frames}, 2) bool (left, right), got {contacts.shape}")
    if contacts.dtype != bool:
        raise ValueError(f"contacts must be bool, got {contacts.dtype}")
    return contacts


def _check_fps(fps: float) -> float:
    return check_positive("fps", fps)

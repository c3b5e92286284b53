#!/usr/bin/env python3
"""Real-video accuracy: the monocular capture of one camera against a triangulation from the three others.

Pose2Sim's ``Demo_MultiPerson`` films two people with four calibrated cameras (``calibration/Calib.qca.txt``).
For each camera in turn:

1. our BlazePose detector runs on all four videos (detections cached). It follows one person per video, not
   always the same one: the main person of cam01 is the subject, and wherever another camera's detection is
   not on that person (epipolar distance to cam01's keypoints above 25 px), the detector runs again on a crop
   around the subject's position triangulated from the cameras that do see them;
2. the reference is that person triangulated (confidence-weighted DLT on undistorted keypoints) from the
   *other three* cameras;
3. ``network`` is ``Lifter.lift(..., refine=False)`` on the fourth camera's keypoints of the same person,
   with the lens unknown (the documented default), as a user's capture would be; ``ours`` the same with the
   fit to the 2D keypoints (``refine=True``, the default); ``capture`` the full capture pipeline (fit,
   smoothing, rigid bones, world alignment, foot lock) on those keypoints, whose estimated camera pitch and
   roll are printed beside the calibration's;
4. ``mediapipe`` is MediaPipe's ``pose_world_landmarks`` (``mp.solutions.pose``, ``model_complexity=1``,
   static image mode) on the same frames, each cropped to our person's box so it sees the same person.

Score: P-MPJPE (per-frame similarity alignment) over 14 joints: the 12 limb joints and the hip and shoulder
midpoints, in millimetres, on the frames where every method has a result and the reference every joint; and
MPJVE (jitter: the error of the frame-to-frame velocities of those aligned joints, mm per frame, over pairs of
consecutive such frames). ``Demo_SinglePerson`` is the demo: it is never used here.

``--detect-every N`` runs the tested camera's detector on every N-th frame only (tracking continuous over the
detected frames, :func:`core.detect.tracking.fill_frames` interpolating the others), the reference staying the
every-frame triangulation: on these 60 fps videos N = 2 detects at the lifter's 30 fps.

Usage: ``.venv/bin/python benchmarks/video_accuracy.py [--model NAME|FILE] [--no-mediapipe] [--detect-every N]
[--json OUT]``
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blender_vp3d.core.capture import CaptureSettings, capture, detect  # noqa: E402
from blender_vp3d.core.detect.tracking import fill_frames, select_track  # noqa: E402
from blender_vp3d.core.lift.camera import Intrinsics, pixels_to_normalized  # noqa: E402
from blender_vp3d.core.lift.lifter import Lifter  # noqa: E402
from blender_vp3d.core.output.motion import Motion  # noqa: E402
from blender_vp3d.core.skeleton import COCO17, H36M17  # noqa: E402
from blender_vp3d.core.training.metrics import _procrustes_align, p_mpjpe  # noqa: E402
from blender_vp3d.core.video.reader import probe_video, read_frames  # noqa: E402

DEMO = ROOT / ".cache" / "samples" / "pose2sim" / "Demo_MultiPerson"
LIMBS = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
         "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
# MediaPipe's 33 landmarks: the same limb joints.
MEDIAPIPE_LIMBS = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
MIN_CONFIDENCE = 0.3
EPIPOLAR_PX = 25.0

logger = logging.getLogger("video_accuracy")


@dataclass
class Camera:
    name: str
    intrinsics: Intrinsics
    rotation: np.ndarray     # world to camera
    translation: np.ndarray  # metres: x_cam = R x_world + t

    def normalized(self, pixels: np.ndarray) -> np.ndarray:
        return pixels_to_normalized(pixels, self.intrinsics)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation.T + self.translation


def read_qca(path: Path) -> list[Camera]:
    """Cameras of a Qualisys ``.qca.txt``. Intrinsics are stored in 1/64 pixel; the transform is the camera's
    position (mm) and a rotation whose rows are the camera's axes in world coordinates with y and z pointing
    up and backwards; flipping both gives the usual camera frame (x right, y down, z forward). Checked: the
    four-camera triangulation of Demo_SinglePerson then reprojects with a median of 16 px, every other axis
    convention with 55 px or more."""
    cameras = []
    for node in ElementTree.parse(path).getroot().iter("camera"):
        transform, intrinsic, fov = node.find("transform"), node.find("intrinsic"), node.find("fov_video")
        a = {k: float(v) for k, v in intrinsic.attrib.items()}
        width, height = int(fov.get("right")) + 1, int(fov.get("bottom")) + 1
        intrinsics = Intrinsics(width, height, a["focalLengthU"] / 64, a["focalLengthV"] / 64,
                                a["centerPointU"] / 64, a["centerPointV"] / 64,
                                radial=(a["radialDistortion1"], a["radialDistortion2"], a["radialDistortion3"]),
                                tangential=(a["tangentalDistortion1"], a["tangentalDistortion2"]))
        t = {k: float(v) for k, v in transform.attrib.items()}
        stored = np.array([[t[f"r{i}{j}"] for j in (1, 2, 3)] for i in (1, 2, 3)])
        position = np.array([t["x"], t["y"], t["z"]]) / 1000.0
        rotation = np.diag([1.0, -1.0, -1.0]) @ stored
        cameras.append(Camera(node.get("serial"), intrinsics, rotation, -rotation @ position))
    return cameras


def triangulate(cameras: list[Camera], keypoints: list[np.ndarray]) -> np.ndarray:
    """(T, J, 3) world points from per-camera (T, J, 3) pixel keypoints with confidence (DLT, weighted).
    NaN where fewer than two cameras see a joint confidently."""
    frames, joints = keypoints[0].shape[:2]
    rows = []
    weights = []
    for camera, kp in zip(cameras, keypoints):
        xy = camera.normalized(np.nan_to_num(kp[..., :2]))
        projection = np.concatenate([camera.rotation, camera.translation[:, None]], axis=1)
        conf = np.nan_to_num(kp[..., 2])
        conf = np.where(conf >= MIN_CONFIDENCE, conf, 0.0)
        rows.append(xy[..., 0:1] * projection[2] - projection[0])
        rows.append(xy[..., 1:2] * projection[2] - projection[1])
        weights += [conf, conf]
    a = np.stack(rows, axis=-2) * np.stack(weights, axis=-1)[..., None]  # (T, J, 2C, 4)
    _, _, vt = np.linalg.svd(a)
    homogeneous = vt[..., -1, :]
    points = homogeneous[..., :3] / homogeneous[..., 3:4]
    views = (np.stack(weights[::2], axis=-1) > 0).sum(-1)
    points[views < 2] = np.nan
    return points


def epipolar_distance(a: Camera, b: Camera, kp_a: np.ndarray, kp_b: np.ndarray) -> float:
    """Median distance (normalised image units of b) of b's keypoints from the epipolar lines of a's."""
    relative = b.rotation @ a.rotation.T
    shift = b.translation - relative @ a.translation
    skew = np.array([[0, -shift[2], shift[1]], [shift[2], 0, -shift[0]], [-shift[1], shift[0], 0]])
    essential = skew @ relative
    ok = (np.nan_to_num(kp_a[..., 2]) >= MIN_CONFIDENCE) & (np.nan_to_num(kp_b[..., 2]) >= MIN_CONFIDENCE)
    if ok.sum() < 20:
        return float("inf")
    xa = np.concatenate([a.normalized(kp_a[ok][:, :2]), np.ones((ok.sum(), 1))], axis=1)
    xb = np.concatenate([b.normalized(kp_b[ok][:, :2]), np.ones((ok.sum(), 1))], axis=1)
    lines = xa @ essential.T
    return float(np.median(np.abs((lines * xb).sum(-1)) / np.linalg.norm(lines[:, :2], axis=-1)))


def fourteen_from_coco(points: np.ndarray) -> np.ndarray:
    limbs = points[..., [COCO17.index(n) for n in LIMBS], :]
    return _with_midpoints(limbs)


def fourteen_from_h36m(points: np.ndarray) -> np.ndarray:
    limbs = points[..., [H36M17.index(n) for n in LIMBS], :]
    return _with_midpoints(limbs)


def _with_midpoints(limbs: np.ndarray) -> np.ndarray:
    hips = 0.5 * (limbs[..., 6, :] + limbs[..., 7, :])
    shoulders = 0.5 * (limbs[..., 0, :] + limbs[..., 1, :])
    return np.concatenate([limbs, hips[..., None, :], shoulders[..., None, :]], axis=-2)


def main_person(video: Path) -> np.ndarray:
    """Keypoints (T, 17, 3) of the main person of a video (NaN where absent), from our detector (cached)."""
    info = probe_video(video)
    detections = detect(info, CaptureSettings(), lambda event: None).frames
    person = select_track(detections)
    return np.where(person.present[:, None, None], person.keypoints, np.nan)


def frame_consistent(a: Camera, b: Camera, kp_a: np.ndarray, kp_b: np.ndarray) -> np.ndarray:
    """(T,) whether b's keypoints are of the same person as a's, frame by frame (epipolar distance)."""
    return np.array([epipolar_distance(a, b, np.repeat(kp_a[t:t + 1], 20, 0), np.repeat(kp_b[t:t + 1], 20, 0))
                     * b.intrinsics.fx < EPIPOLAR_PX for t in range(len(kp_a))])


def redetect_on_subject(video: Path, camera: Camera, subject: np.ndarray, keypoints: np.ndarray,
                        redo: np.ndarray) -> np.ndarray:
    """Run our detector on crops around the subject's projected 3D (T, J, 3 world) in the frames ``redo``."""
    from blender_vp3d.core.detect.blazepose import BlazePoseDetector

    out = keypoints.copy()
    detector = BlazePoseDetector()
    try:
        for t, frame in enumerate(read_frames(video)):
            if t >= len(out) or not redo[t]:
                continue
            points = camera.to_camera(subject[t])
            points = points[np.isfinite(points).all(-1) & (points[:, 2] > 0)]
            out[t] = np.nan
            out[t, :, 2] = 0.0
            if len(points) < 4:
                continue
            pixels = points[:, :2] / points[:, 2:3] * [camera.intrinsics.fx, camera.intrinsics.fy] + \
                [camera.intrinsics.cx, camera.intrinsics.cy]
            lo, hi = pixels.min(0), pixels.max(0)
            centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo).max() * 1.5 + 40
            x0, y0 = np.maximum(0, (centre - half).astype(int))
            x1, y1 = np.minimum([frame.image.shape[1], frame.image.shape[0]], (centre + half).astype(int))
            if x1 - x0 < 32 or y1 - y0 < 32:
                continue
            detector.reset()
            found = detector.detect(np.ascontiguousarray(frame.image[y0:y1, x0:x1]))
            if len(found.keypoints):
                out[t] = found.keypoints[0] + [x0, y0, 0]
    finally:
        detector.close()
    return out


def subject_keypoints(cameras: list[Camera], videos: list[Path]) -> tuple[list[np.ndarray], dict[str, float]]:
    """The keypoints of cam01's main person in every camera, and the share of frames re-detected per camera."""
    keypoints = [main_person(v) for v in videos]
    frames = min(len(k) for k in keypoints)
    keypoints = [k[:frames] for k in keypoints]
    consistent = [np.ones(frames, bool)] + [frame_consistent(cameras[0], c, keypoints[0], k)
                                            for c, k in zip(cameras[1:], keypoints[1:])]
    views = [np.where(ok[:, None, None], k, np.nan) for ok, k in zip(consistent, keypoints)]
    for v in views:
        v[..., 2] = np.nan_to_num(v[..., 2])
    subject = _fill_in_time(triangulate(cameras, views))
    redetected = {}
    for i, (camera, video) in enumerate(zip(cameras, videos)):
        redo = ~consistent[i]
        redetected[camera.name] = float(redo.mean())
        if redo.any():
            keypoints[i] = redetect_on_subject(video, camera, subject, keypoints[i], redo)
    return keypoints, redetected


def _fill_in_time(points: np.ndarray) -> np.ndarray:
    """NaN frames of (T, J, 3) filled by linear interpolation per joint (held at the ends)."""
    out = points.copy()
    t = np.arange(len(points))
    for j in range(points.shape[1]):
        ok = np.isfinite(points[:, j]).all(-1)
        if ok.sum() >= 2:
            for axis in range(3):
                out[:, j, axis] = np.interp(t, t[ok], points[ok, j, axis])
    return out


def mediapipe_world(video: Path, keypoints: np.ndarray) -> np.ndarray:
    """(T, 14, 3) MediaPipe world landmarks on crops around our person, NaN where it finds nobody."""
    import mediapipe as mp

    out = np.full((len(keypoints), 14, 3), np.nan)
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        for t, frame in enumerate(read_frames(video)):
            if t >= len(keypoints):
                break
            kp = keypoints[t]
            ok = np.nan_to_num(kp[:, 2]) >= MIN_CONFIDENCE
            if ok.sum() < 4:
                continue
            image = frame.image
            lo, hi = kp[ok, :2].min(0), kp[ok, :2].max(0)
            centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo).max() * 1.4 + 20
            x0, y0 = np.maximum(0, (centre - half).astype(int))
            x1, y1 = np.minimum([image.shape[1], image.shape[0]], (centre + half).astype(int))
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            result = pose.process(crop)
            if result.pose_world_landmarks is None:
                continue
            landmarks = np.array([[p.x, p.y, p.z] for p in result.pose_world_landmarks.landmark])
            out[t] = _with_midpoints(landmarks[list(MEDIAPIPE_LIMBS)])
    return out


def capture_keypoints(video: Path, keypoints: np.ndarray, camera: Camera, lifter: Lifter) -> Motion:
    """The full capture pipeline's motion from these keypoints (imported as a keypoint file)."""
    import tempfile

    from blender_vp3d.core.detect.imported import save_keypoints_npz

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "keypoints.npz"
        save_keypoints_npz(path, keypoints, (camera.intrinsics.width, camera.intrinsics.height), fps=probe_video(video).fps)
        return capture(video, CaptureSettings(detector=str(path)), lifter=lifter).motion


def demo_cameras(folder: Path) -> tuple[list[Camera], list[Path]]:
    """The calibrated cameras of a Pose2Sim demo folder and their videos, in the calibration's order."""
    calibration = folder / "calibration" / "Calib.qca.txt"
    if not calibration.exists():
        raise SystemExit(f"{folder} is missing: run python3 build.py env")
    cameras = read_qca(calibration)
    return cameras, [folder / "videos" / f"{c.name}.mp4" for c in cameras]


def calibrated_pitch_roll(camera: Camera) -> tuple[float, float]:
    """The camera's pitch and roll (degrees) from its calibration, as ``WorldAlignment`` defines them."""
    up = camera.rotation @ np.array([0.0, 0.0, 1.0])  # the calibration's world is Z up
    return float(np.degrees(np.arcsin(-up[2]))), float(np.degrees(np.arctan2(up[0], -up[1])))


def frame_errors(pred: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.array([p_mpjpe(p[None], r[None]) for p, r in zip(pred, reference)])


def velocity_errors(pred: np.ndarray, reference: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """MPJVE terms: per pair of consecutive valid frames, the mean joint error of the aligned velocities."""
    aligned = np.full_like(pred, np.nan)
    aligned[valid] = _procrustes_align(pred[valid], reference[valid])
    pairs = valid[:-1] & valid[1:]
    velocity_error = np.diff(aligned, axis=0) - np.diff(reference, axis=0)
    return np.linalg.norm(velocity_error[pairs], axis=-1).mean(axis=-1)


def strided_keypoints(video: Path, step: int, full: np.ndarray, subject_view: Camera | None,
                      subject: np.ndarray | None, camera: Camera) -> np.ndarray:
    """Keypoints of the subject detected on every ``step``-th frame, filled in between (T, 17, 3).

    Frames where that detection follows another person than cam01's subject take the every-frame keypoints
    (which were re-detected on the subject), as the every-frame run does."""
    info = probe_video(video)
    detections = detect(info, CaptureSettings(stride=step), lambda event: None).frames
    person = fill_frames(select_track(detections), step, info.frame_count)
    present = person.present[:len(full)]
    keypoints = np.where(present[:, None, None], person.keypoints[:len(full)], np.nan)
    keypoints[..., 2] = np.nan_to_num(keypoints[..., 2])
    if subject_view is not None and subject is not None:
        wrong = present & ~frame_consistent(subject_view, camera, subject, keypoints)
        keypoints[wrong] = full[wrong]
    return keypoints


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="lifter model: a bundled name (default, cmu) or a .npz file")
    parser.add_argument("--no-mediapipe", action="store_true", help="skip MediaPipe (ours only)")
    parser.add_argument("--detect-every", type=int, default=1, metavar="N",
                        help="detect the tested camera on every N-th frame only (default 1: every frame)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.detect_every < 1:
        parser.error("--detect-every must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    cameras, videos = demo_cameras(DEMO)
    lifter = Lifter.load(args.model)

    chosen, redetected = subject_keypoints(cameras, videos)
    frames = len(chosen[0])

    # Consistency of the reference: reprojection of the four-camera triangulation.
    everything = triangulate(cameras, chosen)
    residuals = []
    for camera, kp in zip(cameras, chosen):
        cam_points = camera.to_camera(everything)
        projected = cam_points[..., :2] / cam_points[..., 2:3]
        ok = (np.nan_to_num(kp[..., 2]) >= MIN_CONFIDENCE) & np.isfinite(projected).all(-1)
        residuals.append(np.linalg.norm(projected[ok] - camera.normalized(kp[ok][:, :2]), axis=-1) * camera.intrinsics.fx)
    print(f"reference: 4-camera triangulation reprojects with median {np.median(np.concatenate(residuals)):.1f} px; "
          f"re-detected on the subject: {', '.join(f'{k} {100 * v:.0f}%' for k, v in redetected.items())} of frames")

    header = f"{'camera':8s} {'frames':>6s} {'network':>8s} {'ours':>8s} {'capture':>8s}" + (
        "" if args.no_mediapipe else f" {'mediapipe':>10s} {'ours/mp':>8s}")
    print("P-MPJPE, mm, 14 joints (12 limb joints, hip and shoulder midpoints)")
    print(header)
    figures: dict = {}
    totals: dict[str, list[np.ndarray]] = {"network": [], "ours": [], "capture": [], "mediapipe": []}
    velocity_totals: dict[str, list[np.ndarray]] = {name: [] for name in totals}
    alignments: dict[str, dict[str, float]] = {}
    for index, (camera, video) in enumerate(zip(cameras, videos)):
        others = [i for i in range(len(cameras)) if i != index]
        reference = fourteen_from_coco(triangulate([cameras[i] for i in others], [chosen[i] for i in others]))
        keypoints = chosen[index]
        if args.detect_every > 1:
            keypoints = strided_keypoints(video, args.detect_every, keypoints, cameras[0] if index else None,
                                          chosen[0] if index else None, camera)
        size = (camera.intrinsics.width, camera.intrinsics.height)
        network = fourteen_from_h36m(lifter.lift(keypoints, image_size=size, refine=False).joints)
        ours = fourteen_from_h36m(lifter.lift(keypoints, image_size=size).joints)
        motion = capture_keypoints(video, keypoints, camera, lifter)
        captured = fourteen_from_h36m(motion.joints[:frames])
        true_pitch, true_roll = calibrated_pitch_roll(camera)
        alignments[camera.name] = {"pitch_deg": motion.alignment["pitch_deg"], "roll_deg": motion.alignment["roll_deg"],
                                   "calibrated_pitch_deg": true_pitch, "calibrated_roll_deg": true_roll}
        methods = {"network": network, "ours": ours, "capture": captured}
        if not args.no_mediapipe:
            methods["mediapipe"] = mediapipe_world(video, keypoints)
        valid = np.isfinite(reference).all(axis=(1, 2)) & np.isfinite(np.nan_to_num(keypoints[..., 2])).all(-1)
        for values in methods.values():
            valid &= np.isfinite(values).all(axis=(1, 2))
        errors = {name: frame_errors(values[valid], reference[valid]) for name, values in methods.items()}
        for name, e in errors.items():
            totals[name].append(e)
        for name, values in methods.items():
            velocity_totals[name].append(velocity_errors(values, reference, valid))
        row = {name: 1000 * float(e.mean()) for name, e in errors.items()}
        figures[camera.name] = {"frames": int(valid.sum()), **row}
        line = f"{camera.name:8s} {int(valid.sum()):6d} {row['network']:8.1f} {row['ours']:8.1f} {row['capture']:8.1f}"
        if "mediapipe" in row:
            line += f" {row['mediapipe']:10.1f} {row['ours'] / row['mediapipe']:8.2f}"
        print(line, flush=True)
    overall = {name: 1000 * float(np.concatenate(e).mean()) for name, e in totals.items() if e}
    line = (f"{'all':8s} {sum(f['frames'] for f in figures.values()):6d} {overall['network']:8.1f} "
            f"{overall['ours']:8.1f} {overall['capture']:8.1f}")
    if "mediapipe" in overall:
        line += f" {overall['mediapipe']:10.1f} {overall['ours'] / overall['mediapipe']:8.2f}"
    print(line)
    figures["all"] = overall
    jitter = {name: 1000 * float(np.concatenate(e).mean()) for name, e in velocity_totals.items() if e}
    print("MPJVE, mm per frame, same joints and frames: " + ", ".join(f"{k} {v:.1f}" for k, v in jitter.items()))
    figures["mpjve"] = jitter
    print("world alignment of the capture, degrees (estimated / calibrated): " + ", ".join(
        f"{name} pitch {a['pitch_deg']:.1f} / {a['calibrated_pitch_deg']:.1f}, roll {a['roll_deg']:.1f} / "
        f"{a['calibrated_roll_deg']:.1f}" for name, a in alignments.items()))
    pitch_error = np.mean([abs(a["pitch_deg"] - a["calibrated_pitch_deg"]) for a in alignments.values()])
    roll_error = np.mean([abs(a["roll_deg"] - a["calibrated_roll_deg"]) for a in alignments.values()])
    print(f"mean absolute error: pitch {pitch_error:.1f}, roll {roll_error:.1f}")
    figures["alignment"] = {**alignments, "mean_abs_pitch_error_deg": float(pitch_error),
                            "mean_abs_roll_error_deg": float(roll_error)}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

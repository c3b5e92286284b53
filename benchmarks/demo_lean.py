#!/usr/bin/env python3
"""The demo's forward lean, in numbers: the capture of cam01 against a 3-camera triangulation.

In ``Demo_SinglePerson`` the man balances on one leg, the other stretched out behind him, his trunk pitched
forward. ``python3 build.py demo`` captures cam01 (``out/cam01_preview.png``); this script measures what that
picture shows. The subject is triangulated from cam02-cam04 (calibrated, as ``video_accuracy.py`` does), and
per frame it prints

- **trunk lean**: the angle between the trunk (hip midpoint to shoulder midpoint) and the world's up, for the
  reference; for the lifter's camera-frame joints against the *calibrated* up (the lifter's own lean); and for
  the capture's world joints against the up the world alignment estimated (what the preview and rig show);
and the means over frames 30-69, where the lean is. The legs are left out: where one leg is stretched behind,
the cameras see them crossed and the triangulated legs jump from frame to frame. The demo is never used for
tuning: this only measures.

Usage: ``.venv/bin/python benchmarks/demo_lean.py [--model NAME|FILE]``
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from video_accuracy import calibrated_pitch_roll, demo_cameras, subject_keypoints, triangulate  # noqa: E402

from blender_vp3d.core.capture import CaptureSettings, capture  # noqa: E402
from blender_vp3d.core.lift.lifter import Lifter  # noqa: E402
from blender_vp3d.core.rotations import angle_between_deg  # noqa: E402
from blender_vp3d.core.skeleton import COCO17, H36M17  # noqa: E402
from blender_vp3d.core.video.reader import probe_video  # noqa: E402

DEMO = ROOT / ".cache" / "samples" / "pose2sim" / "Demo_SinglePerson"
LEAN_FRAMES = slice(30, 70)
C = {name: i for i, name in enumerate(COCO17.joint_names)}
H = {name: i for i, name in enumerate(H36M17.joint_names)}


def trunk(points: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """Per frame, the trunk vector: hip midpoint to shoulder midpoint."""
    def mid(name: str) -> np.ndarray:
        return points[:, [index[f"left_{name}"], index[f"right_{name}"]]].mean(axis=1)
    return mid("shoulder") - mid("hip")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="lifter model: a bundled name (default, cmu) or a .npz file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cameras, videos = demo_cameras(DEMO)
    lifter = Lifter.load(args.model)
    keypoints, _ = subject_keypoints(cameras, videos)
    reference = triangulate(cameras[1:], keypoints[1:])          # world, Z up, COCO-17
    ref_lean = angle_between_deg(trunk(reference, C), np.array([0.0, 0.0, 1.0]))

    camera, video = cameras[0], videos[0]
    fps = probe_video(video).fps
    lifted = lifter.lift(keypoints[0], image_size=(camera.intrinsics.width, camera.intrinsics.height), fps=fps)
    up_in_camera = camera.rotation @ np.array([0.0, 0.0, 1.0])
    lifter_lean = angle_between_deg(trunk(lifted.joints, H), up_in_camera)

    motion = capture(video, CaptureSettings(), lifter=lifter).motion   # what the demo runs (30 fps)
    step = round(fps / motion.fps)
    frames = np.arange(len(motion.joints)) * step
    capture_lean = angle_between_deg(trunk(motion.joints, H), np.array([0.0, 0.0, 1.0]))

    pitch, roll = calibrated_pitch_roll(camera)
    print(f"Demo_SinglePerson cam01; world alignment pitch {motion.alignment['pitch_deg']:.1f}, roll "
          f"{motion.alignment['roll_deg']:.1f} deg; the calibration's {pitch:.1f}, {roll:.1f}")
    print(f"{'frame':>5s}  {'trunk lean, deg: reference':>26s} {'lifter':>7s} {'capture':>8s}")
    for k in range(0, len(frames), 3):
        t = frames[k]
        print(f"{t:5d}  {ref_lean[t]:26.1f} {lifter_lean[t]:7.1f} {capture_lean[k]:8.1f}")
    window = (frames >= LEAN_FRAMES.start) & (frames < LEAN_FRAMES.stop)
    print(f"mean over frames {LEAN_FRAMES.start}-{LEAN_FRAMES.stop - 1}: trunk lean reference "
          f"{np.nanmean(ref_lean[LEAN_FRAMES]):.1f}, lifter {np.nanmean(lifter_lean[LEAN_FRAMES]):.1f}, capture "
          f"{np.nanmean(capture_lean[window]):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

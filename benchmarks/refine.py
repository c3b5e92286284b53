#!/usr/bin/env python3
"""Speed of the 2D fit (``core.lift.refine.refine``) that ``Lifter.lift(..., refine=True)`` runs after the networks.

Times :func:`refine` alone on a synthetic clip (a walking-like skeleton in front of a 1920x1080 camera, its
projection with pixel noise and a few outliers as the keypoints) and prints frames per second, with numpy's BLAS
limited to ``--threads`` (threadpoolctl when installed; the fit is element-wise numpy, so BLAS threads hardly
matter). The lifter's own speed is ``benchmarks/lifter.py``; the issue asks for at least 3,000 frames/s on two
cores so that a capture stays real time.

Usage: ``.venv/bin/python benchmarks/refine.py [--frames 10000] [--repeats 3] [--threads 2]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the fastest counts")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.frames < 2 or args.repeats < 1 or args.threads < 1:
        parser.error("--frames must be at least 2, --repeats and --threads positive")

    import numpy as np

    from blender_vp3d.core.lift.refine import FITTED_COCO, FITTED_H36M, refine

    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:
        pass
    joints, trajectory, keypoints, confidence = synthetic_clip(np, args.frames, fps=60.0, seed=0,
                                                               fitted=(FITTED_H36M, FITTED_COCO))
    result = refine(joints, trajectory, keypoints, confidence, fps=60.0)  # warm-up
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = refine(joints, trajectory, keypoints, confidence, fps=60.0)
        best = min(best, time.perf_counter() - start)
    focal = 1400.0
    print(f"refine: {args.frames} frames, {args.threads} thread(s), numpy {np.__version__}, best of {args.repeats}: "
          f"{args.frames / best:,.0f} frames/s ({1000 * best:.0f} ms); median reprojection error "
          f"{focal * result.error_before:.1f} -> {focal * result.error_after:.1f} px")
    return 0


# A standing H36M-17 skeleton, camera frame (x right, y down, z forward), metres, pelvis at the origin.
REST = [(0, 0, 0), (-0.12, 0, 0), (-0.12, 0.45, 0), (-0.12, 0.88, 0), (0.12, 0, 0), (0.12, 0.45, 0), (0.12, 0.88, 0),
        (0, -0.23, 0), (0, -0.48, 0), (0, -0.58, -0.05), (0, -0.72, 0), (0.17, -0.45, 0), (0.45, -0.45, 0),
        (0.7, -0.45, 0), (-0.17, -0.45, 0), (-0.45, -0.45, 0), (-0.7, -0.45, 0)]


def synthetic_clip(np, frames: int, *, fps: float, seed: int, fitted):
    """Lifter-like input for a known rigid motion: its bones sway about a rest pose 4 m ahead of the camera;
    the keypoints (COCO-17, normalised) are its projection with 1 px noise at f = 1400 and 1% outliers; the
    joints given to the fit have every bone turned off by a few degrees and the depth off by 10 cm."""
    from blender_vp3d.core.skeleton import H36M17

    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    rest = np.asarray(REST, dtype=np.float64)
    parents = list(H36M17.parents)

    def build(sway):
        out = np.zeros((frames, 17, 3))
        for child, parent in enumerate(parents):
            if parent >= 0:
                bone = rest[child] - rest[parent]
                direction = bone / np.linalg.norm(bone) + sway[:, child]
                direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
                out[:, child] = out[:, parent] + np.linalg.norm(bone) * direction
        return out

    phase = rng.uniform(0, 2 * np.pi, (17, 3))
    truth = build(0.4 * np.sin(2 * np.pi * 1.2 * t[:, None, None] + phase))
    joints = build(0.4 * np.sin(2 * np.pi * 1.2 * t[:, None, None] + phase) + rng.normal(0, 0.15, (1, 17, 3)))
    trajectory = np.stack([0.3 * np.sin(0.5 * t), 0.1 + 0.0 * t, 4.0 + 0.5 * np.sin(0.3 * t)], axis=-1)
    absolute = truth + trajectory[:, None]
    keypoints = np.zeros((frames, 17, 2))
    h36m, coco = fitted
    keypoints[:, list(coco)] = absolute[:, list(h36m), :2] / absolute[:, list(h36m), 2:3]
    keypoints += rng.normal(0, 1.0 / 1400.0, keypoints.shape)
    outlier = rng.random((frames, 17)) < 0.01
    keypoints[outlier] += rng.normal(0, 0.05, (int(outlier.sum()), 2))
    confidence = rng.uniform(0.6, 1.0, (frames, 17))
    return joints, trajectory + np.array([0.0, 0.0, 0.1]), keypoints, confidence


if __name__ == "__main__":
    sys.exit(main())

"""Evaluate a model file on the held-out Bandai clips: MPJPE, P-MPJPE, N-MPJPE, MPJVE per action.

    python -m blender_vp3d.core.training.evaluate bundled_models/vp3d_default.npz [--json out/metrics.json]

Each validation clip is seen, whole, through one random virtual camera (fixed seed): once with ground-truth
2D and once with the detector-error model applied. The 2D goes through the public ``Lifter.lift`` in pixels of
a virtual 1920x1080 camera whose focal length the lifter is given, so this measures exactly what ships
(numpy engine, gap filling, edge padding, flip averaging). Skeleton and pose augmentation are off.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import filters
from ..camera import Intrinsics, normalized_to_pixels
from ..lifter import Lifter
from ..metrics import MetricReport, evaluate_by_action
from ..mocap.bandai import Clip, load_split
from .synthetic import SyntheticGenerator

IMAGE_SIZE = (1920, 1080)
FOCAL_PX = 1400.0


def evaluate_model(lifter: Lifter, clips: list[Clip], detector_noise: bool, seed: int = 2024,
                   smoothing: str = "none") -> dict[str, MetricReport]:
    intrinsics = Intrinsics.default(*IMAGE_SIZE, focal_px=FOCAL_PX)
    results = []
    for index, clip in enumerate(tqdm(clips, desc=f"evaluate ({'detector errors' if detector_noise else 'ground-truth 2D'})",
                                      mininterval=5.0)):
        # One camera per clip, the same with and without detector errors.
        generator = SyntheticGenerator(seed=seed * 100_000 + index)
        batch = generator.batch(clip.joints[None].astype(np.float64), clip.head_axes[None].astype(np.float64),
                                augment_body=False, detector_noise=detector_noise, flip=False)
        normalised = batch.inputs[0, :, :, :2].astype(np.float64)
        keypoints = np.concatenate([normalized_to_pixels(normalised, intrinsics), batch.inputs[0, :, :, 2:]], axis=-1)
        out = lifter.lift(keypoints, image_size=IMAGE_SIZE, focal_px=FOCAL_PX)
        joints = filters.smooth(out.joints, smoothing, fps=out.fps) if smoothing != "none" else out.joints
        results.append((clip.action, joints, batch.poses[0].astype(np.float64)))
    return evaluate_by_action(results)


def format_table(reports: dict[str, MetricReport]) -> str:
    lines = ["| action | frames | MPJPE | P-MPJPE | N-MPJPE | MPJVE |", "| --- | --- | --- | --- | --- | --- |"]
    for action, r in reports.items():
        lines.append(f"| {action} | {r.frames} | {1000 * r.mpjpe:.1f} | {1000 * r.p_mpjpe:.1f} | "
                     f"{1000 * r.n_mpjpe:.1f} | {1000 * r.mpjve:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, nargs="?", help="model file (default: the bundled model)")
    parser.add_argument("--json", type=Path, help="write the figures (millimetres) here as JSON")
    parser.add_argument("--max-clips", type=int, default=0, help="evaluate only the first N clips (quick look)")
    parser.add_argument("--smooth", default="none", choices=filters.METHODS,
                        help="apply the capture pipeline's temporal filter to the lifted joints first")
    args = parser.parse_args(argv)
    lifter = Lifter.load(args.model)
    _, validation = load_split()
    if args.max_clips:
        validation = validation[: args.max_clips]
    figures = {}
    for name, noise in (("ground_truth_2d", False), ("detector_errors", True)):
        reports = evaluate_model(lifter, validation, detector_noise=noise, smoothing=args.smooth)
        print(f"\n## {name.replace('_', ' ')}, smoothing {args.smooth} (millimetres; MPJVE per frame at 30 fps)\n")
        print(format_table(reports))
        figures[name] = {action: {k: (1000 * v if k != "frames" else v) for k, v in r.to_dict().items()}
                         for action, r in reports.items()}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

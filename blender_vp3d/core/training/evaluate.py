"""Evaluate a model file on held-out mocap: MPJPE, P-MPJPE, N-MPJPE, MPJVE and joint speed ratio per action.

    python -m blender_vp3d.core.training.evaluate bundled_models/vp3d_default.npz [--json out/metrics.json]
    python -m blender_vp3d.core.training.evaluate --source cmu --focal-scale 0.7
    python -m blender_vp3d.core.training.evaluate cmu            # a bundled model by name

Validation sets: ``bandai`` (held-out styles) and ``cmu`` (held-out subjects 13 and 144, per content
category); both by default. ``--focal-scale S`` tells the lifter a focal length S times the true one (a
wrong guess of the camera).

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

from ..cleanup import filters
from ..lift.camera import Intrinsics, normalized_to_pixels
from ..lift.lifter import Lifter
from .datasets import SOURCES, load_training_data
from .metrics import MetricReport, evaluate_by_action
from .mocap.clip import Clip
from .synthetic import SyntheticGenerator

IMAGE_SIZE = (1920, 1080)
FOCAL_PX = 1400.0


def evaluate_model(lifter: Lifter, clips: list[Clip], detector_noise: bool, seed: int = 2024,
                   smoothing: str = "none", focal_scale: float = 1.0, **lift_options) -> dict[str, MetricReport]:
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
        out = lifter.lift(keypoints, image_size=IMAGE_SIZE, focal_px=FOCAL_PX * focal_scale, **lift_options)
        joints = filters.smooth(out.joints, smoothing, fps=out.fps) if smoothing != "none" else out.joints
        results.append((clip.action, joints, batch.poses[0].astype(np.float64)))
    return evaluate_by_action(results)


def format_table(reports: dict[str, MetricReport]) -> str:
    lines = ["| action | frames | MPJPE | P-MPJPE | N-MPJPE | MPJVE | speed ratio |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for action, r in reports.items():
        lines.append(f"| {action} | {r.frames} | {1000 * r.mpjpe:.1f} | {1000 * r.p_mpjpe:.1f} | "
                     f"{1000 * r.n_mpjpe:.1f} | {1000 * r.mpjve:.2f} | {r.speed_ratio:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", help="a bundled model name (default, cmu) or a model file (default: default)")
    parser.add_argument("--json", type=Path, help="write the figures (millimetres) here as JSON")
    parser.add_argument("--max-clips", type=int, default=0, help="evaluate only the first N clips (quick look)")
    parser.add_argument("--smooth", default="none", choices=filters.METHODS,
                        help="apply the capture pipeline's temporal filter to the lifted joints first")
    parser.add_argument("--source", default=",".join(SOURCES), help="validation sets (bandai,cmu)")
    parser.add_argument("--focal-scale", type=float, default=1.0, help="focal length told to the lifter / true")
    parser.add_argument("--no-refine", action="store_true", help="the networks' output, without the fit to the 2D")
    args = parser.parse_args(argv)
    if not args.focal_scale > 0:
        parser.error("--focal-scale must be positive")
    lifter = Lifter.load(args.model)
    validation_sets = load_training_data().validation
    figures: dict = {}
    for source in [s for s in args.source.split(",") if s]:
        if source not in validation_sets:
            parser.error(f"unknown validation set {source!r}; choose from {', '.join(validation_sets)}")
        clips = validation_sets[source][: args.max_clips] if args.max_clips else validation_sets[source]
        for name, noise in (("ground_truth_2d", False), ("detector_errors", True)):
            reports = evaluate_model(lifter, clips, detector_noise=noise, smoothing=args.smooth,
                                     focal_scale=args.focal_scale, refine=not args.no_refine)
            print(f"\n## {source}, {name.replace('_', ' ')}, smoothing {args.smooth}, focal x{args.focal_scale:g} "
                  "(millimetres; MPJVE per frame at 30 fps)\n")
            print(format_table(reports))
            figures.setdefault(source, {})[name] = {
                action: {k: (1000 * v if k not in ("frames", "speed_ratio") else v) for k, v in r.to_dict().items()}
                for action, r in reports.items()}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

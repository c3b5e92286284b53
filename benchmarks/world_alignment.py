#!/usr/bin/env python3
"""How well the world alignment finds the floor's up direction, by ``floor_prior_m``, on held-out mocap.

Each validation clip (the CMU validation subjects, and every ``--bandai-step``-th Bandai validation clip) is
filmed by one random virtual camera with the detector-error model, as ``core.training.evaluate`` does, and
lifted by the bundled (or ``--model``) lifter. The true up direction in the camera frame is the mocap's world
up carried by that camera's rotation (recovered exactly from the clip and its camera-frame joints).
:func:`align_to_world` then estimates it from

- ``lifter``: what a capture has, the lifter's joints and trajectory;
- ``truth``: the true camera-frame joints, as a lifter without errors would give,

and the angle between the estimate and the truth is printed per ``floor_prior_m`` (how far the floor points
must spread before they rather than the prior decide the tilt; 1e6 is the prior alone), for both priors side
by side: the body axis, and the learned up estimator a capture uses (``core.cleanup.gravity``). The floor
plane helps only as far as the trajectory behind the ankles' positions is right: exact points want a small
prior, the lifter's (trajectory errors of 20-30 cm) a larger one. The real-video counterpart is the
alignment line of ``benchmarks/video_accuracy.py``, against the calibrated cameras.

Usage: ``.venv/bin/python benchmarks/world_alignment.py [--model NAME|FILE] [--bandai-step 10]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blender_vp3d.core.cleanup.gravity import bundled_up_estimator  # noqa: E402
from blender_vp3d.core.cleanup.world import DEFAULT_FLOOR_PRIOR_M, align_to_world  # noqa: E402
from blender_vp3d.core.lift.camera import Intrinsics, normalized_to_pixels  # noqa: E402
from blender_vp3d.core.lift.lifter import Lifter  # noqa: E402
from blender_vp3d.core.rotations import angle_between_deg  # noqa: E402
from blender_vp3d.core.training.datasets import load_training_data  # noqa: E402
from blender_vp3d.core.training.evaluate import FOCAL_PX, IMAGE_SIZE  # noqa: E402
from blender_vp3d.core.training.synthetic import SyntheticGenerator, true_up_in_camera  # noqa: E402

PRIORS_M = (0.05, 0.1, 0.2, 0.3, 0.5, 1e6)
SEED = 7


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="lifter model: a bundled name (default, cmu) or a .npz file")
    parser.add_argument("--bandai-step", type=int, default=10, help="every N-th Bandai validation clip")
    args = parser.parse_args(argv)
    if args.bandai_step < 1:
        parser.error("--bandai-step must be at least 1")
    lifter = Lifter.load(args.model)
    validation = load_training_data().validation
    intrinsics = Intrinsics.default(*IMAGE_SIZE, focal_px=FOCAL_PX)
    print(f"up-direction error, degrees (median / mean / 90th percentile); default floor_prior_m = {DEFAULT_FLOOR_PRIOR_M}")
    learned = bundled_up_estimator()
    if learned is None:
        parser.error("no bundled up_estimator.npz to compare with the body axis")
    estimators = {"body axis": None, "learned": learned}
    columns = [(kind, prior) for kind in ("lifter", "truth") for prior in estimators]
    print(f"{'set':8s} {'clips':>5s} {'prior m':>8s} " + " ".join(f"{k + ', ' + p:>20s}" for k, p in columns))
    for source, clips in (("cmu", validation["cmu"]), ("bandai", validation["bandai"][::args.bandai_step])):
        errors = {column: {prior: [] for prior in PRIORS_M} for column in columns}
        for index, clip in enumerate(clips):
            generator = SyntheticGenerator(seed=SEED * 100_000 + index)
            batch = generator.batch(clip.joints[None].astype(np.float64), clip.head_axes[None].astype(np.float64),
                                    augment_body=False, detector_noise=True, flip=False)
            true_joints = batch.poses[0].astype(np.float64)
            true_trajectory = batch.trajectory[0].astype(np.float64)
            up = true_up_in_camera(clip.joints.astype(np.float64), true_joints + true_trajectory[:, None])
            pixels = normalized_to_pixels(batch.inputs[0, :, :, :2].astype(np.float64), intrinsics)
            keypoints = np.concatenate([pixels, batch.inputs[0, :, :, 2:]], axis=-1)
            lifted = lifter.lift(keypoints, image_size=IMAGE_SIZE, focal_px=FOCAL_PX)
            for kind, (joints, trajectory) in (("lifter", (lifted.joints, lifted.trajectory)),
                                               ("truth", (true_joints, true_trajectory))):
                for name, estimator in estimators.items():
                    for prior in PRIORS_M:
                        estimate = align_to_world(joints, trajectory, floor_prior_m=prior,
                                                  up_estimator=estimator).alignment.up_camera
                        errors[kind, name][prior].append(float(angle_between_deg(estimate, up)))
        for prior in PRIORS_M:
            cells = []
            for column in columns:
                e = np.array(errors[column][prior])
                cells.append(f"{np.median(e):5.1f} /{e.mean():5.1f} /{np.percentile(e, 90):5.1f}")
            print(f"{source:8s} {len(clips):5d} {prior:8g} " + " ".join(f"{c:>20s}" for c in cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the world alignment's learned up prior (:mod:`core.cleanup.gravity`) from mocap.

Each CMU training clip (up to ``--max-frames`` of it) is filmed by ``--views`` random virtual cameras with the
training augmentation (skeleton and pose augmentation, tilted cameras, the detector-error model), lifted by the
given lifter and smoothed with the capture's default filter (a capture also holds the bones at one length
first; not done here), and every frame is paired with the camera's true up. A small
ReLU network (51 -> hidden -> hidden -> 3) learns the up from the frame's pose by cosine loss, mirrored
clips included. Then the CMU validation subjects and every tenth Bandai validation clip, through level
cameras as ``evaluate`` films them, are scored against the body axis the alignment used before (the clip's
up error in degrees, after the floor refinement either way).

CMU alone by default and the CMU-only lifter, so that the bundled file may ship in commercial products::

    .venv/bin/python -m blender_vp3d.core.training.up_estimator --out bundled_models/up_estimator.npz
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ..cleanup import filters
from ..cleanup.gravity import UpEstimator, pose_features
from ..cleanup.world import DEFAULT_FLOOR_PRIOR_M, align_to_world
from ..lift.camera import Intrinsics, normalized_to_pixels
from ..lift.lifter import Lifter
from ..rotations import angle_between_deg
from ..skeleton import H36M17
from .datasets import licence_text, load_training_data
from .evaluate import FOCAL_PX, IMAGE_SIZE
from .mocap.clip import Clip
from .synthetic import SyntheticGenerator, true_up_in_camera

logger = logging.getLogger(__name__)


class _CameraRecorder(SyntheticGenerator):
    """A generator that keeps the last batch's world and camera-frame joints, to recover the camera's rotation."""

    def _camera(self, joints, keypoints, augment):
        result = super()._camera(joints, keypoints, augment)
        self.last_world, self.last_camera = joints, result[0]
        return result


@dataclass
class FilmedClip:
    joints: np.ndarray      # (T, 17, 3) the lifter's pelvis-relative joints, camera frame, smoothed
    trajectory: np.ndarray  # (T, 3)
    up: np.ndarray          # (3,) the true up in the camera frame


def film(clips: list[Clip], lifter: Lifter, *, views: int, augment: bool, seed: int, max_frames: int,
         desc: str) -> list[FilmedClip]:
    """Each clip through ``views`` random cameras, lifted and smoothed with the capture's default filter."""
    intrinsics = Intrinsics.default(*IMAGE_SIZE, focal_px=FOCAL_PX)
    filmed = []
    for index, clip in enumerate(tqdm(clips, desc=desc, unit="clip")):
        for view in range(views):
            generator = _CameraRecorder(seed=seed * 1_000_003 + index * 101 + view)
            joints, head_axes = clip.joints, clip.head_axes
            if len(joints) > max_frames:
                start = int(generator.rng.integers(0, len(joints) - max_frames))
                joints, head_axes = joints[start:start + max_frames], head_axes[start:start + max_frames]
            batch = generator.batch(joints[None].astype(np.float64), head_axes[None].astype(np.float64),
                                    augment_body=augment, detector_noise=True, flip=False)
            up = true_up_in_camera(generator.last_world[0], generator.last_camera[0])
            pixels = normalized_to_pixels(batch.inputs[0, :, :, :2].astype(np.float64), intrinsics)
            keypoints = np.concatenate([pixels, batch.inputs[0, :, :, 2:]], axis=-1)
            lifted = lifter.lift(keypoints, image_size=IMAGE_SIZE, focal_px=FOCAL_PX)
            smoothed = filters.smooth(lifted.joints, filters.DEFAULT_METHOD, fps=lifter.fps)
            filmed.append(FilmedClip(smoothed, lifted.trajectory, up))
    return filmed


def _mirrored(joints: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flipped = joints[:, H36M17.flip_permutation()].copy()
    flipped[..., 0] *= -1
    return flipped, up * np.array([-1.0, 1.0, 1.0])


def train_estimator(filmed: list[FilmedClip], *, hidden: int, steps: int, batch: int, seed: int) -> UpEstimator:
    features, targets = [], []
    for clip in filmed:
        for joints, up in ((clip.joints, clip.up), _mirrored(clip.joints, clip.up)):
            features.append(pose_features(joints))
            targets.append(np.repeat(up[None], len(joints), axis=0))
    x = torch.from_numpy(np.concatenate(features).astype(np.float32))
    y = torch.from_numpy(np.concatenate(targets).astype(np.float32))
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                              torch.nn.ReLU(), torch.nn.Linear(hidden, 3))
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    progress = tqdm(range(steps), desc="train", unit="step")
    for _ in progress:
        index = torch.randint(0, len(x), (batch,))
        predicted = torch.nn.functional.normalize(net(x[index]), dim=-1)
        loss = (1.0 - (predicted * y[index]).sum(-1)).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        progress.set_postfix(loss=f"{loss.item():.4f}")
    layers = [m for m in net if isinstance(m, torch.nn.Linear)]
    return UpEstimator(tuple(m.weight.detach().numpy().T.astype(np.float64) for m in layers),
                       tuple(m.bias.detach().numpy().astype(np.float64) for m in layers),
                       {"frames": int(len(x)), "hidden": hidden, "steps": steps, "batch": batch})


def up_errors(filmed: list[FilmedClip], estimator: UpEstimator | None) -> np.ndarray:
    """Per clip, degrees between the alignment's up (default floor prior) and the truth."""
    return np.array([float(angle_between_deg(align_to_world(c.joints, c.trajectory, up_estimator=estimator)
                                             .alignment.up_camera, c.up)) for c in filmed])


def _summary(errors: np.ndarray) -> dict[str, float]:
    return {"median": round(float(np.median(errors)), 2), "mean": round(float(errors.mean()), 2),
            "p90": round(float(np.percentile(errors, 90)), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the estimator file to write (.npz)")
    parser.add_argument("--model", default="cmu", help="the lifter whose output it learns from (default: cmu)")
    parser.add_argument("--views", type=int, default=8, help="random cameras per training clip")
    parser.add_argument("--max-frames", type=int, default=600, help="frames per filmed clip at most")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    clock = time.perf_counter()
    lifter = Lifter.load(args.model)
    if "non-commercial" in lifter.licence.lower():
        logger.warning("the lifter %s is non-commercial: so is an estimator learned from its output", args.model)
        licence = f"Non-commercial use only: learned from the output of a non-commercial lifter ({lifter.licence})"
    else:
        licence = licence_text(("cmu",))
    data = load_training_data(("cmu",))
    train = film(data.by_source["cmu"], lifter, views=args.views, augment=True, seed=args.seed,
                 max_frames=args.max_frames, desc="film CMU training clips")
    estimator = train_estimator(train, hidden=args.hidden, steps=args.steps, batch=args.batch, seed=args.seed)
    validation = {"cmu": data.validation["cmu"], "bandai": data.validation["bandai"][::10]}
    results: dict[str, dict[str, dict[str, float]]] = {}
    print(f"up error after the floor refinement (floor_prior_m {DEFAULT_FLOOR_PRIOR_M}), degrees: median / mean / 90th")
    for source, clips in validation.items():
        filmed = film(clips, lifter, views=1, augment=False, seed=7, max_frames=10**9, desc=f"film {source} validation")
        results[source] = {"body_axis": _summary(up_errors(filmed, None)), "learned": _summary(up_errors(filmed, estimator))}
        for prior, s in results[source].items():
            print(f"{source:7s} {len(clips):4d} clips  {prior:10s} {s['median']:5.1f} / {s['mean']:5.1f} / {s['p90']:5.1f}")
    estimator = UpEstimator(estimator.weights, estimator.biases, {
        **estimator.metadata,
        "lifter": args.model, "sources": ["cmu"], "licence": licence,
        "views": args.views, "max_frames": args.max_frames, "seed": args.seed,
        "validation_up_error_deg": results, "train_seconds": round(time.perf_counter() - clock, 1),
        "command": "python -m blender_vp3d.core.training.up_estimator " + " ".join(sys.argv[1:] if argv is None else argv),
    })
    estimator.save(args.out)
    logger.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Contact sheet of synthetic training samples: what the lifter is trained on, for a person to look at.

    python -m blender_vp3d.core.training.sample_sheet --out out/training_samples.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..skeleton import COCO17, H36M17
from .mocap.bandai import load_split
from .synthetic import ClipBank, SyntheticGenerator


def draw_sheet(out: Path, count: int = 8, seed: int = 1) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, _ = load_split()
    bank = ClipBank(train)
    rng = np.random.default_rng(seed)
    joints, head = bank.sample_windows(rng, count, 1)
    batch = SyntheticGenerator(seed=seed).batch(joints, head, flip=False)
    fig = plt.figure(figsize=(3 * count, 6))
    for i in range(count):
        ax = fig.add_subplot(2, count, i + 1)
        xy, conf = batch.inputs[i, 0, :, :2], batch.inputs[i, 0, :, 2]
        for child, parent in enumerate(COCO17.parents):
            if parent >= 0:
                color = "tab:red" if child in COCO17.joints_right else "tab:blue"
                ax.plot(xy[[parent, child], 0], xy[[parent, child], 1], color=color)
        ax.scatter(xy[:, 0], xy[:, 1], c=conf, cmap="viridis", vmin=0, vmax=1, s=12)
        ax.set_aspect("equal")
        ax.invert_yaxis()
        ax.set_title(f"2D input (z={batch.trajectory[i, 0, 2]:.1f} m)", fontsize=8)
        ax3 = fig.add_subplot(2, count, count + i + 1, projection="3d")
        pose = batch.poses[i, 0]
        for child, parent in enumerate(H36M17.parents):
            if parent >= 0:
                color = "tab:red" if child in H36M17.joints_right else "tab:blue"
                # camera frame (x right, y down, z forward) drawn with y up
                ax3.plot(pose[[parent, child], 0], pose[[parent, child], 2], -pose[[parent, child], 1], color=color)
        ax3.set_xlim(-1, 1), ax3.set_ylim(-1, 1), ax3.set_zlim(-1, 1)
        ax3.view_init(elev=10, azim=-90)
        ax3.set_title("3D target (camera frame)", fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, bbox_inches="tight")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out/training_samples.png"))
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    draw_sheet(args.out, args.count, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

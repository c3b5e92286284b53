"""End-to-end capture speed beside the detector alone, in one run (issue 3's speed goal).

    .venv/bin/python benchmarks/pipeline.py [--repeats 2]

For the Pose2Sim videos cam01..cam04 (100 frames of 1080x1920 each) and a 400-frame clip made by
concatenating them, prints frames per second of:

* detector only: BlazePose on LiteRT over the frames (decode + detect, two worker threads), and
* end to end: ``capture`` (probe, decode, detect, track, lift, smooth, world alignment, foot locking) plus
  writing the motion file and the BVH,

best of ``--repeats`` runs each, alternating, with the detection cache off. Targets: end to end >= 0.9x detector
only, and >= 30 fps of 1080p input on the 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

from blender_vp3d.core import Lifter  # noqa: E402
from blender_vp3d.core.capture import CaptureSettings, capture  # noqa: E402
from blender_vp3d.core.detectors.parallel import ParallelDetector  # noqa: E402
from blender_vp3d.core.export_bvh import write_bvh  # noqa: E402
from blender_vp3d.core.video import read_frames  # noqa: E402

VIDEOS = ROOT / ".cache" / "samples" / "pose2sim" / "Demo_SinglePerson" / "videos"


def concatenate(videos: list[Path], out: Path) -> Path:
    writer = None
    for video in videos:
        for frame in read_frames(video):
            image = cv2.cvtColor(cv2.resize(frame.image, (1080, 1920)), cv2.COLOR_RGB2BGR)
            if writer is None:
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 60.0, (1080, 1920))
            writer.write(image)
    writer.release()
    return out


def detector_only(video: Path, pool: ParallelDetector) -> tuple[int, float]:
    started = time.perf_counter()
    found = pool.detect_video(video)
    return len(found), time.perf_counter() - started


def end_to_end(video: Path, lifter: Lifter, work: Path) -> tuple[int, float]:
    started = time.perf_counter()
    result = capture(video, CaptureSettings(use_cache=False), lifter=lifter)
    result.motion.save(work / "motion.npz")
    write_bvh(work / "motion.bvh", result.motion.joints, fps=result.motion.fps)
    return result.motion.num_frames, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    videos = [VIDEOS / f"cam0{i}.mp4" for i in range(1, 5)]
    lifter = Lifter.load()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = {v.stem: v for v in videos}
        clips["cam01-04 (400 frames)"] = concatenate(videos, work / "long.mp4")
        print(f"{'clip':24s} {'frames':>6s} {'detector fps':>13s} {'end-to-end fps':>15s} {'ratio':>6s}")
        with ParallelDetector(2) as pool:
            pool.detect_video(videos[0])  # warm up models and caches
            for name, video in clips.items():
                best_detect = best_total = float("inf")
                for _ in range(args.repeats):
                    frames, seconds = detector_only(video, pool)
                    best_detect = min(best_detect, seconds)
                    frames_total, seconds = end_to_end(video, lifter, work)
                    best_total = min(best_total, seconds)
                detect_fps, total_fps = frames / best_detect, frames_total / best_total
                print(f"{name:24s} {frames:6d} {detect_fps:13.1f} {total_fps:15.1f} {total_fps / detect_fps:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

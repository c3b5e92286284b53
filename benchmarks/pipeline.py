"""End-to-end capture speed beside MediaPipe's detection alone on the same frames, start-up and memory, in one run.

    .venv/bin/python benchmarks/pipeline.py [--long-frames 2000] [--skip-long | --long-only] [--skip-mediapipe]

Clips: the Pose2Sim videos cam01..cam04 (100 frames of 1080x1920 at 60 fps each) and a long clip of cam01
played back and forth (``--long-frames``, 1080x1920, 60 fps, MPEG-4 part 2). Every measurement runs in a fresh process (so start-up
and peak memory are its own), with the detection cache off:

* ``ours``: ``capture`` with default settings on both cores (loading the models and the pool, decode, detect,
  track, lift, clean-up) plus writing
  the motion file and the BVH; frames per second of video (all but the imports);
* ``start-up``: in its own process, what a capture pays before its first frame: importing the capture code,
  loading the lifter, building the two-worker BlazePose pool (its first detector: the second is built by its
  worker when a second segment starts, while the first is detecting) and detecting one frame;
* ``start-up, child``: what the add-on's user waits for, from handing a capture to its child process
  (:mod:`blender_vp3d.child_process`) to the child's first progress line with a detected frame, read through
  the pipe: a fresh child (Python's own start included), and a ready one (loaded while it waited);
* ``mp 1p`` / ``mp 2p``: MediaPipe Pose alone from the same video (decoding included), one process pinned to
  one core, and two processes each taking half of the clip (as ``benchmarks/detector.py`` runs them);
* ``ready fps``: frames per second of video from handing the capture to a ready child to its result line
  (motion file written), the add-on's path;
* ``MB``: the capture process's peak resident memory.

Targets (issue 14): ours >= 1.5x ``mp 2p``; start-up under 0.3 s; memory flat in clip length (long clip < 500 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent
VIDEOS = ROOT / ".cache" / "samples" / "pose2sim" / "Demo_SinglePerson" / "videos"

CAPTURE = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from blender_vp3d.core.capture import capture
from blender_vp3d.core.output.export_bvh import write_bvh
from blender_vp3d.core.settings import CaptureSettings
from pathlib import Path
started = time.perf_counter()
result = capture({video!r}, CaptureSettings(use_cache=False))
result.motion.save(Path({work!r}) / "motion.npz")
write_bvh(Path({work!r}) / "motion.bvh", result.motion.joints, fps=result.motion.fps)
seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux carries the parent's peak over into a child's ru_maxrss across exec.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"frames": result.motion.num_frames, "seconds": seconds, "mb": peak_kb / 1024}}))
"""

STARTUP = r"""
import json, sys, time
started = time.perf_counter()
sys.path.insert(0, {root!r})
from blender_vp3d.core.capture import capture  # noqa: F401  (what a capture imports)
from blender_vp3d.core.detect.parallel import ParallelDetector
from blender_vp3d.core.lift.lifter import Lifter
from blender_vp3d.core.video.reader import probe_video
imported = time.perf_counter()
Lifter.load()
lifter = time.perf_counter()
info = probe_video({video!r})
with ParallelDetector(2) as pool:
    pooled = time.perf_counter()
    pool.detect_video({video!r}, end=1, info=info)  # as capture() calls it
    first = time.perf_counter()
print(json.dumps({{"imports": imported - started, "lifter": lifter - imported, "pool": pooled - lifter,
                  "first_frame": first - pooled, "total": first - started}}))
"""


def child_seconds(video: Path, work: Path, ready: bool, until: str) -> float:
    """Seconds from handing a capture of ``video`` to a child (fresh, or ready and loaded) to its first
    detected frame (``until="first"``) or to its result line (``"result"``), read through the pipe as the
    add-on reads them."""
    sys.path.insert(0, str(ROOT))
    from blender_vp3d import child_process
    from blender_vp3d.core.settings import CaptureSettings

    settings = work / "child-settings.json"
    settings.write_text(CaptureSettings(use_cache=False).to_json())
    command = child_process.capture_command(video, work / "child.npz", settings)
    if ready:
        child_process.keep_ready()
        if not child_process.wait_until_ready():
            raise SystemExit("the ready child did not start")
    started = time.perf_counter()
    process, was_ready = child_process.start_capture(command)
    assert was_ready == ready
    seconds = None
    for line in process.stdout:  # type: ignore[union-attr]
        event = json.loads(line) if line.startswith("{") else {}
        if (until == "first" and event.get("stage") == "detect" and event.get("done", 0) > 0) or \
                (until == "result" and event.get("stage") == "result"):
            seconds = time.perf_counter() - started
            break
    process.kill()
    process.communicate()
    if seconds is None:
        raise SystemExit(f"the child ended without its {until} line (exit {process.returncode})")
    return seconds


def child(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def make_long_clip(video: Path, frames: int, out: Path) -> Path:
    """``frames`` frames of ``video`` played forwards, backwards, forwards...: one continuous person."""
    import cv2

    sys.path.insert(0, str(ROOT))
    from blender_vp3d.core.video.reader import read_frames

    decoded = [frame.image for frame in read_frames(video, bgr=True)]
    cycle = decoded + decoded[-2:0:-1]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 60.0, (1080, 1920))
    for i in range(frames):
        writer.write(cv2.resize(cycle[i % len(cycle)], (1080, 1920)))
    writer.release()
    return out


def mediapipe_fps(video: Path, frames: int, work: Path) -> tuple[float, float]:
    """(one process on one core, two processes on two cores) frames per second of MediaPipe from ``video``."""
    sys.path.insert(0, str(BENCHMARKS))
    import detector

    folder = work / f"mp-{video.stem}"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"videos": [str(video)], "counts": [frames]}))
    cores = sorted(os.sched_getaffinity(0))
    one = detector.measure("mediapipe-1core-video", {cores[0]}, folder)
    two = detector.measure("mediapipe-2proc-video", set(cores[:2]), folder)
    return one["frames"] / one["seconds"], two["frames"] / two["seconds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long-frames", type=int, default=2000, help="frames of the long clip")
    parser.add_argument("--skip-long", action="store_true", help="only the 100-frame clips")
    parser.add_argument("--long-only", action="store_true", help="only the long clip (and start-up)")
    parser.add_argument("--skip-mediapipe", action="store_true",
                        help="ours only (the long clip's MediaPipe runs take about 2.5 min)")
    args = parser.parse_args(argv)
    videos = [VIDEOS / f"cam0{i}.mp4" for i in range(1, 5)]
    missing = [v for v in videos if not v.is_file()]
    if missing:
        print(f"error: {missing[0]} not found (run python3 build.py env)", file=sys.stderr)
        return 2
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="vp3d-pipeline-") as tmp:
        work = Path(tmp)
        clips = {} if args.long_only else {v.stem: (v, 100) for v in videos}
        if not args.skip_long:
            clips[f"long ({args.long_frames})"] = (make_long_clip(videos[0], args.long_frames, work / "long.mp4"),
                                                   args.long_frames)
        startup = child(STARTUP.format(root=str(ROOT), video=str(videos[0])))
        print("start-up: " + ", ".join(f"{k} {v:.3f} s" for k, v in startup.items()), flush=True)
        fresh, ready = (statistics.median(child_seconds(videos[0], work, ready, "first") for _ in range(3))
                        for ready in (False, True))
        print(f"start-up, child (hand-over to first detected frame, median of 3): fresh {fresh:.3f} s, "
              f"ready {ready:.3f} s (target < 0.3 s)", flush=True)
        print(f"{'clip':14s} {'frames':>6s} {'ours fps':>9s} {'ready fps':>10s} {'mp 1p fps':>10s} {'mp 2p fps':>10s} "
              f"{'ours/mp 2p':>11s} {'ready/mp 2p':>12s} {'start-up s':>11s} {'share':>6s} {'MB':>6s}", flush=True)
        for name, (video, frames) in clips.items():
            ours = child(CAPTURE.format(root=str(ROOT), video=str(video), work=str(work)))
            ready_fps = frames / child_seconds(video, work, True, "result")
            mp_one, mp_two = (float("nan"),) * 2 if args.skip_mediapipe else mediapipe_fps(video, frames, work)
            seconds = ours["seconds"] + startup["imports"]  # capture() itself loads the models and the pool
            fps = ours["frames"] / ours["seconds"]
            print(f"{name:14s} {ours['frames']:6d} {fps:9.1f} {ready_fps:10.1f} {mp_one:10.1f} {mp_two:10.1f} "
                  f"{fps / mp_two:10.2f}x {ready_fps / mp_two:11.2f}x {startup['total']:11.3f} "
                  f"{startup['total'] / seconds:6.0%} {ours['mb']:6.0f}", flush=True)
        from blender_vp3d import child_process

        child_process.discard_ready()
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

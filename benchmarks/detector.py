#!/usr/bin/env python3
"""Speed of our BlazePose (LiteRT) against ``mp.solutions.pose`` on the same 1080p frames, and their agreement.

One run over the Pose2Sim single-person videos cam01..cam04 (4 x 100 frames, 1080x1920 / 1088x1920). The
frames are decoded once into a temporary folder; every measurement runs in a fresh process that pins itself to
its cores before importing anything, loads the frames into memory, builds its detectors (one per video, each
warmed up on a black frame, which leaves no tracking state) and only then starts the clock. Settings:

* ``1 core``: one process pinned to one core, videos in turn, frames in memory (detection only);
* ``2 cores``: pinned to both cores. Ours: :class:`ParallelDetector` with 2 worker threads (each video split
  into 2 segments, each starting with person detection). mediapipe: one process (whatever threads mediapipe
  starts), and 2 processes that each take one half of each video (they read their frames from the decoded
  files themselves, so no frame crosses a process boundary);
* ``video, ...``: the same from the video files, decoding included (OpenCV/FFmpeg, one decoding thread per
  worker, each decoding its own segment; mediapipe gets RGB, so its runs also pay the conversion).

Agreement (the two ``1 core`` runs): distances over the 17 COCO keypoints of every frame where both found the
person, pooled per video; "same frames" compares where each found someone.

The machine may be shared: the load average is printed before and after, and absolute figures under load are
lower than on an idle machine (the ratios are the informative part).

Usage: ``.venv/bin/python benchmarks/detector.py [--videos PATH ...] [--only ours|mediapipe]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEOS = [
    ROOT / ".cache" / "samples" / "pose2sim" / "Demo_SinglePerson" / "videos" / f"cam0{i}.mp4" for i in range(1, 5)
]
COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=Path, nargs="+", default=DEFAULT_VIDEOS)
    parser.add_argument("--only", choices=("ours", "mediapipe"), help="measure one runner only")
    return parser.parse_args(argv)


# -- child side: one measurement in a pinned process -----------------------------------------------------------


def _load_frames(work: Path, videos: list[str]) -> list:
    import numpy as np

    return [np.load(work / f"{i}.npy") for i in range(len(videos))]


def _keypoints(detections, count: int):
    """(frames, 17, 3) COCO keypoints, NaN where nobody was found."""
    import numpy as np

    out = np.full((count, 17, 3), np.nan)
    for i, found in enumerate(detections):
        if found.count:
            out[i] = found.keypoints[0]
    return out


def _mediapipe_segment(source: str, start: int, stop: int, from_video: bool):
    """Runs in a spawned process: mediapipe over one segment of frames (npy file or video)."""
    import numpy as np

    from blender_vp3d.core.detect.mediapipe_backend import MediaPipeDetector
    from blender_vp3d.core.video.reader import read_frames

    detector = _WARM.pop() if _WARM else MediaPipeDetector()
    if from_video:
        frames = (f.image for f in read_frames(source, start, stop))
    else:
        frames = (frame for frame in np.load(source, mmap_mode="r")[start:stop])
    found = [detector.detect(np.ascontiguousarray(frame)) for frame in frames]
    detector.close()
    return found


_WARM: list = []


def _warm_mediapipe(count: int) -> None:
    import numpy as np

    from blender_vp3d.core.detect.mediapipe_backend import MediaPipeDetector

    for _ in range(count):
        detector = MediaPipeDetector()
        detector.detect(np.zeros((1920, 1080, 3), np.uint8))
        _WARM.append(detector)


def run_child(kind: str, work: Path) -> dict:
    import numpy as np

    config = json.loads((work / "config.json").read_text())
    videos: list[str] = config["videos"]
    counts: list[int] = config["counts"]
    from_video = kind.endswith("-video")
    black = np.zeros((1920, 1080, 3), np.uint8)
    frames = None if from_video else _load_frames(work, videos)
    results: list = []
    started = 0.0
    if kind.startswith("ours-1core"):
        import cv2

        from blender_vp3d.core.detect.blazepose import BlazePoseDetector
        from blender_vp3d.core.video.reader import read_frames

        cv2.setNumThreads(1)
        detectors = [BlazePoseDetector() for _ in videos]
        for detector in detectors:
            detector.detect(black)
        started = time.perf_counter()
        for i, detector in enumerate(detectors):
            source = (f.image for f in read_frames(videos[i])) if from_video else frames[i]
            results.append([detector.detect(frame) for frame in source])
    elif kind.startswith("mediapipe-1core") or kind.startswith("mediapipe-threads"):
        from blender_vp3d.core.video.reader import read_frames

        _warm_mediapipe(len(videos))
        started = time.perf_counter()
        for i, detector in enumerate(_WARM):
            source = (f.image for f in read_frames(videos[i])) if from_video else frames[i]
            results.append([detector.detect(frame) for frame in source])
    elif kind.startswith("ours-2threads"):
        from blender_vp3d.core.detect.parallel import ParallelDetector

        pool = ParallelDetector(2)
        pool.detect_frames([black] * 100)  # two segments: both detectors have run
        started = time.perf_counter()
        for i in range(len(videos)):
            results.append(pool.detect_video(videos[i]) if from_video else pool.detect_frames(frames[i]))
        elapsed = time.perf_counter() - started
        pool.close()
        return _finish(kind, work, results, counts, elapsed)
    elif kind.startswith("mediapipe-2proc"):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from blender_vp3d.core.detect.parallel import split_segments

        del frames  # each process reads its own segment
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(2, mp_context=context, initializer=_warm_mediapipe,
                                 initargs=(len(videos),)) as pool:
            list(pool.map(time.sleep, [0.5, 0.5]))  # both processes are up and warm
            started = time.perf_counter()
            for i in range(len(videos)):
                source = videos[i] if from_video else str(work / f"{i}.npy")
                segments = split_segments(counts[i], 2)
                parts = [pool.submit(_mediapipe_segment, source, a, b, from_video) for a, b in segments]
                results.append([found for part in parts for found in part.result()])
    else:
        raise ValueError(f"unknown measurement {kind}")
    return _finish(kind, work, results, counts, time.perf_counter() - started)


def _finish(kind: str, work: Path, results: list, counts: list[int], elapsed: float) -> dict:
    import numpy as np

    frames = sum(len(r) for r in results)
    np.savez(work / f"{kind}.npz", *[_keypoints(r, n) for r, n in zip(results, counts)])
    return {"kind": kind, "frames": frames, "seconds": elapsed}


# -- parent side ------------------------------------------------------------------------------------------------


def decode_once(videos: list[Path], work: Path) -> tuple[list[int], float]:
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from blender_vp3d.core.video.reader import read_frames

    counts, seconds = [], 0.0
    for i, video in enumerate(videos):
        begin = time.perf_counter()
        decoded = [f.image for f in read_frames(video)]  # decoding, rotation and BGR->RGB
        seconds += time.perf_counter() - begin
        np.save(work / f"{i}.npy", np.stack(decoded))
        counts.append(len(decoded))
    return counts, seconds


def measure(kind: str, cores: set[int], work: Path) -> dict:
    # Pin first, then import: threads started later inherit the affinity. The module is imported by name so that
    # spawned helper processes can find its functions.
    code = (
        f"import os, sys, json; os.sched_setaffinity(0, {sorted(cores)!r}); "
        f"sys.path[:0] = [{str(ROOT)!r}, {str(Path(__file__).resolve().parent)!r}]; "
        f"import detector; print(json.dumps(detector.run_child({kind!r}, __import__('pathlib').Path({str(work)!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"measurement {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


SPIN = (
    "import os, time; os.sched_setaffinity(0, {%d}); t = time.perf_counter(); sum(range(30_000_000)); "
    "print(time.perf_counter() - t)"
)


def core_scaling(cores: list[int]) -> float:
    """How many cores' worth of pure-Python work two pinned processes get, relative to one alone (ideal 2.0)."""
    alone = float(subprocess.run([sys.executable, "-c", SPIN % cores[0]], capture_output=True, text=True).stdout)
    pair = [subprocess.Popen([sys.executable, "-c", SPIN % c], stdout=subprocess.PIPE, text=True) for c in cores[:2]]
    return sum(alone / float(p.communicate()[0]) for p in pair)


def agreement(work: Path, ours: str, theirs: str, names: list[str]) -> list[str]:
    import numpy as np

    a, b = np.load(work / f"{ours}.npz"), np.load(work / f"{theirs}.npz")
    rows = []
    for i, name in enumerate(names):
        x, y = a[f"arr_{i}"], b[f"arr_{i}"]
        found_x, found_y = ~np.isnan(x[:, 0, 0]), ~np.isnan(y[:, 0, 0])
        both = found_x & found_y
        d = np.hypot(*(x[both, :, :2] - y[both, :, :2]).transpose(2, 0, 1)).ravel()
        rows.append(
            f"| {name} | {both.sum()} | {int((found_x != found_y).sum())} | {np.median(d):.2f} | "
            f"{np.percentile(d, 95):.2f} | {np.median(d.reshape(-1, 17), axis=0).max():.2f} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for video in args.videos:
        if not video.is_file():
            print(f"error: video not found: {video} (run python3 build.py env)", file=sys.stderr)
            return 2
    cores = sorted(os.sched_getaffinity(0))
    one, both = {cores[0]}, set(cores[:2])
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if len(cores) >= 2:
        print(f"two pinned pure-Python processes get {core_scaling(cores):.2f} cores' worth of work (ideal 2.00)")
    with tempfile.TemporaryDirectory(prefix="vp3d-bench-") as folder:
        work = Path(folder)
        counts, decode_s = decode_once(args.videos, work)
        (work / "config.json").write_text(json.dumps({"videos": [str(v) for v in args.videos], "counts": counts}))
        plan = [
            ("ours", "1 core", "ours-1core", one),
            ("mediapipe", "1 core", "mediapipe-1core", one),
            ("ours", "2 cores: 2 threads", "ours-2threads", both),
            ("mediapipe", "2 cores: 1 process, its threads", "mediapipe-threads", both),
            ("mediapipe", "2 cores: 2 processes", "mediapipe-2proc", both),
            ("ours", "video, 1 core", "ours-1core-video", one),
            ("mediapipe", "video, 1 core", "mediapipe-1core-video", one),
            ("ours", "video, 2 cores: 2 threads", "ours-2threads-video", both),
            ("mediapipe", "video, 2 cores: 2 processes", "mediapipe-2proc-video", both),
        ]
        if len(both) < 2:
            plan = [row for row in plan if "2 cores" not in row[1]]
        if args.only:
            plan = [row for row in plan if row[0] == args.only]
        measured = {}
        for runner, setting, kind, pinned in plan:
            measured[kind] = measure(kind, pinned, work)
            fps = measured[kind]["frames"] / measured[kind]["seconds"]
            print(f"  {runner:9s} {setting:34s} {fps:7.1f} fps", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.2f}\n")
        total = sum(counts)
        print(f"{total} frames ({len(args.videos)} videos); decoding alone (with BGR->RGB, 1 thread): "
              f"{total / decode_s:.0f} fps\n")
        print("| runner | setting | fps | ours / mediapipe |")
        print("|---|---|---|---|")
        best_mediapipe: dict[str, float] = {}
        for runner, setting, kind, _ in plan:
            fps = measured[kind]["frames"] / measured[kind]["seconds"]
            key = setting.split(":")[0]
            if runner == "mediapipe":
                best_mediapipe[key] = max(best_mediapipe.get(key, 0.0), fps)
        for runner, setting, kind, _ in plan:
            fps = measured[kind]["frames"] / measured[kind]["seconds"]
            key = setting.split(":")[0]
            ratio = f"{fps / best_mediapipe[key]:.2f}x" if runner == "ours" and key in best_mediapipe else ""
            print(f"| {runner} | {setting} | {fps:.1f} | {ratio} |")
        if "ours-1core" in measured and "mediapipe-1core" in measured:
            print("\nAgreement, ours vs mediapipe (1-core runs), COCO-17 keypoints, pixels:\n")
            print("| video | frames with both | found in one only | median | p95 | worst keypoint median |")
            print("|---|---|---|---|---|---|")
            names = [f"{v.parent.parent.name}/{v.name}" for v in args.videos]
            print("\n".join(agreement(work, "ours-1core", "mediapipe-1core", names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

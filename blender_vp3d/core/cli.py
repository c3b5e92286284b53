"""Command line: ``python -m blender_vp3d capture VIDEO -o OUT.npz|OUT.bvh [options]``.

Bad input ends with one line on stderr and a non-zero exit (2 for bad input, 1 for anything unexpected), and
no partly written output. ``--json-progress`` prints one JSON object per progress step on stdout, for the
add-on, which runs this in a subprocess. ``python -m blender_vp3d models`` lists the bundled lifter models with
their licences (``--model NAME`` picks one).

``python -m blender_vp3d worker``: loads the lifter and the BlazePose pool, prints ``{"stage": "ready"}``, then
reads one line from stdin, the arguments of a ``capture`` command as a JSON list, and runs that capture as the
command would (after the ready line, the same output, errors and exit codes) with what it loaded; an empty line
or the end of stdin ends it with nothing done. The add-on keeps one waiting (``blender_vp3d.child_process``), so
a capture does not pay for imports and model loading after the user asks for it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# FFmpeg's own log lines ("moov atom not found") would bury the one-line error; keep only ours.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

from .capture import CaptureResult, ProgressEvent, capture  # noqa: E402
from .cleanup import filters  # noqa: E402
from .settings import DETECTORS, CaptureSettings  # noqa: E402

if TYPE_CHECKING:
    from .detect.parallel import ParallelDetector
    from .lift.lifter import Lifter

logger = logging.getLogger(__name__)


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="python -m blender_vp3d", description="Video to 3D motion capture.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)
    c = commands.add_parser("capture", help="capture the motion of a person in a video")
    c.add_argument("video", type=Path)
    c.add_argument("-o", "--out", type=Path, action="append", required=True,
                   help="output: .npz (motion) or .bvh; repeat for both")
    c.add_argument("--detector", default="auto", help=f"{' | '.join(DETECTORS)} | a keypoint file (COCO JSON, "
                   "OpenPose folder, .npz)")
    c.add_argument("--detectron2-config", help="Keypoint R-CNN config (.yaml) for --detector detectron2")
    c.add_argument("--detectron2-weights", help="Keypoint R-CNN weights for --detector detectron2")
    c.add_argument("--start", type=int, default=0, help="first frame")
    c.add_argument("--end", type=int, help="stop before this frame")
    c.add_argument("--stride", type=int, default=1)
    c.add_argument("--smooth", default=filters.DEFAULT_METHOD, choices=filters.METHODS)
    c.add_argument("--focal-px", type=float, help="focal length in pixels, if known")
    c.add_argument("--focal-mm", type=float, help="lens focal length in mm (with --sensor-mm)")
    c.add_argument("--sensor-mm", type=float, help="sensor width in mm across the long image side")
    c.add_argument("--height-m", type=float, help="subject height in metres (scales the result)")
    c.add_argument("--no-foot-lock", action="store_true")
    c.add_argument("--no-refine", action="store_true", help="keep the lifter's output as it is (no fit to the 2D)")
    c.add_argument("--in-place", action="store_true", help="no root motion")
    c.add_argument("--keep-facing", action="store_true", help="keep the camera's view instead of facing -Y")
    c.add_argument("--track", type=int, help="track id of another person (see the tracks listed)")
    c.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    c.add_argument("--no-cache", action="store_true", help="run the detector even if cached")
    c.add_argument("--detect-every-frame", action="store_true",
                   help="detect every frame even above the lifter's 30 fps (default: e.g. every other of 60 fps)")
    c.add_argument("--model", help="lifter model: a bundled model's name (see the models command; default: "
                   "default) or a model file (.npz)")
    c.add_argument("--preview", type=Path, help="write a side-by-side preview video (.mp4) and a .png sheet")
    c.add_argument("--json-progress", action="store_true", help="one JSON line per progress step on stdout")
    c.add_argument("--settings", type=Path, help="capture settings as one JSON document (CaptureSettings.to_json); "
                   "replaces the capture options above")
    commands.add_parser("models", help="list the bundled lifter models and their licences")
    w = commands.add_parser("worker", help="load everything, then run the capture whose arguments arrive on stdin "
                            "as one JSON list (used by the Blender add-on)")
    w.add_argument("--workers", type=int, default=CaptureSettings().workers,
                   help="BlazePose workers to build in advance (the capture settings' default)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.command == "worker":
        return _serve_one(args.workers)
    if args.command == "models":
        return _list_models()
    return _guarded(args, None)


def _guarded(args: argparse.Namespace, preloaded: Preloaded | None) -> int:
    try:
        return _capture(args, preloaded)
    except (ValueError, ImportError, OSError) as exc:
        sys.stderr.write(f"error: {_one_line(exc)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: cancelled\n")
        return 130


@dataclass
class Preloaded:
    """What a default capture loads, loaded before its video is known (``None`` where loading failed: the
    capture then loads it itself and reports the problem as usual)."""

    lifter: Lifter | None = None
    pool: ParallelDetector | None = None

    @classmethod
    def load(cls, workers: int) -> Preloaded:
        from .capture import detector_identity, resolve_detector
        from .lift.lifter import Lifter

        # Loading in advance only saves time, so any failure here is left for the capture to meet and report
        # as a fresh child would (it may not even need what failed: another detector, model or keypoint file).
        loaded = cls()
        try:
            loaded.lifter = Lifter.load()
        except Exception as exc:  # noqa: BLE001
            logger.info("lifter not loaded in advance: %s", exc)
        try:
            if resolve_detector("auto") == "blazepose":
                from .detect.parallel import ParallelDetector

                loaded.pool = ParallelDetector(workers)
                loaded.pool.prepare()
                detector_identity("blazepose", CaptureSettings())  # hashes the model files (remembered)
        except Exception as exc:  # noqa: BLE001
            logger.info("BlazePose not loaded in advance: %s", exc)
        return loaded

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def _serve_one(workers: int) -> int:
    """``worker``: load, say so, then run the one capture whose arguments arrive on stdin."""
    if workers < 1:
        sys.stderr.write(f"error: --workers must be 1 or more, got {workers}\n")
        return 2
    preloaded = Preloaded.load(workers)
    try:
        print(json.dumps({"stage": "ready"}), flush=True)
        line = sys.stdin.readline()
        if not line.strip():
            return 0
        try:
            argv = json.loads(line)
        except json.JSONDecodeError as exc:
            sys.stderr.write(f"error: the worker expects a capture's arguments as a JSON list: {exc}\n")
            return 2
        if not (isinstance(argv, list) and argv[:1] == ["capture"] and all(isinstance(a, str) for a in argv)):
            sys.stderr.write("error: the worker expects a JSON list of strings starting with \"capture\"\n")
            return 2
        return _guarded(build_parser().parse_args(argv), preloaded)
    finally:
        preloaded.close()


def _list_models() -> int:
    from .lift.bundled import bundled_models

    models = bundled_models()
    for model in models:
        print(f"{model.name:10s} {model.label}: {model.licence_summary} ({model.path.name})")
    if not models:
        sys.stderr.write("error: no bundled lifter model found\n")
        return 1
    return 0


def _capture(args: argparse.Namespace, preloaded: Preloaded | None = None) -> int:
    for out in args.out:
        if out.suffix.lower() not in (".npz", ".bvh"):
            raise ValueError(f"output must end in .npz or .bvh, got {out.name}")
    if args.preview is not None and args.preview.suffix.lower() != ".mp4":
        raise ValueError(f"--preview must end in .mp4, got {args.preview.name}")
    for out in [*args.out, *([args.preview] if args.preview else [])]:
        if not out.parent.exists():
            raise ValueError(f"output folder does not exist: {out.parent}")
    settings = _settings(args)
    reporter = _JsonProgress() if args.json_progress else _BarProgress()
    lifter = preloaded.lifter if preloaded is not None and settings.model is None else None
    try:
        result = capture(args.video, settings, reporter, lifter=lifter,
                         pool=preloaded.pool if preloaded is not None else None)
    finally:
        reporter.close()
    _write_outputs(result, args)
    summary = result.summary()
    if args.json_progress:
        print(json.dumps({"stage": "result", **summary.to_dict(), "out": [str(o) for o in args.out]}), flush=True)
    else:
        print(f"wrote {', '.join(map(str, args.out))} ({summary.frames} frames at {summary.fps:.2f} fps; person "
              f"{summary.track} in {summary.coverage:.0%} of frames)")
        if len(summary.tracks) > 1:  # the ids --track takes
            print("\n".join(f"  {line}" for line in summary.tracks))
    return 0


def _settings(args: argparse.Namespace) -> CaptureSettings:
    """The settings from ``--settings`` (a JSON file) when given, else from the flags."""
    if args.settings is not None:
        try:
            text = args.settings.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read the settings file {args.settings}: {exc.strerror}") from None
        try:
            return CaptureSettings.from_json(text)
        except TypeError as exc:
            raise ValueError(str(exc)) from None
    return CaptureSettings(
        detector=args.detector, start=args.start, end=args.end, stride=args.stride, smoothing=args.smooth,
        focal_px=args.focal_px, focal_mm=args.focal_mm, sensor_mm=args.sensor_mm, height_m=args.height_m,
        foot_lock=not args.no_foot_lock, refine=not args.no_refine, in_place=args.in_place,
        face_viewer=not args.keep_facing, track_id=args.track, detectron2_config=args.detectron2_config,
        detectron2_weights=args.detectron2_weights, workers=args.workers, use_cache=not args.no_cache,
        detect_every_frame=args.detect_every_frame, model=args.model)


def _write_outputs(result: CaptureResult, args: argparse.Namespace) -> None:
    motion = result.motion
    for out in args.out:
        if out.suffix.lower() == ".npz":
            motion.save(out)
        else:
            from .output.export_bvh import write_bvh

            write_bvh(out, motion.joints, fps=motion.fps)
    if args.preview is not None:
        from .output.preview import write_contact_sheet, write_preview_video
        from .video.reader import read_frames

        s = motion.settings
        picks = {round((motion.num_frames - 1) * (0.05 + 0.18 * k)) for k in range(6)}  # six frames, evenly spread
        chosen: dict[int, object] = {}

        def images():  # one decode serves the video and the contact sheet
            for k, frame in enumerate(read_frames(result.video.path, s["start"], s["end"], s["stride"], prefetch=4)):
                if k in picks:
                    chosen[k] = frame.image
                yield frame.image

        write_preview_video(images(), motion.keypoints_2d, motion.joints, args.preview, motion.fps)
        write_contact_sheet(chosen, motion.keypoints_2d, motion.joints, args.preview.with_suffix(".png"))


class _BarProgress:
    def __init__(self) -> None:
        self.bar = None

    def __call__(self, event: ProgressEvent) -> None:
        from tqdm import tqdm

        if event.stage == "detect" and event.total > 1:
            if self.bar is None:
                self.bar = tqdm(total=event.total, desc="detecting", unit="frame", file=sys.stderr)
            self.bar.update(event.done - self.bar.n)
        elif event.message:
            self.close()
            sys.stderr.write(f"{event.stage}: {event.message}\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _JsonProgress:
    def __call__(self, event: ProgressEvent) -> None:
        print(json.dumps({**asdict(event), "fraction": round(event.fraction, 4)}), flush=True)

    def close(self) -> None:
        pass


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__

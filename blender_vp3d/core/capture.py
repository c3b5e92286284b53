"""Video to :class:`Motion`: the path every capture takes, in Blender or not.

    probe -> detect 2D (cached) -> pick the person -> lift (and fit to the 2D) -> smooth -> world alignment
    -> foot locking

:func:`capture` is the single entry point: the CLI, the add-on's operator and the batch API all call it with a
:class:`CaptureSettings`. Progress is reported through a callback as :class:`ProgressEvent` s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .cleanup import filters
from .cleanup.bones import rigid_bone_lengths
from .cleanup.foot_contact import detect_contacts, lock_feet, skating_speed
from .cleanup.gravity import bundled_up_estimator
from .cleanup.world import align_to_world
from .detect.base import FrameDetections, PoseDetector
from .detect.detection_cache import DetectionCache
from .detect.tracking import MIN_FRAMES, SelectedPerson, fill_frames, select_track
from .lift.bundled import licence_summary, model_name
from .lift.camera import Intrinsics
from .lift.lifter import Lifter
from .output.motion import Motion
from .settings import DETECTORS, CaptureSettings
from .video.reader import DETECTION_MAX_SIDE, VideoInfo, probe_video, read_frames

if TYPE_CHECKING:
    from .detect.parallel import ParallelDetector

logger = logging.getLogger(__name__)

DETECTION_VERSION = 2  # part of the cache key (with detector_identity): raise it when detector code changes its output


@dataclass
class ProgressEvent:
    stage: str          # probe | detect | track | lift | clean | done
    done: int
    total: int
    message: str = ""
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class CaptureResult:
    motion: Motion
    video: VideoInfo
    person: SelectedPerson             # with every track found (person.tracks)
    detections_cached: bool
    skating_before: float = float("nan")   # mean horizontal ankle speed during contacts, m/s
    skating_after: float = float("nan")
    reprojection_px: tuple[float, float] = (float("nan"), float("nan"))  # median, lifter's output -> result
    timings_s: dict[str, float] = field(default_factory=dict)

    def summary(self) -> CaptureSummary:
        return CaptureSummary(
            frames=self.motion.num_frames, fps=float(self.motion.fps), track=self.person.track_id,
            coverage=float(self.person.coverage), tracks=tuple(t.describe() for t in self.person.tracks),
            detections_cached=self.detections_cached,
            skating_cm_s=(100 * self.skating_before, 100 * self.skating_after),
            reprojection_px=tuple(map(float, self.reprojection_px)), timings_s=dict(self.timings_s))


@dataclass(frozen=True)
class CaptureSummary:
    """What a capture found: printed by the CLI, sent by the child process as its last JSON line (``stage``
    ``result``) and shown by the add-on. skating_cm_s and reprojection_px: before -> after clean-up / fitting."""

    frames: int
    fps: float
    track: int
    coverage: float
    tracks: tuple[str, ...]            # one line per person found (``Track.describe``)
    detections_cached: bool
    skating_cm_s: tuple[float, float]
    reprojection_px: tuple[float, float]
    timings_s: dict[str, float]        # seconds per stage (detect, lift, clean)

    def describe(self) -> str:
        """One line for the user: who was followed and where the time went."""
        times = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.timings_s.items())
        return (f"{self.frames} frames, person {self.track} in {self.coverage:.0%} of frames "
                f"({len(self.tracks)} track(s)){'; ' + times if times else ''}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaptureSummary:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["tracks"] = tuple(values.get("tracks", ()))
        for pair in ("skating_cm_s", "reprojection_px"):
            values[pair] = tuple(values.get(pair, (float("nan"),) * 2))
        return cls(**values)


def capture(video: str | Path, settings: CaptureSettings | None = None,
            progress: ProgressCallback | None = None, lifter: Lifter | None = None,
            pool: ParallelDetector | None = None) -> CaptureResult:
    """Capture the motion of the main person (or ``settings.track_id``) in ``video``.

    lifter, pool: loaded already (a ready child process, a batch): the lifter is used as it is (pass the one
    ``settings.model`` names), the BlazePose pool when BlazePose runs with its number of workers.
    """
    settings = settings or CaptureSettings()
    report = progress or (lambda event: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    info = probe_video(video)
    report(ProgressEvent("probe", 1, 1, f"{info.width}x{info.height}, {info.frame_count} frames at {info.fps:.2f} fps"))
    lifter = lifter or Lifter.load(settings.model)
    step = detection_step(info, settings, lifter.fps)
    end = info.frame_count if settings.end is None else min(settings.end, info.frame_count)
    count = len(range(settings.start, end, settings.stride))

    def detect_progress(event: ProgressEvent) -> None:  # in captured frames, not detected ones
        done = count if event.done >= event.total else min(event.done * step, count)
        report(replace(event, done=done, total=count))

    detected = detect(info, replace(settings, stride=settings.stride * step), detect_progress, pool)
    detections = detected.frames
    timings["detect"] = time.perf_counter() - clock

    clock = time.perf_counter()
    person = fill_frames(select_track(detections, settings.track_id, min_frames=-(-MIN_FRAMES // step)), step, count)
    report(ProgressEvent("track", 1, 1, f"person {person.track_id} in {person.coverage:.0%} of frames "
                                        f"({len(person.tracks)} track(s))"))
    fps = info.fps / settings.stride
    focal_px = settings.focal_px if settings.focal_px is not None else detected.focal_px
    if settings.focal_mm is not None:
        focal_px = Intrinsics.from_focal_mm(info.width, info.height, settings.focal_mm, settings.sensor_mm).fx
    keypoints = np.where(person.present[:, None, None], person.keypoints, np.nan)
    keypoints[..., 2] = np.nan_to_num(keypoints[..., 2], nan=0.0)
    lifted = lifter.lift(keypoints, image_size=(info.width, info.height), focal_px=focal_px, fps=fps,
                         refine=settings.refine)
    timings["lift"] = time.perf_counter() - clock
    error_before, error_after = lifted.reprojection_px
    if settings.refine:
        fit = f"fitted to the 2D: reprojection error {error_before:.1f} -> {error_after:.1f} px (median)"
    else:
        fit = f"reprojection error {error_before:.1f} px (median; not fitted to the 2D)"
    logger.info("lift: %s", fit)
    report(ProgressEvent("lift", 1, 1, f"lifted {len(keypoints)} frames with the {model_name(lifter.path)} model "
                                       f"({licence_summary(lifter.licence)}); {fit}"))

    clock = time.perf_counter()
    joints = filters.smooth(lifted.joints, settings.smoothing, fps=fps)
    if settings.rigid_bones:
        joints = rigid_bone_lengths(joints)
    trajectory = filters.smooth(lifted.trajectory[:, None], settings.smoothing, fps=fps)[:, 0]
    world = align_to_world(joints, trajectory, subject_height_m=settings.height_m,
                           face_viewer=settings.face_viewer, in_place=settings.in_place,
                           up_estimator=bundled_up_estimator())
    contacts = detect_contacts(world.joints, fps=fps)
    world_joints = world.joints
    before = after = skating_speed(world_joints, contacts, fps=fps) if contacts.any() else 0.0
    if settings.foot_lock and contacts.any():
        locked = lock_feet(world_joints, contacts, fps=fps)
        world_joints, before, after = locked.joints, locked.skating_before, locked.skating_after
        contacts = locked.contacts  # released where the leg cannot reach its pin
    timings["clean"] = time.perf_counter() - clock
    report(ProgressEvent("clean", 1, 1, f"foot skating {100 * before:.1f} -> {100 * after:.1f} cm/s"))

    motion = Motion(joints=world_joints, trajectory=world.trajectory, fps=fps, contacts=contacts,
                    keypoints_2d=person.keypoints, image_size=(info.width, info.height),
                    source_video=str(Path(video).resolve()), settings=settings.to_dict(),
                    alignment=world.alignment.to_dict())
    report(ProgressEvent("done", 1, 1, f"{motion.num_frames} frames captured"))
    return CaptureResult(motion, info, person, detected.cached, before, after, lifted.reprojection_px, timings)


def detection_step(info: VideoInfo, settings: CaptureSettings, lifter_fps: float) -> int:
    """Detect every ``step``-th of the captured frames: as many as keep the detection rate at or above the
    lifter's (2 for a 60 fps video and a 30 fps model), 1 for keypoint files and ``detect_every_frame``.

    Why: the lifter resamples its input to its own rate, so detecting faster does work it never sees. Measured
    with ``benchmarks/video_accuracy.py --detect-every 2`` on the 60 fps Pose2Sim videos: P-MPJPE 70.9 ->
    71.3 mm, MPJVE 16.6 -> 16.6 mm/frame, for half the detection work; the frames between are interpolated
    (:func:`.tracking.fill_frames`).
    """
    if settings.detect_every_frame or settings.detector not in DETECTORS:
        return 1
    return max(1, int(info.fps / settings.stride / lifter_fps + 1e-6))


@dataclass(frozen=True)
class Detected:
    """2D detections of a frame range, and what their source says about the camera."""

    frames: list[FrameDetections]
    cached: bool                 # read from the detection cache
    focal_px: float | None = None  # the focal length a keypoint file states (used unless the user gives one)


def detect(info: VideoInfo, settings: CaptureSettings, report: ProgressCallback,
           pool: ParallelDetector | None = None) -> Detected:
    """2D detections of the frame range, from the cache when the same video and settings were seen
    (``pool``: see :func:`capture`)."""
    end = info.frame_count if settings.end is None else min(settings.end, info.frame_count)
    if settings.start >= end:
        # (end > start is checked by CaptureSettings, so only the start can lie past the video's end)
        raise ValueError(f"start frame {settings.start} is past the end of the video: it has {info.frame_count} frames "
                         f"(0 to {info.frame_count - 1})")
    count = len(range(settings.start, end, settings.stride))
    if Path(settings.detector).exists() and settings.detector not in DETECTORS:
        return _imported(settings.detector, info, settings, count)

    name = resolve_detector(settings.detector)
    cache = DetectionCache() if settings.use_cache else None
    cache_settings = {"version": DETECTION_VERSION, "start": settings.start, "end": end, "stride": settings.stride,
                      "max_side": DETECTION_MAX_SIDE, **detector_identity(name, settings)} if cache else {}
    if cache is not None:
        hit = cache.load(info.path, name, cache_settings)
        if hit is not None:
            report(ProgressEvent("detect", count, count, "detections from the cache"))
            return Detected(list(hit.detections), True)
    detections = _run_detector(name, info, settings, end, count, report, pool)
    if cache is not None:
        cache.save(info.path, name, cache_settings, detections)
    return Detected(detections, False)


def resolve_detector(name: str) -> str:
    """The detector ``auto`` stands for here: BlazePose when its models and LiteRT are present, else mediapipe."""
    if name != "auto":
        return name
    try:
        from .detect.model_paths import blazepose_model_dir

        blazepose_model_dir()
        import ai_edge_litert  # noqa: F401  (the runtime must be importable too)
        return "blazepose"
    except (ImportError, OSError, ValueError) as exc:
        logger.info("BlazePose on LiteRT unavailable (%s); using mediapipe", exc)
        return "mediapipe"


def detector_identity(name: str, settings: CaptureSettings) -> dict[str, Any]:
    """What decides a detector's output besides the frames, for the detection cache's key: the SHA-256 of its
    model files (or the package version where the models ship inside it) and its thresholds."""
    from .detect.detection_cache import sha256_file

    if name == "blazepose":
        from .detect import blazepose, blazepose_anchors, blazepose_roi
        from .detect.model_paths import MODEL_FILES, blazepose_model_dir

        folder = blazepose_model_dir()
        return {"models": {file: sha256_file(folder / file) for file in MODEL_FILES},
                "thresholds": {"min_score": blazepose_anchors.MIN_SCORE, "iou": blazepose_anchors.IOU_THRESHOLD,
                               "min_presence": blazepose.MIN_PRESENCE, "roi_enlarge": blazepose_roi.ROI_ENLARGE,
                               "heatmap_min_confidence": blazepose.HEATMAP_MIN_CONFIDENCE}}
    if name == "mediapipe":
        import importlib.metadata

        try:
            version = importlib.metadata.version("mediapipe")
        except importlib.metadata.PackageNotFoundError:
            version = None   # the detector then stops with its own message
        return {"models": {"mediapipe": version}, "thresholds": {"min_detection": 0.5, "min_tracking": 0.5}}
    if name == "detectron2":
        from .detect.detectron2_backend import DEFAULT_CONFIG, HALF_CONFIDENCE_SCORE

        config = settings.detectron2_config or DEFAULT_CONFIG
        models = {"config": sha256_file(config) if Path(config).is_file() else config,
                  "weights": sha256_file(settings.detectron2_weights)
                  if settings.detectron2_weights and Path(settings.detectron2_weights).is_file() else None}
        return {"models": models, "thresholds": {"half_confidence_score": HALF_CONFIDENCE_SCORE}}
    raise ValueError(f"unknown detector {name!r}")


def _make_detector(name: str, settings: CaptureSettings) -> PoseDetector:
    if name == "blazepose":
        from .detect.blazepose import BlazePoseDetector

        return BlazePoseDetector()
    if name == "mediapipe":
        from .detect.mediapipe_backend import MediaPipeDetector

        return MediaPipeDetector()
    if name == "detectron2":
        from .detect.detectron2_backend import DEFAULT_CONFIG, Detectron2Detector

        if not settings.detectron2_weights:
            raise ValueError("detectron2 needs --detectron2-weights (the Keypoint R-CNN model file)")
        return Detectron2Detector(settings.detectron2_config or DEFAULT_CONFIG, settings.detectron2_weights)
    raise ValueError(f"unknown detector {name!r}")


def _run_detector(name: str, info: VideoInfo, settings: CaptureSettings, end: int, count: int,
                  report: ProgressCallback, pool: ParallelDetector | None = None) -> list[FrameDetections]:
    if name == "blazepose":
        from .detect.parallel import ParallelDetector

        started = time.perf_counter()

        def on_progress(done: int, total: int) -> None:
            elapsed = time.perf_counter() - started
            eta = elapsed / done * (total - done) if done else None
            report(ProgressEvent("detect", done, total, "detecting (blazepose)", eta))

        def run(pool: ParallelDetector) -> list[FrameDetections]:
            return pool.detect_video(info.path, on_progress, start=settings.start, end=end, stride=settings.stride,
                                     info=info)

        if pool is not None and pool.workers == settings.workers:
            return run(pool)
        with ParallelDetector(settings.workers) as own:
            return run(own)
    detector = _make_detector(name, settings)
    detections: list[FrameDetections] = []
    started = time.perf_counter()
    try:
        for frame in read_frames(info.path, settings.start, end, settings.stride, max_side=DETECTION_MAX_SIDE, prefetch=8):
            detections.append(detector.detect(frame.image).unscaled(frame.scale))
            done = len(detections)
            if done % 5 == 0 or done == count:
                elapsed = time.perf_counter() - started
                report(ProgressEvent("detect", done, count, f"detecting ({name})", elapsed / done * (count - done)))
    finally:
        detector.close()
    return detections


def _imported(path: str, info: VideoInfo, settings: CaptureSettings, count: int) -> Detected:
    from .detect.imported import load_keypoints

    imported = load_keypoints(path, frame_count=None, image_size=(info.width, info.height))
    if imported.fps is not None and abs(imported.fps - info.fps) > 0.01 * info.fps:
        raise ValueError(f"keypoint file {path} was made at {imported.fps:g} fps; the video plays at {info.fps:g} fps")
    frames = imported.detections
    if len(frames) == info.frame_count:
        frames = frames[settings.start : (settings.end or info.frame_count) : settings.stride]
    elif len(frames) != count:
        raise ValueError(f"keypoint file {path} has {len(frames)} frames; the video has {info.frame_count} "
                         f"({count} in the chosen range)")
    return Detected(list(frames), False, imported.focal_px)

"""Whole-video BlazePose detection on several cores: one thread per contiguous segment of frames.

Why this design:

* BlazePose's cost is one landmark-model call per frame (about 7 ms on a core once its unused segmentation head
  is pruned; the person detector runs only when tracking is lost), and LiteRT with two threads per call is
  *slower* than with one. So frames, not calls, are spread across cores;
* tracking makes frame t depend on frame t-1, so frames cannot be dealt out one by one. Each worker takes one
  contiguous segment and starts it with person detection; within a segment tracking is exactly sequential.
  Compared with one sequential pass, only the first frame of each segment differs (it is re-detected), and on
  a multi-person video a segment may lock on to a different person than the previous segment ended with
  (person identity across frames is not the detector's job, see :mod:`.base`);
* threads, not processes: LiteRT's ``invoke`` and OpenCV's decoding and warping release the GIL (measured: two
  threads' model calls overlap for 99% of their duration), and the Python left per frame is about 0.5 ms of
  ~9 ms. Threads share frames already in memory without copying them (a spawned process needed each 6 MB
  1080p frame copied into shared memory, which cost more than detecting it: 61 against 101 fps with one
  worker), start instantly (spawned workers: 0.6 s), and need nothing from the host application, whereas
  ``multiprocessing`` inside Blender depends on ``sys.executable`` and on re-importing the add-on in the child;
* a worker given a video path opens the file itself, seeks to its segment (frame-exact with OpenCV's FFmpeg
  backend; checked, with a decode-and-skip fallback) and decodes it; OpenCV's BGR frames go to the detector as
  decoded (the channel swap happens on the small crops, not on the 1080p frame). When the video makes fewer
  segments than there are workers (a short clip: one segment), a reader thread with one FFmpeg thread decodes
  a few frames ahead (:data:`PREFETCH_FRAMES`), so decoding and detection still use both cores. Measured on
  the four 100-frame 1080x1920 Pose2Sim clips, both cores free: every other frame detected (one segment), 49
  video frames/s decoding in the worker's thread, 65 with a reader thread and FFmpeg's default threads, 70-72
  with one; every frame (two segments), 43-45 in the workers' threads against 40-42 with reader threads.
  What the second core cannot win back on such clips: the second segment decodes the first half again to
  reach its start (their only keyframe is the first frame, so seeking is no faster: 0.29-0.54 s either way).

On the 2-core development machine, shared with a training job, two workers did not beat one (neither did two
processes, nor two pinned pure-Python loops: the second core was not free), so the measured figures are in
``benchmarks/detector.py``'s output rather than here.
"""

from __future__ import annotations

import functools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np

from ..video.reader import DETECTION_MAX_SIDE, VideoFrame, VideoInfo, probe_video, read_frames
from .base import FrameDetections, check_frame
from .blazepose import BlazePoseDetector
from .boxes import iou

logger = logging.getLogger(__name__)

MIN_SEGMENT_FRAMES = 50  # shorter segments are not worth a re-detection (nor decoding the video up to them twice)
PREFETCH_FRAMES = 4  # decoded ahead by each segment's reader thread (6 MB a 1080p frame)
PROGRESS_SECONDS = 0.2


def split_segments(total: int, workers: int, min_frames: int = MIN_SEGMENT_FRAMES) -> list[tuple[int, int]]:
    """Contiguous (start, stop) ranges covering ``range(total)``: at most ``workers``, each >= ``min_frames``
    where possible, lengths differing by at most one."""
    if total < 0 or workers < 1 or min_frames < 1:
        raise ValueError(f"cannot split {total} frames for {workers} workers (min {min_frames} frames each)")
    count = max(1, min(workers, total // min_frames))
    bounds = [round(i * total / count) for i in range(count + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(count)]


class ParallelDetector:
    """BlazePose detectors working on segments of one video side by side; use as a context manager.

    workers:     threads, each with its own detector (one per free core).
    model_dir:   folder of the two model files (default: :func:`.model_paths.blazepose_model_dir`).
    num_threads: LiteRT threads per detector.
    min_segment_frames: a video is cut into at most ``workers`` segments of at least this many frames.

    ``progress(done, total)`` is called from the calling thread, a few times a second and at the end.
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        model_dir: Path | None = None,
        num_threads: int = 1,
        min_segment_frames: int = MIN_SEGMENT_FRAMES,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if min_segment_frames < 1:
            raise ValueError(f"min_segment_frames must be >= 1, got {min_segment_frames}")
        self.workers = workers
        self.min_segment_frames = min_segment_frames
        self._model_dir = model_dir
        self._num_threads = num_threads
        self._idle: queue.SimpleQueue[BlazePoseDetector] = queue.SimpleQueue()
        # One detector now (a bad model file fails here, not in a worker); the others when a segment needs them,
        # in its worker's thread: a video shorter than two segments never pays for a second one (about 0.1 s),
        # and a longer one builds it while the first worker is already detecting.
        self._detectors = [BlazePoseDetector(model_dir, num_threads=num_threads)]
        self._idle.put(self._detectors[0])
        self._building = 0
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="vp3d-blazepose")
        self._done = 0
        self._lock = threading.Lock()

    def __enter__(self) -> ParallelDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        for detector in self._detectors:
            detector.close()
        self._detectors = []

    def prepare(self) -> None:
        """Build every worker's detector now, not when a segment first needs it (a ready child process does
        this while it waits for its video)."""
        while (detector := self._build()) is not None:
            self._idle.put(detector)

    def _segment(self, items: Iterable[np.ndarray | VideoFrame], state: tuple | None = None
                 ) -> tuple[list[FrameDetections], tuple]:
        """Detections for one segment, starting from ``state`` (else with person detection), and the final
        tracking state."""
        detector = self._take()
        try:
            if state is None:
                detector.reset()
            else:
                detector.restore_tracking(state)
            out = []
            for item in items:
                if isinstance(item, VideoFrame):  # detect on the (maybe downscaled) frame, report video pixels
                    out.append(detector.detect(item.image, bgr=item.bgr).unscaled(item.scale))
                else:
                    out.append(detector.detect(item))
                with self._lock:
                    self._done += 1
            return out, detector.tracking_state()
        finally:
            self._idle.put(detector)
            close = getattr(items, "close", None)
            if close is not None:  # a reader thread stops early when the segment failed
                close()

    def _take(self) -> BlazePoseDetector:
        """An idle detector, built here if none is idle and fewer than ``workers`` exist."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        detector = self._build()
        return self._idle.get() if detector is None else detector

    def _build(self) -> BlazePoseDetector | None:
        """A new detector, counted in the pool; None when ``workers`` exist or are being built."""
        with self._lock:
            if len(self._detectors) + self._building >= self.workers:
                return None
            self._building += 1
        try:
            detector = BlazePoseDetector(self._model_dir, num_threads=self._num_threads)
        finally:
            with self._lock:
                self._building -= 1
        with self._lock:
            self._detectors.append(detector)
        return detector

    def _run(self, jobs: list[Callable[[], Iterable[np.ndarray | VideoFrame]]], total: int,
             progress: Callable[[int, int], None] | None) -> list[FrameDetections]:
        """Run each segment (``jobs`` make its frames) on a worker, then stitch the segments together."""
        if not self._detectors:
            raise ValueError("ParallelDetector is closed")
        self._done = 0
        futures = [self._executor.submit(self._segment, job()) for job in jobs]
        pending = set(futures)
        reported, reported_at = -1, -math.inf
        while pending:
            # Until the first frame is done, look often: the first frame's report says that detection has begun.
            timeout = PROGRESS_SECONDS if self._done else PROGRESS_SECONDS / 20
            finished, pending = wait(pending, timeout=timeout, return_when=FIRST_EXCEPTION)
            for future in finished:
                if future.exception() is not None:
                    for other in pending:
                        other.cancel()
                    future.result()  # raises the segment's error here, in the calling thread
            now = time.monotonic()
            if progress is not None and (not pending or (self._done > 0) != (reported > 0)
                                         or now - reported_at >= PROGRESS_SECONDS):
                reported, reported_at = self._done, now
                progress(self._done, max(total, self._done))
        results = [future.result() for future in futures]
        # A segment starts with person detection, which in a crowd may lock on to someone else than the
        # previous segment ended with. Such a segment is run again, continuing the previous one's tracking.
        for k in range(1, len(results)):
            if results[k - 1][0] and results[k][0] and not _same_person(results[k - 1][0][-1], results[k][0][0]):
                logger.info("segment %d started on another person; continuing the previous segment's track", k)
                results[k] = self._segment(jobs[k](), results[k - 1][1])
        return [found for detections, _ in results for found in detections]

    def detect_video(self, path: str | Path, progress: Callable[[int, int], None] | None = None, *, start: int = 0,
                     end: int | None = None, stride: int = 1, max_side: int | None = DETECTION_MAX_SIDE,
                     info: VideoInfo | None = None) -> list:
        """Detections (FrameDetections, video pixels) for frames ``start:end:stride`` of the video at ``path``.

        Each segment is read by its own :func:`..video.read_frames` (rotation metadata honoured, large frames
        downscaled to ``max_side`` for detection), on a reader thread of its own when there are fewer segments
        than workers (see the module docstring). ``info``: the :func:`..video.probe_video`
        of ``path`` the caller has made already (each probe opens the file and decodes a frame: ~35 ms).
        """
        info = probe_video(path) if info is None else info
        end = info.frame_count if end is None else min(end, info.frame_count)
        total = len(range(start, end, stride))
        segments = split_segments(total, self.workers, self.min_segment_frames) if total else []
        prefetch = PREFETCH_FRAMES if len(segments) < self.workers else 0  # a core would idle otherwise
        jobs = [functools.partial(read_frames, path, start + a * stride, start + b * stride, stride, max_side=max_side,
                                  bgr=True, info=info, prefetch=prefetch, decode_threads=1 if prefetch else 0)
                for a, b in segments]
        return self._run(jobs, total, progress)

    def detect_frames(
        self, frames: Sequence[np.ndarray], progress: Callable[[int, int], None] | None = None
    ) -> list:
        """Detections for frames in memory ((H, W, 3) uint8 RGB), in order."""
        for i, frame in enumerate(frames):
            try:
                check_frame(frame)
            except ValueError as exc:
                raise ValueError(f"frame {i}: {exc}") from None
        segments = split_segments(len(frames), self.workers, self.min_segment_frames)
        jobs = [functools.partial(_slice, frames, start, stop) for start, stop in segments]
        return self._run(jobs, len(frames), progress)


def _slice(frames: Sequence[np.ndarray], start: int, stop: int) -> Sequence[np.ndarray]:
    return frames[start:stop]


def _same_person(a: FrameDetections, b: FrameDetections, min_iou: float = 0.3) -> bool:
    """Whether the first person of two neighbouring frames is the same one (boxes overlap); True if unknown."""
    if a.count == 0 or b.count == 0:
        return True
    no_area = [not ((box[2] - box[0]) > 0 and (box[3] - box[1]) > 0) for box in (a.boxes[0], b.boxes[0])]
    return all(no_area) or bool(iou(a.boxes[0], b.boxes[:1])[0] >= min_iou)

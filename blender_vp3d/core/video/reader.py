"""Read a video's frames upright, with their timestamps, and fail early with one clear line on bad files.

Every capture starts here, so the ways a video file goes wrong (not a video, a truncated download, an empty
recording, a phone's rotation flag, a 4K clip) are dealt with once, before any
detector runs. Decoding is OpenCV's FFmpeg backend (``cv2.CAP_FFMPEG`` always, so a name with ``%d`` in it is
never taken for an image sequence).

Rotation. Phones store portrait video as landscape frames plus a display matrix ("rotate 90"). OpenCV reads it
as ``CAP_PROP_ORIENTATION_META`` but, measured with opencv 4.11.0.86 (both the headless and the contrib pip
wheels, FFmpeg 5.1 libraries), it does **not** apply it by default: ``CAP_PROP_ORIENTATION_AUTO`` reads 0 and
frames come out lying on their side; passing it as an ``open`` parameter is refused. ``set(..., 1)`` after
opening works: frames and ``CAP_PROP_FRAME_WIDTH/HEIGHT`` are then as displayed. So we set it, check that it
took, and otherwise rotate each frame with ``cv2.rotate`` ourselves. ``tests/test_video.py`` checks 90, 180
and 270 degrees on clips whose MP4 track matrix is patched (no ffmpeg binary is needed).

Timing. ``VideoFrame.timestamp_s`` is the frame's presentation time from the file (``CAP_PROP_POS_MSEC``). A
capture does not use it: it lifts and keys every clip at the nominal rate (``VideoInfo.fps`` over the stride),
so a variable-frame-rate clip is treated as if its frames were evenly spaced. :func:`is_variable_frame_rate`
and :func:`resample_uniform` are the pieces a re-timing would need; the pipeline does not call them yet.

Truncation. MP4/MOV files are checked up front by walking their top-level boxes (headers only, :mod:`.mp4`): a
box that runs past the end of the file, or no ``moov`` index, means the file was cut. Other containers are caught
while reading: the stream ending more than ``max(2, 2%)`` frames before the frame count the container
announced raises :class:`VideoError` (fewer missing frames only log a warning; edit lists make counts inexact).

OpenCV is imported when a video is opened, not with this module: ``core.capture`` (and so the capture settings
that the Blender add-on's own process uses) imports this module, and that process never decodes video.

Large frames. ``max_side`` downscales frames (``INTER_AREA``) in the reader so that the longer side is at most
that many pixels; ``FrameDetections.unscaled(frame.scale)`` maps keypoints found on the smaller image back to the
video's pixels. Detectors resize internally anyway (BlazePose to 256 px, Keypoint R-CNN to about 800), so
:data:`DETECTION_MAX_SIDE` loses nothing and spares copying and converting 4K frames.

Channel order. Frames are RGB unless read with ``bgr=True``, which hands over OpenCV's BGR frame as decoded:
BlazePose swaps channels on its small crops instead, which spares converting every 1080p frame (about 1 ms of
a core each).
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .mp4 import find_truncation, why_empty

if TYPE_CHECKING:
    import cv2

logger = logging.getLogger(__name__)

# A longer side of 1920 px keeps 1080p untouched and halves 4K; see the module docstring.
DETECTION_MAX_SIDE = 1920
DEFAULT_QUEUE_SIZE = 4  # frames decoded ahead; a 4K RGB frame is 25 MB
SEEK_MIN_FRAMES = 300  # a start this far in is sought, not decoded through (2.5-3.5 ms a 1080p frame here)


class VideoError(ValueError):
    """A video that cannot be used; the message is one line naming the file and the problem."""


@dataclass(frozen=True)
class VideoInfo:
    """What a capture needs to know about a video.

    width, height: frame size in pixels as displayed, i.e. after the rotation flag is applied.
    fps:           nominal frame rate from the container (see ``VideoFrame.timestamp_s`` for real timing).
    frame_count:   frames in the file (the container's count; counted by decoding where it has none).
    rotation_deg:  the file's display rotation (0, 90, 180 or 270, clockwise), already applied to frames.
    duration:      frame_count / fps, seconds.
    codec:         FourCC of the video stream, e.g. "h264", "VP90", "mp4v".
    """

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int
    rotation_deg: int
    duration: float
    codec: str


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame.

    index:       frame number in the file, from 0, in presentation order.
    timestamp_s: presentation time from the file, seconds (need not start at 0).
    image:       (H, W, 3) uint8 RGB (BGR when ``bgr``), upright; smaller than the video when read with ``max_side``.
    video_size:  (width, height) of the video as displayed, for mapping coordinates back.
    bgr:         ``image`` is in OpenCV's BGR order (read with ``bgr=True``).
    """

    index: int
    timestamp_s: float
    image: np.ndarray
    video_size: tuple[int, int]
    bgr: bool = False

    @property
    def scale(self) -> tuple[float, float]:
        """(x, y) factors from video pixels to ``image`` pixels; (1, 1) when not downscaled."""
        return self.image.shape[1] / self.video_size[0], self.image.shape[0] / self.video_size[1]


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open a video, decode its first frame and describe it. Raises :class:`VideoError` on any bad file."""
    import cv2

    path = Path(path)
    _check_file(path)
    cap, rotation, rotate_code = _open(path)
    try:
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        declared = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        codec = _fourcc(cap.get(cv2.CAP_PROP_FOURCC))
        ok, first = cap.read()
        if not ok or first is None:
            raise VideoError(f"{path}: contains no decodable frames (an empty video, or codec {codec!r} is "
                             f"not supported)")
        first_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
        if not math.isfinite(fps) or not 0 < fps < 10000:
            ok, second_ms = cap.grab(), cap.get(cv2.CAP_PROP_POS_MSEC)
            if not ok or not second_ms > first_ms:
                raise VideoError(f"{path}: has no usable frame rate ({fps!r})")
            fps = 1000.0 / (second_ms - first_ms)
            logger.warning("%s: no frame rate in the container; %.3f fps from the first timestamps", path, fps)
            counted = 2
        else:
            counted = 1
        frame_count = int(declared) if math.isfinite(declared) and 0 < declared < 2**31 else 0
        if frame_count == 0:  # the container gives no count (a still image gives -2**63): count by decoding
            frame_count = counted
            while cap.grab():
                frame_count += 1
            if frame_count == 1:
                raise VideoError(f"{path}: has a single frame and no frame count: a still image, not a video")
            logger.info("%s: no frame count in the container; counted %d frames", path, frame_count)
    finally:
        cap.release()
    if rotate_code is not None:
        first = cv2.rotate(first, rotate_code)
    if rotate_code is not None or (height, width) != first.shape[:2]:
        height, width = first.shape[:2]
    info = VideoInfo(path=path, width=width, height=height, fps=fps, frame_count=frame_count,
                     rotation_deg=rotation, duration=frame_count / fps, codec=codec)
    logger.debug("probed %s", info)
    return info


def read_frames(path: str | os.PathLike, start: int = 0, end: int | None = None, stride: int = 1, *,
                max_side: int | None = None, prefetch: int = 0, bgr: bool = False, info: VideoInfo | None = None,
                decode_threads: int = 0) -> Iterator[VideoFrame]:
    """Frames ``start``, ``start + stride``, ... before ``end`` (exclusive; ``None`` for the last frame).

    Frames between ``start`` and ``end`` are decoded in order (skipped ones too: codecs need them). A ``start``
    of :data:`SEEK_MIN_FRAMES` or more is reached by seeking (``CAP_PROP_POS_FRAMES``: the keyframe before,
    then decoding forward), which is exact for constant-frame-rate video; in a variable-frame-rate file
    OpenCV numbers frames by timestamp times fps, so indices there count from that estimate.
    ``prefetch > 0`` decodes that many frames ahead on a background thread (see :class:`ThreadedFrameReader`).
    ``bgr=True`` yields OpenCV's BGR frames as decoded (see the module docstring).
    ``info``: the :func:`probe_video` of ``path`` the caller has made already (probing opens the file and decodes
    its first frame: 30-40 ms of 1080p). ``decode_threads``: FFmpeg's threads for this reader (0: its default, one
    per core); readers that run side by side with detectors on every core do better with 1 (see
    :mod:`..detect.parallel`).
    Raises :class:`VideoError` for a bad or truncated file (a truncation that only shows at the end is raised
    after the last good frame) and ``ValueError`` for a bad range.
    """
    if prefetch:
        return ThreadedFrameReader(path, start, end, stride, max_side=max_side, queue_size=prefetch, bgr=bgr,
                                   info=info, decode_threads=decode_threads)
    info = _probed(path, info, decode_threads)
    first, last = _check_range(info, start, end, stride, max_side)
    return _frames(info, first, last, stride, max_side, bgr, decode_threads)


def _probed(path: str | os.PathLike, info: VideoInfo | None, decode_threads: int) -> VideoInfo:
    """``info``, or a probe of ``path`` when None; checks the reader's arguments that are not the range."""
    if not isinstance(decode_threads, int) or isinstance(decode_threads, bool) or decode_threads < 0:
        raise ValueError(f"decode_threads must be 0 (FFmpeg's default) or more, got {decode_threads!r}")
    if info is None:
        return probe_video(path)
    if Path(info.path).resolve() != Path(path).resolve():
        raise ValueError(f"the video information given is for {info.path}, not {path}")
    return info


class ThreadedFrameReader:
    """Iterate over :func:`read_frames` while a background thread decodes ahead into a bounded queue.

    Decoding (OpenCV releases the GIL) then overlaps detection, so the slower of the two sets the pace.
    Errors in the reader thread are raised from ``next()``. Use as a context manager, or call :meth:`close`,
    to stop early; the thread is a daemon and never outlives the interpreter.
    """

    def __init__(self, path: str | os.PathLike, start: int = 0, end: int | None = None, stride: int = 1, *,
                 max_side: int | None = None, queue_size: int = DEFAULT_QUEUE_SIZE, bgr: bool = False,
                 info: VideoInfo | None = None, decode_threads: int = 0):
        if not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be a positive integer, got {queue_size!r}")
        path = Path(path)
        self.info = _probed(path, info, decode_threads)
        first, last = _check_range(self.info, start, end, stride, max_side)
        frames = _frames(self.info, first, last, stride, max_side, bgr, decode_threads)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._finished = False
        # The thread gets the pieces, not self, so an abandoned reader is collected and __del__ stops it.
        self._thread = threading.Thread(target=_produce, args=(frames, self._queue, self._stop),
                                        name=f"vp3d-reader-{path.name}", daemon=True)
        self._thread.start()

    def __iter__(self) -> ThreadedFrameReader:
        return self

    def __next__(self) -> VideoFrame:
        if self._finished:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self._finished = True
            raise StopIteration
        if isinstance(item, BaseException):
            self._finished = True
            raise item
        return item

    def close(self) -> None:
        """Stop the reader thread and release the video."""
        self._stop.set()
        self._finished = True
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def __enter__(self) -> ThreadedFrameReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)  # absent when __init__ failed
        if stop is not None:
            stop.set()


_END = object()  # the reader thread's last item after the frames


def _produce(frames: Generator[VideoFrame, None, None], out: queue.Queue, stop: threading.Event) -> None:
    """Reader thread: frames into ``out``, then _END or the exception that stopped it."""
    item: object = _END
    try:
        for frame in frames:
            if not _put(out, frame, stop):
                return
    except BaseException as exc:  # handed to the consumer, which raises it
        item = exc
    finally:
        frames.close()  # releases the capture
    _put(out, item, stop)


def _put(out: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def is_variable_frame_rate(timestamps_s: np.ndarray, tolerance: float = 0.1) -> bool:
    """Whether frame intervals differ from their median by more than ``tolerance`` of it.

    Pass the timestamps of consecutive frames (stride 1).
    """
    t = np.asarray(timestamps_s, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"timestamps must be one-dimensional, got shape {t.shape}")
    if len(t) < 3:
        return False
    dt = np.diff(t)
    median = float(np.median(dt))
    if median <= 0:
        raise ValueError("timestamps must increase")
    return bool(np.max(np.abs(dt - median)) > tolerance * median)


def resample_uniform(values: np.ndarray, timestamps_s: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate per-frame ``values`` (T, ...) taken at ``timestamps_s`` onto a grid at ``fps``.

    Returns (values on the grid, grid times); the grid starts at the first timestamp and ends at or before the
    last. NaN in a value makes the grid points next to it NaN (the lifter treats NaN as missing).
    """
    values = np.asarray(values, dtype=np.float64)
    t = np.asarray(timestamps_s, dtype=np.float64)
    if t.ndim != 1 or len(t) != len(values):
        raise ValueError(f"need one timestamp per frame: {len(values)} frames, timestamps of shape {t.shape}")
    if len(t) == 0:
        raise ValueError("no frames to resample")
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be positive and finite, got {fps!r}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("timestamps must increase strictly")
    count = int(math.floor((t[-1] - t[0]) * fps + 1e-6)) + 1
    grid = t[0] + np.arange(count) / fps
    flat = values.reshape(len(t), -1)
    out = np.empty((count, flat.shape[1]))
    for column in range(flat.shape[1]):
        out[:, column] = np.interp(grid, t, flat[:, column])
    return out.reshape((count,) + values.shape[1:]), grid


# --- opening and probing -----------------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: is not a file")
    size = path.stat().st_size
    if size == 0:
        raise VideoError(f"{path}: is empty (0 bytes)")
    problem = find_truncation(path, size)
    if problem:
        raise VideoError(f"{path}: {problem}")


def _open(path: Path, threads: int = 0) -> tuple[cv2.VideoCapture, int, int | None]:
    """Open with FFmpeg and make frames upright: (capture, rotation in degrees, rotate code or None).
    ``threads``: FFmpeg's decoding threads (0: its default)."""
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, threads] if threads else [])
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{path}: {why_empty(path) or 'is not a video FFmpeg can read'}")
    rotation = _rotation(cap.get(cv2.CAP_PROP_ORIENTATION_META), path)
    rotate_code = None
    if rotation:
        applied = cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1) and cap.get(cv2.CAP_PROP_ORIENTATION_AUTO) == 1
        if not applied:
            rotate_code = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180,
                           270: cv2.ROTATE_90_COUNTERCLOCKWISE}[rotation]
            logger.info("%s: OpenCV does not apply the %d degree rotation; rotating frames here", path, rotation)
    return cap, rotation, rotate_code


def _rotation(value: float, path: Path) -> int:
    if not math.isfinite(value):
        return 0
    rotation = int(round(value / 90.0)) * 90 % 360
    if abs((value - rotation + 180.0) % 360.0 - 180.0) > 1.0:
        logger.warning("%s: rotation %.1f degrees is not a multiple of 90; using %d", path, value, rotation)
    return rotation


def _fourcc(value: float) -> str:
    code = int(value) if math.isfinite(value) and value > 0 else 0
    text = code.to_bytes(4, "little").decode("latin-1").strip("\x00 ")
    return text if text.isprintable() else ""


def _check_range(info: VideoInfo, start: int, end: int | None, stride: int,
                 max_side: int | None) -> tuple[int, int]:
    for name, value in (("start", start), ("stride", stride)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if start < 0:
        raise ValueError(f"start must be 0 or more, got {start}")
    if stride < 1:
        raise ValueError(f"stride must be 1 or more, got {stride}")
    if end is not None and (not isinstance(end, (int, np.integer)) or isinstance(end, bool) or end <= start):
        raise ValueError(f"end must be an integer greater than start ({start}), got {end!r}")
    if max_side is not None and (not isinstance(max_side, (int, np.integer)) or max_side < 16):
        raise ValueError(f"max_side must be an integer of at least 16 pixels, got {max_side!r}")
    if start >= info.frame_count:
        raise ValueError(f"start frame {start} is past the end of {info.path.name} ({info.frame_count} frames)")
    last = info.frame_count if end is None else min(int(end), info.frame_count)
    return int(start), last


def _frames(info: VideoInfo, start: int, end: int, stride: int,
            max_side: int | None, keep_bgr: bool = False, threads: int = 0) -> Generator[VideoFrame, None, None]:
    import cv2

    cap, _, rotate_code = _open(info.path, threads)
    size = (info.width, info.height)
    target = _downscaled_size(size, max_side)
    index = 0
    if start >= SEEK_MIN_FRAMES:
        if cap.set(cv2.CAP_PROP_POS_FRAMES, start) and round(cap.get(cv2.CAP_PROP_POS_FRAMES)) == start:
            index = start
        else:  # start again from the beginning and decode up to start
            logger.info("%s: cannot seek to frame %d; decoding from the start", info.path, start)
            cap.release()
            cap, _, rotate_code = _open(info.path, threads)
    try:
        while index < end:
            if not cap.grab():
                break
            if index >= start and (index - start) % stride == 0:
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    raise VideoError(f"{info.path}: frame {index} could not be decoded")
                milliseconds = cap.get(cv2.CAP_PROP_POS_MSEC)
                timestamp = milliseconds / 1000.0 if math.isfinite(milliseconds) and milliseconds >= 0 \
                    else index / info.fps
                if rotate_code is not None:
                    bgr = cv2.rotate(bgr, rotate_code)
                if target is not None:
                    bgr = cv2.resize(bgr, target, interpolation=cv2.INTER_AREA)
                image = bgr if keep_bgr else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                yield VideoFrame(index=index, timestamp_s=timestamp, image=image, video_size=size, bgr=keep_bgr)
            index += 1
    finally:
        cap.release()
    if index < end:
        missing = end - index
        if missing > max(2, math.ceil(0.02 * info.frame_count)):
            raise VideoError(f"{info.path}: is truncated: the stream ends after {index} of "
                             f"{info.frame_count} frames")
        logger.warning("%s: stream ended %d frame(s) before the %d the container announced", info.path, missing,
                       info.frame_count)


def _downscaled_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int] | None:
    if max_side is None or max(size) <= max_side:
        return None
    scale = max_side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))

"""Video reading: the real sample clips, rotation flags, variable frame rate, and every kind of bad file.

Rotated and variable-frame-rate clips are made here without an ffmpeg binary: OpenCV writes a small MP4
(``mp4v``, index after the data) and we patch its track header matrix or its ``stts`` time table.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from blender_vp3d.core.detect.base import FrameDetections
from blender_vp3d.core.video import reader as video
from blender_vp3d.core.video.reader import (
    DETECTION_MAX_SIDE,
    ThreadedFrameReader,
    VideoError,
    is_variable_frame_rate,
    probe_video,
    read_frames,
    resample_uniform,
)

SAMPLES = Path(__file__).resolve().parents[1] / ".cache" / "samples" / "pose2sim"
STBL = [b"moov", b"trak", b"mdia", b"minf", b"stbl"]


@pytest.fixture(scope="module")
def cam01() -> Path:
    path = SAMPLES / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    if not path.is_file():
        pytest.fail(f"sample video {path} is missing: run `python3 build.py env`")
    return path


def write_clip(path: Path, frames: int = 10, size: tuple[int, int] = (64, 48), fps: float = 30.0) -> Path:
    """A BGR clip whose top-left 16x16 corner is red and whose brightness encodes the frame number."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for i in range(frames):
        image = np.full((height, width, 3), 10 * i, np.uint8)
        image[:16, :16] = (0, 0, 255)
        writer.write(image)
    writer.release()
    return path


def box_spans(data: bytes, names: list[bytes]) -> list[tuple[int, int]]:
    """(offset, size) of each box along a path of nested MP4 boxes."""
    start, end, spans = 0, len(data), []
    for name in names:
        offset = start
        while offset + 8 <= end:
            size, kind = struct.unpack(">I4s", data[offset:offset + 8])
            if kind == name:
                break
            offset += size
        else:
            raise KeyError(name)
        spans.append((offset, size))
        start, end = offset + 8, offset + size
    return spans


def replace_box(data: bytes, names: list[bytes], payload: bytes) -> bytes:
    """Replace the last box of ``names`` and fix its ancestors' sizes (the media data must come first)."""
    spans = box_spans(data, names)
    assert box_spans(data, [b"mdat"])[0][0] < spans[0][0], "chunk offsets would move"
    offset, size = spans[-1]
    box = struct.pack(">I4s", 8 + len(payload), names[-1]) + payload
    out = bytearray(data)
    out[offset:offset + size] = box
    for parent_offset, parent_size in spans[:-1]:
        out[parent_offset:parent_offset + 4] = struct.pack(">I", parent_size + len(box) - size)
    return bytes(out)


def set_rotation(data: bytes, degrees: int) -> bytes:
    """Write a display matrix rotating by ``degrees`` clockwise into the track header (version 0)."""
    offset, _ = box_spans(data, [b"moov", b"trak", b"tkhd"])[-1]
    assert data[offset + 8] == 0
    one, w = 1 << 16, 1 << 30
    a, b, c, d = {90: (0, one, -one, 0), 180: (-one, 0, 0, -one), 270: (0, -one, one, 0)}[degrees]
    out = bytearray(data)
    out[offset + 48:offset + 84] = struct.pack(">9i", a, b, 0, c, d, 0, 0, 0, w)
    return bytes(out)


# --- the real sample videos -------------------------------------------------------------------------------------

def test_probe_sample(cam01):
    info = probe_video(cam01)
    assert (info.width, info.height, info.fps, info.frame_count) == (1080, 1920, 60.0, 100)
    assert info.rotation_deg == 0
    assert info.codec == "h264"
    assert info.duration == pytest.approx(100 / 60)


def test_probe_vp9_sample(cam01):
    info = probe_video(cam01.with_name("cam02.mp4"))
    assert info.codec == "VP90"
    assert (info.width, info.height, info.frame_count) == (1080, 1920, 100)


def test_range_and_stride_give_the_right_frames(cam01):
    frames = list(read_frames(cam01, start=10, end=40, stride=7))
    assert [f.index for f in frames] == [10, 17, 24, 31, 38]
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 60 for i in (10, 17, 24, 31, 38)])
    assert frames[1].image.shape == (1920, 1080, 3) and frames[1].image.dtype == np.uint8
    capture = cv2.VideoCapture(str(cam01))
    for _ in range(18):
        ok, bgr = capture.read()
    capture.release()
    np.testing.assert_array_equal(frames[1].image, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def test_seeking_to_a_late_start_gives_the_same_frames(cam01, monkeypatch):
    decoded = list(read_frames(cam01, start=61, end=64))
    monkeypatch.setattr(video, "SEEK_MIN_FRAMES", 10)
    sought = list(read_frames(cam01, start=61, end=64))
    assert [f.index for f in sought] == [61, 62, 63]
    for a, b in zip(decoded, sought):
        assert a.timestamp_s == pytest.approx(b.timestamp_s)
        np.testing.assert_array_equal(a.image, b.image)


def test_one_decode_thread_and_a_given_probe_give_the_same_frames(cam01):
    plain = list(read_frames(cam01, start=3, end=9, stride=3))
    info = probe_video(cam01)
    for kwargs in ({"decode_threads": 1, "info": info}, {"decode_threads": 1, "info": info, "prefetch": 2}):
        frames = list(read_frames(cam01, start=3, end=9, stride=3, **kwargs))
        assert [f.index for f in frames] == [3, 6]
        for a, b in zip(plain, frames):
            np.testing.assert_array_equal(a.image, b.image)


def test_a_probe_of_another_video_or_bad_thread_counts_are_refused(cam01):
    with pytest.raises(ValueError, match="cam02.mp4, not .*cam01.mp4"):
        read_frames(cam01, info=probe_video(cam01.with_name("cam02.mp4")))
    for threads in (-1, 1.5, True):
        with pytest.raises(ValueError, match="decode_threads must be"):
            read_frames(cam01, decode_threads=threads, prefetch=2)


def test_end_past_the_last_frame_stops_at_the_last(cam01):
    assert [f.index for f in read_frames(cam01, start=95, end=500)] == [95, 96, 97, 98, 99]


def test_threaded_reader_gives_the_same_frames_and_stops_early(cam01):
    plain = list(read_frames(cam01, end=6, stride=2))
    threaded = list(read_frames(cam01, end=6, stride=2, prefetch=2))
    assert [f.index for f in threaded] == [0, 2, 4]
    for a, b in zip(plain, threaded):
        np.testing.assert_array_equal(a.image, b.image)
    with ThreadedFrameReader(cam01, queue_size=1) as reader:
        assert reader.info.frame_count == 100
        assert next(reader).index == 0
    assert not reader._thread.is_alive()
    with pytest.raises(StopIteration):
        next(reader)


# --- rotation and timing ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("degrees, red_corner", [(90, "top-right"), (180, "bottom-right"), (270, "bottom-left")])
def test_rotation_flag_is_applied(tmp_path, degrees, red_corner):
    clip = write_clip(tmp_path / "landscape.mp4")
    rotated = tmp_path / f"rotated{degrees}.mp4"
    rotated.write_bytes(set_rotation(clip.read_bytes(), degrees))
    info = probe_video(rotated)
    assert info.rotation_deg == degrees
    assert (info.width, info.height) == ((48, 64) if degrees in (90, 270) else (64, 48))
    frame = next(iter(read_frames(rotated)))
    assert frame.image.shape == (info.height, info.width, 3)
    red = np.argwhere((frame.image[..., 0] > 200) & (frame.image[..., 2] < 80))
    centre = red.mean(axis=0) / [info.height, info.width]
    vertical, horizontal = red_corner.split("-")
    assert (centre[0] < 0.5) == (vertical == "top") and (centre[1] < 0.5) == (horizontal == "left")


def test_variable_frame_rate_keeps_real_timestamps(tmp_path):
    clip = write_clip(tmp_path / "constant.mp4")  # 10 frames of 512 ticks at 15360 per second
    entries = [(4, 256), (2, 1024), (4, 512)]
    table = struct.pack(">II", 0, len(entries)) + b"".join(struct.pack(">II", *e) for e in entries)
    vfr = tmp_path / "vfr.mp4"
    vfr.write_bytes(replace_box(clip.read_bytes(), STBL + [b"stts"], table))
    times = np.array([f.timestamp_s for f in read_frames(vfr)])
    ticks = np.concatenate([[0], np.cumsum([d for n, d in entries for _ in range(n)])[:-1]])
    np.testing.assert_allclose(times, ticks / 15360, atol=1e-3)
    assert is_variable_frame_rate(times)
    assert not is_variable_frame_rate(np.arange(10) / 30)
    values, grid = resample_uniform(times[:, None] * 2.0, times, 30.0)
    np.testing.assert_allclose(np.diff(grid), 1 / 30)
    np.testing.assert_allclose(values[:, 0], grid * 2.0)


def test_large_video_downscaled_for_detection_maps_back(tmp_path):
    clip = write_clip(tmp_path / "uhd.mp4", frames=2, size=(3840, 2160))
    info = probe_video(clip)
    assert (info.width, info.height) == (3840, 2160)
    frame = next(iter(read_frames(clip, max_side=DETECTION_MAX_SIDE)))
    assert frame.image.shape == (1080, 1920, 3)
    assert frame.scale == (0.5, 0.5)
    keypoints = np.zeros((1, 17, 3))
    keypoints[0, :, :2] = (8.0, 4.0)  # on the small image
    keypoints[0, :, 2] = 0.9
    mapped = FrameDetections(keypoints, np.array([[0.0, 0, 8, 4]]), np.ones(1)).unscaled(frame.scale)
    np.testing.assert_allclose(mapped.keypoints[0, 0], (16.0, 8.0, 0.9))
    np.testing.assert_allclose(mapped.boxes[0], (0, 0, 16, 8))


# --- bad files ----------------------------------------------------------------------------------------------------

def test_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    with pytest.raises(VideoError, match=r"notes\.mp4: is not a video"):
        probe_video(path)


def test_still_image_is_not_a_video(tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.zeros((20, 30, 3), np.uint8))
    with pytest.raises(VideoError, match="still image"):
        probe_video(path)


def test_missing_and_zero_byte_files(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        probe_video(tmp_path / "absent.mp4")
    (tmp_path / "zero.mp4").touch()
    with pytest.raises(VideoError, match=r"zero\.mp4: is empty \(0 bytes\)"):
        probe_video(tmp_path / "zero.mp4")


def test_truncated_mp4_is_refused_before_decoding(tmp_path, cam01):
    data = cam01.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:int(0.3 * len(data))])
    with pytest.raises(VideoError, match=r"cut\.mp4: is truncated"):
        probe_video(cut)
    with pytest.raises(VideoError, match="truncated"):
        next(iter(read_frames(cut)))


def test_truncated_stream_found_while_reading(tmp_path):
    avi = tmp_path / "clip.avi"  # AVI: no up-front check; the stream ends early
    writer = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    for i in range(40):
        writer.write(np.full((48, 64, 3), 5 * i, np.uint8))
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(avi.read_bytes()[: avi.stat().st_size // 2])
    assert probe_video(cut).frame_count == 40
    seen = []
    with pytest.raises(VideoError, match=r"cut\.avi: is truncated: the stream ends after \d+ of 40 frames"):
        for frame in read_frames(cut, prefetch=2):
            seen.append(frame.index)
    assert 0 < len(seen) < 40


def test_empty_video(tmp_path):
    path = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    writer.release()
    with pytest.raises(VideoError, match=r"empty\.mp4: is an empty video"):
        probe_video(path)


@pytest.mark.parametrize("kwargs, message", [
    ({"start": 100}, "past the end"),
    ({"start": -1}, "start must be"),
    ({"stride": 0}, "stride must be"),
    ({"start": 5, "end": 5}, "end must be"),
    ({"max_side": 4}, "max_side"),
])
def test_bad_ranges(cam01, kwargs, message):
    with pytest.raises(ValueError, match=message):
        read_frames(cam01, **kwargs)

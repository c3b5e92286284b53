"""The capture CLI on the real sample videos: outputs, progress, and one-line failures with nothing left."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from blender_vp3d.core.output.motion import Motion
from blender_vp3d.core.training.mocap.bvh import read_bvh


def run_cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {"VP3D_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "blender_vp3d", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=Path(__file__).resolve().parents[1])


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def decode(path: Path, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    return frames


def test_capture_writes_motion_bvh_preview_and_json_progress(tmp_path, sample_videos):
    video = sample_videos / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    out_npz, out_bvh, preview = tmp_path / "m.npz", tmp_path / "m.bvh", tmp_path / "p.mp4"
    result = run_cli("capture", str(video), "-o", str(out_npz), "-o", str(out_bvh), "--preview", str(preview),
                     "--json-progress", cache=tmp_path / "cache")  # default detector: BlazePose on LiteRT
    assert result.returncode == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    stages = [e["stage"] for e in events]
    assert stages[0] == "probe" and stages[-1] == "result" and "detect" in stages and "lift" in stages
    detect = [e for e in events if e["stage"] == "detect"]
    assert detect[-1]["done"] == detect[-1]["total"] == 100
    lift = next(e for e in events if e["stage"] == "lift")  # which model, and what its weights may be used for
    assert "with the default model (Weights trained on CC BY-NC 4.0 data: non-commercial use only.)" in lift["message"]
    motion = Motion.load(out_npz)
    assert motion.joints.shape == (100, 17, 3) and motion.fps == pytest.approx(60, rel=1e-3)
    assert np.isfinite(motion.joints).all()
    # Z up, floor at zero: the head is well above the feet, the feet near the floor
    assert motion.joints[:, 10, 2].mean() > 1.2 and abs(motion.joints[:, [3, 6], 2].min()) < 0.2
    clip = read_bvh(out_bvh)
    assert clip.num_frames == 100 and clip.fps == pytest.approx(60, rel=1e-3)
    assert preview.exists() and preview.with_suffix(".png").exists()
    assert cv2.VideoCapture(str(preview)).get(cv2.CAP_PROP_FRAME_COUNT) == 100
    # the second run reuses the cached detections
    # ... and settings given as one JSON document (as the add-on sends them) replace the flags, all of them
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"rigid_bones": False, "in_place": True}))
    again = run_cli("capture", str(video), "-o", str(tmp_path / "again.npz"), "--json-progress", "--settings",
                    str(settings), "--in-place", cache=tmp_path / "cache")
    assert again.returncode == 0, again.stderr[-2000:]
    summary = json.loads(again.stdout.splitlines()[-1])
    assert summary["detections_cached"] is True and summary["frames"] == 100 and len(summary["tracks"]) == 1
    assert set(summary["timings_s"]) == {"detect", "lift", "clean"}
    free = Motion.load(tmp_path / "again.npz")
    assert free.settings["rigid_bones"] is False and free.settings["in_place"] is True
    upper_arm = lambda m: np.linalg.norm(m.joints[:, 12] - m.joints[:, 11], axis=-1)  # noqa: E731  (elbow - shoulder)
    assert upper_arm(free).std() > 1e-5 > 1e-9 > upper_arm(motion).std()
    assert np.ptp(free.trajectory[:, :2], axis=0).max() < 1e-9 < np.ptp(motion.trajectory[:, :2], axis=0).max()
    settings.write_text(json.dumps({"smoothness": "high"}))
    bad = run_cli("capture", str(video), "-o", str(tmp_path / "bad.npz"), "--settings", str(settings),
                  cache=tmp_path / "cache")
    assert bad.returncode == 2 and "unknown capture setting(s): smoothness" in bad.stderr
    assert any("blazepose" in e.get("message", "") for e in events)


@pytest.mark.parametrize("case", ["not_a_video", "truncated", "empty", "no_person", "few_frames", "missing"])
def test_bad_input_gives_one_line_and_no_output(tmp_path, sample_videos, case):
    cam01 = sample_videos / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    if case == "not_a_video":
        video = tmp_path / "notes.mp4"
        video.write_text("this is not a video\n")
        expected = "video"
    elif case == "truncated":
        video = tmp_path / "cut.mp4"
        data = cam01.read_bytes()
        video.write_bytes(data[: len(data) * 3 // 10])
        expected = "truncated"
    elif case == "empty":
        video = tmp_path / "empty.mp4"
        video.write_bytes(b"")
        expected = "empty"
    elif case == "no_person":
        video = write_video(tmp_path / "black.mp4", [np.zeros((360, 640, 3), np.uint8)] * 20)
        expected = "no person"
    elif case == "few_frames":
        frames = decode(cam01, 6) + [np.zeros((1920, 1080, 3), np.uint8)] * 30
        video = write_video(tmp_path / "few.mp4", frames, fps=60)
        expected = "frames"
    else:
        video = tmp_path / "nowhere.mp4"
        expected = "nowhere.mp4"
    out = tmp_path / "out.npz"
    result = run_cli("capture", str(video), "-o", str(out), "--preview", str(tmp_path / "p.mp4"),
                     "--detector", "mediapipe", cache=tmp_path / "cache")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and expected in lines[-1].lower(), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and not (tmp_path / "p.mp4").exists()
    assert not list(tmp_path.glob("*.partial*")) and not list(tmp_path.glob("*.tmp"))


def test_clip_shorter_than_the_receptive_field_and_4k_input(tmp_path, sample_videos):
    """12 frames at 60 fps (0.2 s, far below the model's 2.7 s field) upscaled to 4K still captures."""
    frames = [cv2.resize(f, (2160, 3840), interpolation=cv2.INTER_LINEAR)
              for f in decode(sample_videos / "Demo_SinglePerson" / "videos" / "cam01.mp4", 12)]
    video = write_video(tmp_path / "short4k.mp4", frames, fps=60)
    out = tmp_path / "short.npz"
    result = run_cli("capture", str(video), "-o", str(out), "--detector", "mediapipe", cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr[-2000:]
    motion = Motion.load(out)
    assert motion.joints.shape == (12, 17, 3) and np.isfinite(motion.joints).all()
    assert motion.image_size == (2160, 3840)
    # keypoints are in the 4K video's pixels, not the downscaled detection frames
    assert np.nanmax(motion.keypoints_2d[..., 1]) > 1920


def test_mismatched_keypoint_file_and_bad_flags(tmp_path, sample_videos):
    video = sample_videos / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    keypoints = tmp_path / "kp.npz"
    np.savez(keypoints, keypoints=np.random.rand(37, 17, 3) * 500, image_size=np.array([1080, 1920]))
    result = run_cli("capture", str(video), "-o", str(tmp_path / "o.npz"), "--detector", str(keypoints),
                     cache=tmp_path / "cache")
    assert result.returncode == 2 and "37" in result.stderr and "100" in result.stderr
    result = run_cli("capture", str(video), "-o", str(tmp_path / "o.txt"), cache=tmp_path / "cache")
    assert result.returncode == 2 and "must end in .npz or .bvh" in result.stderr
    result = run_cli("capture", str(video), "-o", str(tmp_path / "o.npz"), "--focal-mm", "26", cache=tmp_path / "cache")
    assert result.returncode == 2 and "sensor" in result.stderr
    result = run_cli("capture", cache=tmp_path / "cache")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    result = run_cli("capture", str(video), "-o", str(tmp_path / "o.npz"), "--model", "nope", cache=tmp_path / "cache")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith(
        "error: unknown model 'nope': use a bundled model (default") and lines[0].endswith("or the path of a .npz model file")
    result = run_cli("capture", str(video), "-o", str(tmp_path / "o.npz"), "--start", "500", cache=tmp_path / "cache")
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == (
        "error: start frame 500 is past the end of the video: it has 100 frames (0 to 99)")


def test_models_lists_the_bundled_lifters_with_their_licences(tmp_path):
    result = run_cli("models", cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    default, cmu = result.stdout.splitlines()[:2]  # the shipped default, then the CMU-only model
    assert default.split()[0] == "default" and "non-commercial use only." in default
    assert cmu.split()[0] == "cmu" and "Commercial use allowed." in cmu and "vp3d_cmu.npz" in cmu

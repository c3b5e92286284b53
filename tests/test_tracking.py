"""Person tracking: identities through crossings and gaps, the main person, coverage and refusals."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from blender_vp3d.core.detect.base import BLAZEPOSE_TO_COCO17, FrameDetections, boxes_from_keypoints
from blender_vp3d.core.detect.tracking import (
    PersonNotFoundError,
    TrackerSettings,
    linear_assignment,
    select_track,
    track_people,
)

SAMPLES = Path(__file__).resolve().parents[1] / ".cache" / "samples" / "pose2sim"

# A standing COCO-17 pose, unit height, centred on x = 0 with the feet at y = 0.5 and the head at y = -0.5.
POSE = np.array([
    [0.0, -0.45], [-0.03, -0.48], [0.03, -0.48], [-0.06, -0.46], [0.06, -0.46],
    [-0.12, -0.3], [0.12, -0.3], [-0.15, -0.1], [0.15, -0.1], [-0.16, 0.05], [0.16, 0.05],
    [-0.08, 0.05], [0.08, 0.05], [-0.08, 0.28], [0.08, 0.28], [-0.08, 0.5], [0.08, 0.5],
])


def pose_at(x: float, y: float, height: float, rng: np.random.Generator, noise: float = 2.0) -> np.ndarray:
    xy = POSE * height + (x, y) + rng.normal(0, noise, POSE.shape)
    return np.concatenate([xy, rng.uniform(0.6, 1.0, (17, 1))], axis=1)


def frame_of(people: list[np.ndarray], rng: np.random.Generator) -> tuple[FrameDetections, list[int]]:
    """Detections in random order, and the person number of each."""
    order = rng.permutation(len(people))
    keypoints = np.stack([people[i] for i in order]) if people else np.zeros((0, 17, 3))
    return FrameDetections(keypoints, boxes_from_keypoints(keypoints), np.full(len(people), 0.9)), list(order)


def identities(result_tracks, truth: list[list[int]]) -> dict[int, set[int]]:
    """For each track, the set of true person numbers it collected."""
    return {track.track_id: {truth[t][i] for t, i in zip(track.frames, track.indices)} for track in result_tracks}


def test_two_people_crossing_keep_their_identities():
    """Two people of nearly the same size cross; only their motion tells them apart (without the velocity
    prediction, identities swap in most seeds)."""
    rng = np.random.default_rng(0)
    frames, truth = [], []
    for t in range(100):
        a = pose_at(200 + 8 * t, 400, 400, rng)       # walks right
        b = pose_at(1000 - 8 * t, 404, 395, rng)      # walks left; they cross at t = 50
        people, ids = ([b], [1]) if 20 <= t < 26 else ([a, b], [0, 1])  # a is missed for six frames
        detections, order = frame_of(people, rng)
        frames.append(detections)
        truth.append([ids[o] for o in order])
    tracks = track_people(frames)
    found = identities(tracks, truth)
    assert len(tracks) == 2
    assert found == {0: {1}, 1: {0}}  # b, seen in every frame, is the main person
    main = select_track(frames)
    assert main.track_id == 0 and main.coverage == 1.0 and main.keypoints[0, 0, 0] > 900
    walker = select_track(frames, track_id=1)
    assert walker.coverage == pytest.approx(0.94) and walker.keypoints[0, 0, 0] < 300
    assert not walker.present[20:26].any() and walker.present[26:].all()
    assert np.isnan(walker.keypoints[22, :, 0]).all() and np.all(walker.keypoints[22, :, 2] == 0)
    assert np.isnan(walker.boxes[22]).all()
    assert [t.track_id for t in walker.tracks] == [1, 0]


def test_main_person_is_large_and_persistent():
    rng = np.random.default_rng(1)
    frames = []
    for t in range(60):
        people = [pose_at(500, 400, 400, rng), pose_at(1500, 300, 120, rng)]  # a subject and a bystander far away
        if 10 <= t < 14:
            people.append(pose_at(900, 400, 500, rng))  # a large passer-by, briefly
        frames.append(frame_of(people, rng)[0])
    tracks = track_people(frames)
    assert len(tracks) == 3
    main = tracks[0]
    assert main.frame_count == 60 and 390 < main.mean_box_size[1] < 410
    assert "frames 0-59" in main.describe()
    assert [t.frame_count for t in tracks[1:]] in ([60, 4], [4, 60])


def test_refusals():
    rng = np.random.default_rng(2)
    empty = [FrameDetections() for _ in range(50)]
    with pytest.raises(PersonNotFoundError, match="no person was found in any of the 50 frames"):
        select_track(empty)
    few = [frame_of([pose_at(300, 300, 300, rng)] if t < 12 else [], rng)[0] for t in range(50)]
    with pytest.raises(PersonNotFoundError, match=r"found in only 12 of 50 frames \(24%\)"):
        select_track(few)
    assert select_track(few, min_coverage=0.2).coverage == pytest.approx(0.24)
    short = [frame_of([pose_at(300, 300, 300, rng)], rng)[0] for _ in range(8)]
    with pytest.raises(PersonNotFoundError, match="at least 10 frames"):
        select_track(short)
    with pytest.raises(ValueError, match="there is no track 5; the tracks are 0"):
        select_track(few, track_id=5, min_coverage=0.0)
    with pytest.raises(PersonNotFoundError):
        select_track([])


def test_joint_coverage_counts_confident_joints():
    rng = np.random.default_rng(3)
    frames = []
    for t in range(20):
        pose = pose_at(300, 300, 300, rng)
        if t % 2:
            pose[9, 2] = 0.0  # left wrist lost every other frame
        frames.append(frame_of([pose], rng)[0])
    person = select_track(frames)
    assert person.joint_coverage[9] == pytest.approx(0.5)
    assert person.joint_coverage[0] == 1.0


def test_linear_assignment_matches_brute_force():
    rng = np.random.default_rng(4)
    for rows, cols in [(1, 1), (2, 3), (3, 2), (4, 4), (5, 3), (3, 6)]:
        cost = rng.uniform(0, 10, (rows, cols))
        pairs = linear_assignment(cost)
        assert len(pairs) == min(rows, cols)
        best = min(
            sum(cost[r, c] for r, c in zip(range(rows), perm)) if rows <= cols else
            sum(cost[r, c] for r, c in zip(perm, range(cols)))
            for perm in itertools.permutations(range(max(rows, cols)), min(rows, cols))
        )
        assert sum(cost[r, c] for r, c in pairs) == pytest.approx(best)
    assert linear_assignment(np.zeros((0, 3))) == []


def test_settings_are_checked():
    with pytest.raises(ValueError, match="iou_weight"):
        TrackerSettings(iou_weight=1.5)
    with pytest.raises(ValueError, match="max_gap"):
        TrackerSettings(max_gap=-1)


def test_real_detections_with_a_bystander():
    """MediaPipe on the sample clip, plus a smaller copy of the same person elsewhere as a bystander.

    The real detections bring real jitter; the bystander is their copy at 0.45 scale, shifted, missed in a
    third of the frames and listed first in random frames.
    """
    mp = pytest.importorskip("mediapipe")
    from blender_vp3d.core.video.reader import read_frames

    video = SAMPLES / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    if not video.is_file():
        pytest.fail(f"sample video {video} is missing: run `python3 build.py env`")
    real = []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        for frame in read_frames(video, end=40, max_side=960):
            landmarks = pose.process(frame.image).pose_landmarks
            assert landmarks is not None
            height, width = frame.image.shape[:2]
            points = np.array([(p.x * width, p.y * height, p.visibility) for p in landmarks.landmark])
            keypoints = points[list(BLAZEPOSE_TO_COCO17)]
            real.append(FrameDetections(keypoints[None], boxes_from_keypoints(keypoints[None]),
                                        np.ones(1)).unscaled(frame.scale).keypoints[0])
    rng = np.random.default_rng(5)
    frames, truth = [], []
    for t, keypoints in enumerate(real):
        people = [keypoints]
        if rng.random() > 0.33:
            copy = keypoints.copy()
            copy[:, :2] = copy[:, :2] * 0.45 + (600, 900)
            people.append(copy)
        detections, order = frame_of(people, rng)
        frames.append(detections)
        truth.append(order)
    person = select_track(frames)
    assert person.coverage == 1.0
    assert identities(person.tracks[:1], truth)[person.track_id] == {0}
    np.testing.assert_allclose(person.keypoints, np.stack(real))
    assert len(person.tracks) == 2 and identities(person.tracks[1:], truth)[person.tracks[1].track_id] == {1}


def test_detecting_every_other_frame_of_60_fps_video_follows_every_frame_detection(sample_videos, tmp_path,
                                                                                   monkeypatch):
    """The default capture of a 60 fps clip detects every other frame (the lifter's 30 fps) and fills the rest:
    its 2D keypoints stay within a few pixels of detecting every frame, on every frame."""
    from blender_vp3d.core.capture import capture, detection_step
    from blender_vp3d.core.settings import CaptureSettings
    from blender_vp3d.core.video.reader import probe_video

    monkeypatch.setenv("VP3D_CACHE_DIR", str(tmp_path))
    video = sample_videos / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    assert detection_step(probe_video(video), CaptureSettings(), 30.0) == 2
    assert detection_step(probe_video(video), CaptureSettings(detect_every_frame=True), 30.0) == 1
    halved = capture(video, CaptureSettings(use_cache=False)).motion
    full = capture(video, CaptureSettings(use_cache=False, detect_every_frame=True)).motion
    assert halved.num_frames == full.num_frames == 100
    confident = (full.keypoints_2d[..., 2] > 0.5) & (halved.keypoints_2d[..., 2] > 0.5)
    distance = np.linalg.norm(halved.keypoints_2d[..., :2] - full.keypoints_2d[..., :2], axis=-1)[confident]
    assert confident.mean() > 0.8 and np.median(distance) < 4.0, (confident.mean(), np.median(distance))
    assert np.median(np.linalg.norm(halved.joints - full.joints, axis=-1)) < 0.03  # metres

"""Keypoints from elsewhere (our npz, COCO JSON, OpenPose, VideoPose3D); the detectron2 backend without detectron2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from blender_vp3d.core.detect import detectron2_backend
from blender_vp3d.core.detect.base import FrameDetections
from blender_vp3d.core.detect.detectron2_backend import (
    Detectron2Detector,
    Detectron2UnavailableError,
    detections_from_instances,
    keypoint_scores_to_confidence,
)
from blender_vp3d.core.detect.imported import (
    OPENPOSE_BODY25_TO_COCO17,
    load_keypoints,
    save_keypoints_npz,
)


def person(x: float, y: float, confidence: float = 0.9) -> np.ndarray:
    """(17, 3) keypoints spread around (x, y)."""
    offsets = np.stack([np.linspace(-20, 20, 17), np.linspace(-80, 80, 17)], axis=1)
    return np.concatenate([offsets + (x, y), np.full((17, 1), confidence)], axis=1)


def detections(*people: np.ndarray) -> FrameDetections:
    keypoints = np.stack(people) if people else np.zeros((0, 17, 3))
    boxes = np.array([[*p[:, :2].min(0), *p[:, :2].max(0)] for p in people]).reshape(-1, 4)
    return FrameDetections(keypoints, boxes, np.full(len(people), 0.8))


# --- our npz -------------------------------------------------------------------------------------------------------

def test_npz_round_trip_single_person(tmp_path):
    keypoints = np.stack([person(100 + t, 200) for t in range(6)])
    keypoints[2, 4] = (np.nan, np.nan, 0.0)  # one missing joint
    keypoints[3, :, 2] = 0.0                 # nobody in frame 3
    path = save_keypoints_npz(tmp_path / "kp.npz", keypoints, (640, 480), fps=50.0, focal_px=700.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kp.npz"]  # no temporary file left behind
    loaded = load_keypoints(path, frame_count=6, image_size=(640, 480))
    assert (loaded.source, loaded.image_size, loaded.fps, loaded.focal_px) == ("vp3d", (640, 480), 50.0, 700.0)
    assert [d.count for d in loaded.detections] == [1, 1, 1, 0, 1, 1]
    np.testing.assert_array_equal(loaded.detections[2].keypoints[0], keypoints[2])
    np.testing.assert_array_equal(loaded.detections[5].keypoints[0], keypoints[5])


def test_npz_round_trip_of_detections_with_several_people(tmp_path):
    frames = [detections(person(100, 200)), detections(), detections(person(300, 200), person(100, 210, 0.5))]
    path = save_keypoints_npz(tmp_path / "people.npz", frames, (640, 480))
    loaded = load_keypoints(path)
    assert loaded.fps is None and loaded.focal_px is None
    for original, read in zip(frames, loaded.detections):
        np.testing.assert_array_equal(read.keypoints, original.keypoints)
        np.testing.assert_array_equal(read.boxes, original.boxes)
        np.testing.assert_array_equal(read.scores, original.scores)


def test_npz_without_confidence_means_confident(tmp_path):
    path = tmp_path / "xy.npz"
    np.savez(path, keypoints=np.stack([person(50, 60)[:, :2]] * 3), image_size=np.array([320, 240]))
    loaded = load_keypoints(path)
    assert np.all(loaded.detections[0].keypoints[0, :, 2] == 1.0)


@pytest.mark.parametrize("arrays, kwargs, message", [
    ({"keypoints": np.zeros((5, 18, 3)), "image_size": np.array([640, 480])}, {}, r"\(frames, 17, 3\)"),
    ({"keypoints": np.ones((5, 17, 3))}, {}, "'image_size' array .* is missing"),
    ({"keypoints": np.ones((5, 17, 3)), "image_size": np.array([640, 480])}, {"frame_count": 6},
     "has keypoints for 5 frames, the video has 6"),
    ({"keypoints": np.ones((5, 17, 3)), "image_size": np.array([640, 480])}, {"image_size": (1920, 1080)},
     "640x480 image, the video is 1920x1080"),
    ({"keypoints": np.ones((5, 17, 3)), "image_size": np.array([640, 480]), "fps": np.array(-1.0)}, {},
     "'fps' must be positive"),
    ({"something": np.ones(3)}, {}, "needs a 'keypoints' array"),
])
def test_npz_mismatches_are_named(tmp_path, arrays, kwargs, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        load_keypoints(path, **kwargs)


def test_failed_save_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="image_size"):
        save_keypoints_npz(tmp_path / "kp.npz", np.ones((3, 17, 3)), (0, 480))
    with pytest.raises(ValueError, match=r"end in \.npz"):
        save_keypoints_npz(tmp_path / "kp.txt", np.ones((3, 17, 3)), (640, 480))
    assert list(tmp_path.iterdir()) == []


def test_not_an_npz_and_unknown_types(tmp_path):
    (tmp_path / "fake.npz").write_text("hello")
    with pytest.raises(ValueError, match="not an .npz file"):
        load_keypoints(tmp_path / "fake.npz")
    (tmp_path / "kp.csv").write_text("1,2,3")
    with pytest.raises(ValueError, match="unknown keypoint file type '.csv'"):
        load_keypoints(tmp_path / "kp.csv")
    with pytest.raises(ValueError, match="not found"):
        load_keypoints(tmp_path / "absent.json")


# --- COCO JSON -------------------------------------------------------------------------------------------------------

def coco_entry(image_id, keypoints: np.ndarray, score: float = 0.9, category: int = 1) -> dict:
    return {"image_id": image_id, "category_id": category, "keypoints": keypoints.ravel().tolist(), "score": score}


def test_coco_results_keep_frames_without_detections(tmp_path):
    raw = person(100, 200)
    entries = [coco_entry(i, raw) for i in (1, 2, 4, 5)] + [coco_entry(4, person(400, 200), 0.7),
                                                         coco_entry(2, raw, category=3)]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(entries))
    loaded = load_keypoints(path, frame_count=5)
    assert loaded.source == "coco" and loaded.image_size is None
    assert [d.count for d in loaded.detections] == [1, 1, 0, 2, 1]
    np.testing.assert_allclose(loaded.detections[0].keypoints[0, :, :2], raw[:, :2] + 0.5)
    np.testing.assert_allclose(loaded.detections[0].keypoints[0, :, 2], 0.9)
    np.testing.assert_allclose(loaded.detections[3].scores, [0.9, 0.7])
    with pytest.raises(ValueError, match="image id 5 is not a frame"):
        load_keypoints(path, frame_count=5, first_image_id=0)
    longer = load_keypoints(path, frame_count=7)  # the video goes on after the last detection
    assert [d.count for d in longer.detections] == [1, 1, 0, 2, 1, 0, 0]


def test_coco_dataset_with_images_and_visibility_flags(tmp_path):
    raw = person(100, 200)
    raw[:, 2] = 2.0
    raw[3] = (0.0, 0.0, 0.0)  # not labelled
    data = {
        "images": [{"id": f"frame_{i}.jpg", "width": 640, "height": 480} for i in (10, 9, 11)],
        "annotations": [coco_entry("frame_10.jpg", raw), coco_entry("frame_9.jpg", raw)],
    }
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(data))
    loaded = load_keypoints(path, frame_count=3, image_size=(640, 480))
    assert loaded.image_size == (640, 480)
    assert [d.count for d in loaded.detections] == [1, 1, 0]  # frame_9, frame_10, frame_11
    keypoints = loaded.detections[0].keypoints[0]
    assert keypoints[0, 2] == 1.0 and keypoints[3, 2] == 0.0 and np.isnan(keypoints[3, 0])


def test_coco_detectron2_scores(tmp_path):
    raw = person(100, 200, confidence=0.05)
    path = tmp_path / "d2.json"
    path.write_text(json.dumps([coco_entry(0, raw)]))
    loaded = load_keypoints(path, score_kind="detectron2")
    np.testing.assert_allclose(loaded.detections[0].keypoints[0, :, 2], 0.5)


@pytest.mark.parametrize("content, message", [
    ([{"image_id": 0, "keypoints": [1.0] * 54}], "54 keypoint numbers; COCO-17 needs 51"),
    ([{"keypoints": [1.0] * 51}], "needs 'image_id' and 'keypoints'"),
    ({"images": []}, "needs an 'annotations' list"),
    ([], "contains no person keypoints"),
])
def test_coco_mismatches_are_named(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=message):
        load_keypoints(path)


def test_coco_invalid_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("[{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_keypoints(path)


# --- OpenPose -----------------------------------------------------------------------------------------------------

def write_openpose(folder: Path, frames: list[list[np.ndarray]]) -> Path:
    folder.mkdir()
    for t, people in enumerate(frames):
        data = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": p.ravel().tolist()}
                                           for p in people]}
        (folder / f"clip_{t:012d}_keypoints.json").write_text(json.dumps(data))
    return folder


def test_openpose_body25_maps_to_coco17(tmp_path):
    body25 = np.zeros((25, 3))
    body25[:, 0] = np.arange(25) * 10.0  # x encodes the OpenPose joint number
    body25[:, 1] = 5.0
    body25[:, 2] = 0.8
    body25[7] = 0.0  # left wrist not found
    frames = [[body25]] * 11 + [[]]  # 12 frames: natural order must put 10 and 11 last
    folder = write_openpose(tmp_path / "openpose", frames)
    loaded = load_keypoints(folder, frame_count=12)
    assert loaded.source == "openpose"
    assert [d.count for d in loaded.detections] == [1] * 11 + [0]
    keypoints = loaded.detections[0].keypoints[0]
    expected_x = np.array(OPENPOSE_BODY25_TO_COCO17) * 10.0 + 0.5
    wrist = 9  # COCO left wrist
    good = np.arange(17) != wrist
    np.testing.assert_allclose(keypoints[good, 0], expected_x[good])
    assert keypoints[5, 0] == 50.5 and keypoints[12, 0] == 90.5  # left shoulder, right hip
    assert np.isnan(keypoints[wrist, 0]) and keypoints[wrist, 2] == 0.0


def test_openpose_coco18_and_wrong_counts(tmp_path):
    coco18 = np.ones((18, 3))
    coco18[:, 0] = np.arange(18)
    loaded = load_keypoints(write_openpose(tmp_path / "coco18", [[coco18]]))
    assert loaded.detections[0].keypoints[0, 1, 0] == 15.5  # COCO left eye = OpenPose COCO-18 joint 15
    write_openpose(tmp_path / "bad", [[np.ones((20, 3))]])
    with pytest.raises(ValueError, match="60 pose_keypoints_2d numbers; expected 75"):
        load_keypoints(tmp_path / "bad")
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match="no OpenPose"):
        load_keypoints(tmp_path / "none")


# --- VideoPose3D ----------------------------------------------------------------------------------------------------

class _TouchOnUnpickle:
    """Unpickling this creates a file: proof that a load ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_videopose3d_pickled_npz_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    path = tmp_path / "data_2d_custom_myvideos.npz"
    positions = np.empty((), dtype=object)
    positions[()] = {"video.mp4": {"custom": [np.zeros((4, 17, 2))]}, "trap": _TouchOnUnpickle(marker)}
    np.savez(path, positions_2d=positions, metadata=np.array({"layout_name": "coco"}, dtype=object))
    with pytest.raises(ValueError, match="pickled object.*convert it to plain arrays"):
        load_keypoints(path)
    assert not marker.exists()


def test_videopose3d_plain_positions(tmp_path):
    path = tmp_path / "vp3d.npz"
    positions = np.stack([person(100 + t, 200)[:, :2] for t in range(4)])
    np.savez(path, positions_2d=positions, res_w=np.array(1000), res_h=np.array(1002))
    loaded = load_keypoints(path, frame_count=4, image_size=(1000, 1002))
    assert (loaded.source, loaded.image_size) == ("videopose3d", (1000, 1002))
    np.testing.assert_array_equal(loaded.detections[3].keypoints[0, :, :2], positions[3])
    np.savez(path, positions_2d=np.zeros((4, 16, 2)))
    with pytest.raises(ValueError, match=r"positions_2d must be \(frames, 17, 2 or 3\)"):
        load_keypoints(path)


# --- detectron2 backend (without detectron2) ------------------------------------------------------------------------

class FakeTensor:
    """Just enough of a torch tensor: detach().cpu().numpy()."""

    def __init__(self, array):
        self.array = np.asarray(array)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.array

    def __len__(self):
        return len(self.array)


def fake_instances(keypoints, scores, classes):
    keypoints = np.asarray(keypoints, dtype=np.float32)
    boxes = np.array([[*k[:, :2].min(0), *k[:, :2].max(0)] for k in keypoints]).reshape(-1, 4)
    instances = SimpleNamespace(pred_keypoints=FakeTensor(keypoints), scores=FakeTensor(scores),
                                pred_classes=FakeTensor(classes), pred_boxes=SimpleNamespace(tensor=FakeTensor(boxes)))
    instances.to = lambda device: instances
    return instances


def test_detectron2_output_conversion():
    kp = np.stack([person(100, 200), person(300, 200)])
    kp[:, :, 2] = np.linspace(0.01, 0.3, 17)  # spatial-softmax scores, as detectron2 gives
    converted = detections_from_instances(fake_instances(kp, [0.99, 0.7], [0, 0]))
    assert converted.count == 2
    np.testing.assert_allclose(converted.keypoints[:, :, :2], kp[:, :, :2], rtol=1e-6)
    np.testing.assert_allclose(converted.keypoints[:, :, 2], keypoint_scores_to_confidence(kp[:, :, 2]), rtol=1e-6)
    np.testing.assert_allclose(converted.boxes[1], [*kp[1, :, :2].min(0), *kp[1, :, :2].max(0)], rtol=1e-6)
    np.testing.assert_allclose(converted.scores, [0.99, 0.7], rtol=1e-6)
    assert detections_from_instances(fake_instances(kp, [0.99, 0.4], [0, 1]), min_score=0.5).count == 1
    assert detections_from_instances(fake_instances(np.zeros((0, 17, 3)), [], [])).count == 0
    with pytest.raises(ValueError, match="not a keypoint model"):
        detections_from_instances(SimpleNamespace(scores=FakeTensor([0.9])))


def test_keypoint_score_mapping_is_monotone_in_unit_range():
    scores = np.array([0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0])
    confidence = keypoint_scores_to_confidence(scores)
    assert np.all(np.diff(confidence) > 0) and confidence[0] == 0.0 and confidence[-1] <= 1.0
    np.testing.assert_allclose(confidence[[2, 3]], [0.5, 0.75])
    assert keypoint_scores_to_confidence(np.array([np.nan]))[0] == 0.0
    logits = keypoint_scores_to_confidence(np.array([-2.0, 0.0, 2.0]))  # older detectron2: logits
    np.testing.assert_allclose(logits, 1 / (1 + np.exp([2.0, 0.0, -2.0])))


def test_detectron2_missing_gives_install_instructions(monkeypatch):
    monkeypatch.setitem(sys.modules, "detectron2", None)  # importing it now fails, installed or not
    with pytest.raises(Detectron2UnavailableError) as caught:
        Detectron2Detector("keypoint_rcnn_R_101_FPN_3x.yaml", "model_final_997cc7.pkl")
    message = str(caught.value)
    assert "pip install 'git+https://github.com/facebookresearch/detectron2.git'" in message
    assert "torch" in message and "\n" not in message
    assert isinstance(caught.value, ImportError) and isinstance(caught.value, ValueError)


def test_detectron2_detector_glue_with_a_fake_detectron2(monkeypatch, tmp_path):
    config = tmp_path / "keypoint_rcnn_R_101_FPN_3x.yaml"
    config.write_text("_BASE_: ../Base-Keypoint-RCNN-FPN.yaml\n")
    weights = tmp_path / "model_final_997cc7.pkl"
    weights.write_bytes(b"weights")
    seen = {}

    def get_cfg():
        cfg = SimpleNamespace(MODEL=SimpleNamespace(KEYPOINT_ON=True, WEIGHTS="", DEVICE="",
                                                    ROI_HEADS=SimpleNamespace(SCORE_THRESH_TEST=0.05),
                                                    ROI_KEYPOINT_HEAD=SimpleNamespace(NUM_KEYPOINTS=17)))
        cfg.merge_from_file = lambda path: seen.setdefault("config", path)
        cfg.freeze = lambda: None
        return cfg

    class Predictor:
        def __init__(self, cfg):
            seen["cfg"] = cfg

        def __call__(self, image):
            seen["image"] = image
            return {"instances": fake_instances(person(100, 200)[None], [0.9], [0])}

    torch = SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False))
    monkeypatch.setattr(detectron2_backend, "_import_detectron2", lambda: (torch, get_cfg, None, Predictor))
    detector = Detectron2Detector(config, weights, score_threshold=0.6)
    assert detector.name == "detectron2"
    assert seen["config"] == str(config)
    assert (seen["cfg"].MODEL.WEIGHTS, seen["cfg"].MODEL.DEVICE) == (str(weights), "cpu")
    assert seen["cfg"].MODEL.ROI_HEADS.SCORE_THRESH_TEST == 0.6
    frame = np.zeros((8, 6, 3), np.uint8)
    frame[..., 0] = 255  # red in RGB
    found = detector.detect(frame)
    assert found.count == 1
    assert seen["image"][0, 0, 2] == 255 and seen["image"][0, 0, 0] == 0  # the predictor got BGR
    with pytest.raises(ValueError, match="weights not found"):
        Detectron2Detector(config, tmp_path / "absent.pkl")

"""CaptureSettings: validated once when made, one JSON document to the child process and back."""

from __future__ import annotations

import json

import pytest

from blender_vp3d.core.checks import check_positive
from blender_vp3d.core.settings import UI_FIELDS, CaptureSettings


def test_json_round_trip_keeps_every_field():
    settings = CaptureSettings(start=3, end=40, stride=2, smoothing="one_euro", focal_mm=26.0, sensor_mm=36,
                               height_m=1.7, foot_lock=False, refine=False, rigid_bones=False, in_place=True,
                               face_viewer=False, track_id=1, workers=1, use_cache=False)
    again = CaptureSettings.from_json(settings.to_json())
    assert again == settings
    assert again.rigid_bones is False and again.sensor_mm == 36.0 and isinstance(again.sensor_mm, float)


@pytest.mark.parametrize("values, message", [
    ({"start": 5, "end": 5}, "invalid frame range"),
    ({"stride": 0}, "invalid frame range"),
    ({"smoothing": "gauss"}, "unknown smoothing"),
    ({"detector": "no/such/file.json"}, "unknown detector"),
    ({"focal_mm": 26.0}, "go together"),
    ({"focal_px": 900.0, "focal_mm": 26.0, "sensor_mm": 36.0}, "not both"),
    ({"height_m": float("nan")}, "height_m must be a positive number"),
    ({"height_m": -1.0}, "height_m must be a positive number"),
    ({"height_m": 5.0}, r"height_m must be between 0.3 and 3.0 metres, got 5.0"),
    ({"height_m": 0.1}, r"height_m must be between 0.3 and 3.0 metres"),
    ({"start": "3"}, "start must be int"),
    ({"start": True}, "start must be int"),
    ({"foot_lock": 1}, "foot_lock must be bool"),
    ({"end": 2.5}, "end must be int | None"),
    ({"workers": 0}, "workers must be at least 1"),
    ({"model": "nope"}, r"unknown model 'nope': use a bundled model \(default"),
    ({"model": "no/such/model.npz"}, "model file not found: no/such/model.npz"),
])
def test_bad_values_are_refused_with_one_line(values, message):
    with pytest.raises(ValueError, match=message) as error:
        CaptureSettings(**values)
    assert "\n" not in str(error.value)


def test_from_dict_names_unknown_keys_and_rejects_non_objects():
    with pytest.raises(TypeError, match="unknown capture setting.*smoothness"):
        CaptureSettings.from_dict({"smoothness": "high"})
    with pytest.raises(ValueError, match="JSON object"):
        CaptureSettings.from_json(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="not valid JSON"):
        CaptureSettings.from_json("{start: 1")


def test_settings_are_frozen():
    settings = CaptureSettings()
    with pytest.raises(AttributeError):
        settings.start = 4  # type: ignore[misc]


def test_ui_fields_are_the_panels():
    assert UI_FIELDS == ("start", "end", "detector", "smoothing", "foot_lock", "in_place", "height_m", "focal_mm",
                         "sensor_mm", "model")


def test_check_positive():
    assert check_positive("fps", 30) == 30.0
    for bad in (0, -1.0, float("inf"), float("nan"), True, "3"):
        with pytest.raises(ValueError, match="fps must be a positive number"):
            check_positive("fps", bad)

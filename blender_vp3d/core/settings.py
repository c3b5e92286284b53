"""What a capture is: one frozen settings object, validated when it is made, from the panel to the pipeline.

The add-on's panel (``Scene.vp3d``) and operator derive their properties from the fields marked for the UI
(same names, the labels and descriptions below); the batch API takes the fields as keyword arguments; the child
process receives them as one JSON document (:meth:`CaptureSettings.to_json`), and the CLI builds them from its
flags. The Motion stores them (:meth:`CaptureSettings.to_dict`), so a capture can be repeated.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .checks import check_positive
from .cleanup import filters
from .cleanup.world import SUBJECT_HEIGHT_RANGE_M
from .lift.bundled import is_bundled_name, resolve_model

DETECTORS = ("auto", "blazepose", "mediapipe", "detectron2")


def _ui(label: str, description: str, **extra: Any) -> dict[str, Any]:
    """Field metadata for the add-on: shown on the panel with this label and tooltip. ``extra``: ``unset``
    (the panel's value standing for None), ``ui_default`` (the panel's default where the field's is None),
    ``min``/``soft_max``/``unit`` (Blender property options)."""
    return {"ui": {"label": label, "description": description, **extra}}


@dataclass(frozen=True)
class CaptureSettings:
    """Everything that decides a capture's result; ``ValueError`` (one line) when made with a bad value."""

    start: int = field(default=0, metadata=_ui("First Frame", "First video frame to capture (0 is the first)",
                                               min=0))
    end: int | None = field(default=None, metadata=_ui("End Frame", "Stop before this video frame; 0 captures to "
                                                       "the end", unset=0, min=0))
    stride: int = 1
    detector: str = field(default="auto", metadata=_ui("Detector", "2D keypoint detector"))
    smoothing: str = field(default=filters.DEFAULT_METHOD, metadata=_ui("Smoothing", "Temporal filter"))
    foot_lock: bool = field(default=True, metadata=_ui("Foot Lock", "Pin the feet while they touch the ground "
                                                       "(less foot sliding)"))
    in_place: bool = field(default=False, metadata=_ui("In Place", "Keep the pelvis over its first position "
                                                       "(no root motion)"))
    height_m: float | None = field(default=None, metadata=_ui(
        "Subject Height", "Height of the person (rescales the result); 0 keeps the model's estimate",
        unset=0.0, min=0.0, max=SUBJECT_HEIGHT_RANGE_M[1], soft_max=2.5, unit="LENGTH"))
    focal_px: float | None = None      # focal length in pixels, if known
    focal_mm: float | None = field(default=None, metadata=_ui(
        "Focal Length", "Lens focal length in mm; 0 assumes a 26 mm-equivalent lens", unset=0.0, min=0.0,
        soft_max=300.0, unit="CAMERA"))
    sensor_mm: float | None = field(default=None, metadata=_ui(
        "Sensor Width", "Sensor width in mm across the long image side (with Focal Length)", unset=0.0,
        ui_default=36.0, min=1.0, soft_max=100.0, unit="CAMERA"))
    refine: bool = True                # fit the lifted motion to the 2D keypoints (core.lift.refine)
    rigid_bones: bool = True           # one length per bone over the clip (see core.cleanup.bones)
    face_viewer: bool = True           # subject faces -Y (Blender's front view) at the first frame
    track_id: int | None = None        # another person than the main one (ids from the tracking report)
    detectron2_config: str | None = None
    detectron2_weights: str | None = None
    workers: int = 2                   # processes for detection (BlazePose)
    detect_every_frame: bool = False   # also above the lifter's rate (default: capture.detection_step)
    use_cache: bool = True
    model: str | None = field(default=None, metadata=_ui(
        "Lifter Model", "Which bundled lifter model turns the 2D into 3D (each states its licence)", unset="default"))
    # ``model``: a bundled model's name (core.lift.bundled) or a model file; None: the default bundled model

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _checked_type(f.name, str(f.type), getattr(self, f.name)))
        if not (self.detector in DETECTORS or Path(self.detector).exists()):
            raise ValueError(f"unknown detector {self.detector!r}: use one of {', '.join(DETECTORS)} or a keypoint file")
        if self.start < 0 or self.stride < 1 or (self.end is not None and self.end <= self.start):
            raise ValueError(f"invalid frame range: start={self.start}, end={self.end}, stride={self.stride}")
        if self.smoothing not in filters.METHODS:
            raise ValueError(f"unknown smoothing {self.smoothing!r}: use one of {', '.join(filters.METHODS)}")
        if (self.focal_mm is None) != (self.sensor_mm is None):
            raise ValueError("--focal-mm and --sensor-mm go together (the sensor width is needed to convert mm to pixels)")
        if self.focal_px is not None and self.focal_mm is not None:
            raise ValueError("give the focal length either in pixels or in millimetres, not both")
        for name in ("focal_px", "focal_mm", "sensor_mm", "height_m"):
            value = getattr(self, name)
            if value is not None:
                check_positive(name, value)
        low, high = SUBJECT_HEIGHT_RANGE_M
        if self.height_m is not None and not low <= self.height_m <= high:   # checked here, not after detecting
            raise ValueError(f"height_m must be between {low} and {high} metres, got {self.height_m}")
        if self.model is not None:
            resolve_model(self.model)  # a name no bundled model has: ValueError listing those that are
            if not is_bundled_name(self.model) and not Path(self.model).is_file():
                raise ValueError(f"model file not found: {self.model}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> CaptureSettings:
        """From :meth:`to_dict` (or keyword settings); ``TypeError`` naming an unknown key."""
        if not isinstance(data, dict):
            raise ValueError(f"capture settings must be a JSON object, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise TypeError(f"unknown capture setting(s): {', '.join(unknown)}; known: {', '.join(known)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> CaptureSettings:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"capture settings are not valid JSON ({exc})") from None
        return cls.from_dict(data)


UI_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(CaptureSettings) if "ui" in f.metadata)
"""The settings the add-on's panel and operator show, in the panel's order."""


_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def _checked_type(name: str, annotation: str, value: Any) -> Any:
    """``value`` if it fits the field's annotation (``"int"``, ``"float | None"``, ...); floats as float."""
    kinds = [kind.strip() for kind in annotation.split("|")]
    if value is None and "None" in kinds:
        return None
    kind = kinds[0]
    fits = isinstance(value, _TYPES[kind]) and (kind == "bool" or not isinstance(value, bool))
    if isinstance(value, numbers.Integral) and kind == "int" and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and kind == "float" and not isinstance(value, bool):
        return float(value)
    if not fits:
        raise ValueError(f"capture setting {name} must be {annotation}, got {value!r}")
    return value

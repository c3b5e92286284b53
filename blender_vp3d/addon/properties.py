"""The add-on's settings: one property group on the scene, ``Scene.vp3d`` (``VP3D_PG_settings``).

The capture settings are not declared here: :func:`capture_properties` makes one Blender property per field of
:class:`~blender_vp3d.core.settings.CaptureSettings` marked for the UI (same name, its label, description and
default; 0 stands for None where the field says so), for the property group and, again, for the operator, and
:func:`capture_settings` turns the values back into the settings. The panel edits them; ``VP3D_OT_capture`` takes
each as its default (its own properties win when a script sets them). The progress fields are written by the
running operator and only displayed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from ..core.cleanup.filters import METHODS
from ..core.lift.bundled import bundled_models
from ..core.settings import DETECTORS, UI_FIELDS, CaptureSettings

DETECTOR_ITEMS = [
    ("auto", "Auto", "BlazePose on LiteRT when available, else MediaPipe"),
    ("blazepose", "BlazePose", "BlazePose models on the LiteRT runtime (bundled)"),
    ("mediapipe", "MediaPipe", "The mediapipe package (must be installed separately)"),
    ("detectron2", "Detectron2", "Keypoint R-CNN (detectron2 must be installed separately)"),
]
SMOOTHING_ITEMS = [
    ("none", "None", "Keep the lifted motion as it is"),
    ("one_euro", "One Euro", "Adaptive low-pass filter: smooth when slow, responsive when fast"),
    ("savgol", "Savitzky-Golay", "Polynomial smoothing over a short window (keeps peaks)"),
]
assert [item[0] for item in SMOOTHING_ITEMS] == list(METHODS)
assert [item[0] for item in DETECTOR_ITEMS] == list(DETECTORS)


# Enum items from a function must stay referenced (Blender keeps no copy of the strings).
_MODEL_ITEMS_CACHE: list = []


def model_items(self, context) -> list[tuple[str, str, str]]:
    """The bundled lifter models, the default first, each with its licence as the tooltip."""
    _MODEL_ITEMS_CACHE[:] = [(m.name, f"{m.label} ({'commercial use' if m.commercial else 'non-commercial'})",
                              m.licence) for m in bundled_models()] or [("default", "Default", "")]
    return _MODEL_ITEMS_CACHE


_ENUM_ITEMS = {"detector": DETECTOR_ITEMS, "smoothing": SMOOTHING_ITEMS}
_DYNAMIC_ENUM_ITEMS = {"model": model_items}  # Blender takes no string default here: the first item is it
_PROPERTY_TYPES: dict[str, Callable[..., Any]] = {"bool": BoolProperty, "int": IntProperty, "float": FloatProperty}


def capture_properties(**options: Any) -> dict[str, Any]:
    """One Blender property per capture setting of the UI (``UI_FIELDS``), by name; ``options`` go to each
    (the operator passes ``options={"SKIP_SAVE"}``)."""
    properties = {}
    for f in fields(CaptureSettings):
        if f.name not in UI_FIELDS:
            continue
        ui = dict(f.metadata["ui"])
        unset, ui_default = ui.pop("unset", None), ui.pop("ui_default", None)
        default = f.default if f.default is not None else (ui_default if ui_default is not None else unset)
        common = {"name": ui.pop("label"), "description": ui.pop("description"), "default": default, **options}
        if f.name in _ENUM_ITEMS:
            properties[f.name] = EnumProperty(items=_ENUM_ITEMS[f.name], **common)
        elif f.name in _DYNAMIC_ENUM_ITEMS:
            common.pop("default")
            properties[f.name] = EnumProperty(items=_DYNAMIC_ENUM_ITEMS[f.name], **common)
        else:
            properties[f.name] = _PROPERTY_TYPES[str(f.type).split("|")[0].strip()](**common, **ui)
    return properties


def capture_settings(values: dict[str, Any]) -> CaptureSettings:
    """Panel or operator values (by name, ``UI_FIELDS``) -> the settings: a field's ``unset`` value becomes
    None, and the sensor width counts only with a focal length. ValueError (one line) for a bad combination."""
    settings = {}
    for f in fields(CaptureSettings):
        if f.name in UI_FIELDS:
            value = values[f.name]
            settings[f.name] = None if "unset" in f.metadata["ui"] and value == f.metadata["ui"]["unset"] else value
    if settings["focal_mm"] is None:
        settings["sensor_mm"] = None
    return CaptureSettings(**settings)


def mapping_items(self, context) -> list[tuple[str, str, str]]:
    from ..retarget.presets import PRESET_LABELS

    return [("AUTO", "Detect", "Pick the preset from the armature's bone names"),
            *[(key, label, f"Bone names of a {label}") for key, label in PRESET_LABELS.items()],
            ("CUSTOM", "Custom (JSON)", "A bone-mapping file (blender_vp3d.bone_mapping JSON)")]


# Enum items from a function must stay referenced (Blender keeps no copy of the strings).
_MAPPING_ITEMS_CACHE: list = []


def _mapping_items(self, context):
    _MAPPING_ITEMS_CACHE[:] = mapping_items(self, context)
    return _MAPPING_ITEMS_CACHE


def _is_armature(self, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


class VP3D_PG_settings(bpy.types.PropertyGroup):
    """Capture settings of a scene (``scene.vp3d``)."""

    video_path: StringProperty(name="Video", subtype="FILE_PATH", description="Video of one person moving")  # type: ignore[valid-type]
    target: PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature,  # type: ignore[valid-type]
                            description="Rig to animate; empty uses the active object")
    mapping: EnumProperty(name="Bone Mapping", items=_mapping_items)  # type: ignore[valid-type]
    mapping_file: StringProperty(name="Mapping File", subtype="FILE_PATH",  # type: ignore[valid-type]
                                 description="Bone-mapping JSON for the Custom mapping")
    # Written by the running capture, shown by the panel.
    running: BoolProperty(name="Running", default=False, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    cancel_requested: BoolProperty(name="Cancel Requested", default=False, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR",  # type: ignore[valid-type]
                            options={"SKIP_SAVE"})
    status: StringProperty(name="Status", default="", options={"SKIP_SAVE"})  # type: ignore[valid-type]


VP3D_PG_settings.__annotations__.update(capture_properties())

CLASSES = (VP3D_PG_settings,)


def register() -> None:
    bpy.types.Scene.vp3d = PointerProperty(type=VP3D_PG_settings)  # type: ignore[attr-defined]


def unregister() -> None:
    del bpy.types.Scene.vp3d  # type: ignore[attr-defined]

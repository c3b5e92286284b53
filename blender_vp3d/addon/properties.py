"""The add-on's settings: one property group on the scene, ``Scene.vp3d`` (``VP3D_PG_settings``).

The panel edits these; ``VP3D_OT_capture`` takes each of them as its default (its own properties win when a
script sets them). The progress fields are written by the running operator and only displayed.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from ..core.filters import DEFAULT_METHOD, METHODS

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
    frame_start: IntProperty(name="First Frame", min=0, default=0,  # type: ignore[valid-type]
                             description="First video frame to capture (0 is the first)")
    frame_end: IntProperty(name="End Frame", min=0, default=0,  # type: ignore[valid-type]
                           description="Stop before this video frame; 0 captures to the end")
    detector: EnumProperty(name="Detector", items=DETECTOR_ITEMS, default="auto")  # type: ignore[valid-type]
    smoothing: EnumProperty(name="Smoothing", items=SMOOTHING_ITEMS, default=DEFAULT_METHOD)  # type: ignore[valid-type]
    foot_lock: BoolProperty(name="Foot Lock", default=True,  # type: ignore[valid-type]
                            description="Pin the feet while they touch the ground (less foot sliding)")
    root_motion: BoolProperty(name="Root Motion", default=True,  # type: ignore[valid-type]
                              description="Move the rig through space; off keeps it in place")
    subject_height: FloatProperty(name="Subject Height", default=0.0, min=0.0, soft_max=2.5, unit="LENGTH",  # type: ignore[valid-type]
                                  description="Height of the person; 0 keeps the model's estimate")
    focal_mm: FloatProperty(name="Focal Length", default=0.0, min=0.0, soft_max=300.0, unit="CAMERA",  # type: ignore[valid-type]
                            description="Lens focal length in mm; 0 assumes a typical field of view")
    sensor_mm: FloatProperty(name="Sensor Width", default=36.0, min=1.0, soft_max=100.0, unit="CAMERA",  # type: ignore[valid-type]
                             description="Sensor width in mm across the long image side (with Focal Length)")
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


CLASSES = (VP3D_PG_settings,)


def register() -> None:
    bpy.types.Scene.vp3d = PointerProperty(type=VP3D_PG_settings)  # type: ignore[attr-defined]


def unregister() -> None:
    del bpy.types.Scene.vp3d  # type: ignore[attr-defined]

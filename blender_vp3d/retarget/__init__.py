"""Retargeting onto Blender armatures (imports bpy): bone-mapping presets, bulk keyframing, ``apply_motion``.

    from blender_vp3d.core.output.motion import Motion
    from blender_vp3d.retarget import apply_motion
    action = apply_motion(bpy.context.object, Motion.load("clip.npz"))

The math lives in ``blender_vp3d.core.output.retarget_math`` (numpy only); the core never imports this package.
"""

from .apply import apply_motion
from .presets import PRESETS, BoneMapping, RetargetError, detect_preset, load_mapping_json, save_mapping_json

__all__ = ["apply_motion", "detect_preset", "BoneMapping", "RetargetError", "PRESETS",
           "load_mapping_json", "save_mapping_json"]

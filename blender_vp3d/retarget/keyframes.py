"""Bulk keyframe writing: one new action per clip, every F-curve filled in one ``foreach_set``.

Blender 4.4+ stores keys in slotted actions (layers, keyframe strips, a channelbag per slot); 4.2-4.3 in the
legacy ``Action.fcurves``. :func:`new_action` hides the difference. The previous action of the object is never
modified: a new one is created (Blender makes its name unique) and assigned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import bpy
import numpy as np

logger = logging.getLogger(__name__)

SLOTTED_ACTIONS = bpy.app.version >= (4, 4, 0)
_INTERPOLATION = {"CONSTANT": 0, "LINEAR": 1, "BEZIER": 2}


@dataclass(frozen=True)
class Channel:
    """One F-curve: ``data_path[index]`` (e.g. ``pose.bones["thigh.L"].rotation_quaternion``, 0) with one
    value per frame, grouped under ``group`` (the bone's name) in the editors."""

    data_path: str
    index: int
    values: np.ndarray
    group: str = ""


def new_action(obj: bpy.types.Object, name: str) -> bpy.types.Action:
    """A new, empty action named ``name`` (made unique by Blender), assigned to ``obj`` (with a slot for it on
    4.4+). The object's previous action stays in ``bpy.data`` untouched."""
    action = bpy.data.actions.new(name)
    # Any: slots, layers and action_slot exist from Blender 4.4 on, behind SLOTTED_ACTIONS; the 4.2 type stubs
    # (the oldest API we support) do not know them.
    anim_data: Any = obj.animation_data or obj.animation_data_create()
    if SLOTTED_ACTIONS:
        slot = cast(Any, action).slots.new(id_type="OBJECT", name=obj.name)
        anim_data.action = action
        # Assigning the action may already pick the slot; assigning the same slot again is avoided (it crashed
        # Blender 5.0.1 in background mode).
        if anim_data.action_slot != slot:
            anim_data.action_slot = slot
    else:
        anim_data.action = action
    return action


def _fcurves(action: bpy.types.Action, obj: bpy.types.Object) -> Any:
    """The F-curve collection of ``action`` for ``obj``: the slot's channelbag (4.4+) or ``action.fcurves``."""
    if not SLOTTED_ACTIONS:
        return action.fcurves
    slot = cast(Any, obj.animation_data).action_slot
    layers = cast(Any, action).layers
    layer = layers[0] if len(layers) else layers.new("Layer")
    strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True).fcurves


def write_keys(
    action: bpy.types.Action,
    obj: bpy.types.Object,
    frames: np.ndarray,
    channels: Iterable[Channel],
    *,
    interpolation: str = "LINEAR",
) -> int:
    """Key every channel at ``frames`` (T,) in ``action`` (assigned to ``obj`` by :func:`new_action`); returns
    the number of F-curves written. Existing F-curves of the same path are replaced."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 1 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty 1-D array, got shape {frames.shape}")
    if interpolation not in _INTERPOLATION:
        raise ValueError(f"interpolation must be one of {', '.join(_INTERPOLATION)}, got {interpolation!r}")
    fcurves = _fcurves(action, obj)
    legacy = not SLOTTED_ACTIONS
    modes = np.full(len(frames), _INTERPOLATION[interpolation], dtype=np.int32)
    co = np.empty(2 * len(frames), dtype=np.float32)
    co[0::2] = frames
    count = 0
    for channel in channels:
        values = np.asarray(channel.values, dtype=np.float64)
        if values.shape != frames.shape or not np.all(np.isfinite(values)):
            raise ValueError(f"{channel.data_path}[{channel.index}]: need {len(frames)} finite values, "
                             f"got shape {values.shape}")
        existing = fcurves.find(channel.data_path, index=channel.index)
        if existing is not None:
            fcurves.remove(existing)
        if legacy:
            fcurve = fcurves.new(channel.data_path, index=channel.index, action_group=channel.group)
        else:
            fcurve = fcurves.new(channel.data_path, index=channel.index, group_name=channel.group)
        points = fcurve.keyframe_points
        points.add(len(frames))
        co[1::2] = values
        points.foreach_set("co", co)
        points.foreach_set("interpolation", modes)
        fcurve.update()
        count += 1
    return count

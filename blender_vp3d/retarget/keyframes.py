"""Bulk keyframe writing: one new action per clip, every F-curve filled in one ``foreach_set``.

Three action APIs are in use across the supported Blender lines, and this module asks Blender which one it has
instead of comparing version numbers:

- legacy actions (4.2, 4.3): ``action.fcurves.new(data_path, index=, action_group=)``;
- slotted actions (4.4 on: layers, keyframe strips, a channelbag per slot) whose ``channelbag.fcurves.new`` takes
  no group (4.4, 4.5): the curve is created, then its group found or made with ``channelbag.groups.new`` and
  assigned to ``fcurve.group``;
- slotted actions whose ``fcurves.new`` takes ``group_name`` (5.0 on).

:func:`new_action` hides the difference. The previous action of the object is never modified: a new one is
created (Blender makes its name unique) and assigned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import bpy
import numpy as np

logger = logging.getLogger(__name__)

SLOTTED_ACTIONS = "slots" in bpy.types.Action.bl_rna.properties
"""Actions have slots and channelbags (Blender 4.4 on); else keys go into the legacy ``Action.fcurves``."""


def _new_takes(struct: str, parameter: str) -> bool:
    """Whether ``bpy.types.<struct>``'s RNA function ``new`` has ``parameter`` (False if there is no such type)."""
    rna_type = getattr(bpy.types, struct, None)
    function = rna_type.bl_rna.functions.get("new") if rna_type is not None else None
    return function is not None and parameter in function.parameters


CHANNELBAG_GROUP_NAME = _new_takes("ActionChannelbagFCurves", "group_name")
"""``channelbag.fcurves.new`` accepts ``group_name`` (5.0 on); 4.4 and 4.5 need the group assigned afterwards."""
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


def _channelbag(action: bpy.types.Action, obj: bpy.types.Object) -> Any:
    """The channelbag of ``obj``'s slot in ``action`` (slotted actions), made if missing."""
    slot = cast(Any, obj.animation_data).action_slot
    layers = cast(Any, action).layers
    layer = layers[0] if len(layers) else layers.new("Layer")
    strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True)


def action_fcurves(action: bpy.types.Action, obj: bpy.types.Object) -> Any:
    """The F-curves of ``action`` for ``obj``: its slot's channelbag, or ``action.fcurves`` (legacy actions)."""
    return _channelbag(action, obj).fcurves if SLOTTED_ACTIONS else action.fcurves


class _CurveMaker:
    """Creates one F-curve in its group with whichever API this Blender has (see the module docstring)."""

    def __init__(self, action: bpy.types.Action, obj: bpy.types.Object):
        self.channelbag = _channelbag(action, obj) if SLOTTED_ACTIONS else None
        self.fcurves = action_fcurves(action, obj)

    def new(self, data_path: str, index: int, group: str) -> Any:
        if self.channelbag is None:
            return self.fcurves.new(data_path, index=index, action_group=group)
        if CHANNELBAG_GROUP_NAME:
            return self.fcurves.new(data_path, index=index, group_name=group)
        fcurve = self.fcurves.new(data_path, index=index)
        if group:
            groups = self.channelbag.groups
            fcurve.group = groups.get(group) or groups.new(group)
        return fcurve


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
    maker = _CurveMaker(action, obj)
    modes = np.full(len(frames), _INTERPOLATION[interpolation], dtype=np.int32)
    co = np.empty(2 * len(frames), dtype=np.float32)
    co[0::2] = frames
    count = 0
    for channel in channels:
        values = np.asarray(channel.values, dtype=np.float64)
        if values.shape != frames.shape or not np.all(np.isfinite(values)):
            raise ValueError(f"{channel.data_path}[{channel.index}]: need {len(frames)} finite values, "
                             f"got shape {values.shape}")
        existing = maker.fcurves.find(channel.data_path, index=channel.index)
        if existing is not None:
            maker.fcurves.remove(existing)
        fcurve = maker.new(channel.data_path, channel.index, channel.group)
        points = fcurve.keyframe_points
        points.add(len(frames))
        co[1::2] = values
        points.foreach_set("co", co)
        points.foreach_set("interpolation", modes)
        fcurve.update()
        count += 1
    return count

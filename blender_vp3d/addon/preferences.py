"""The add-on's preferences (Edit > Preferences > Add-ons): whether a capture process is kept ready.

A ready child process (:func:`blender_vp3d.api.keep_capture_process_ready`) has imported its libraries and
loaded its models before the Capture button is pressed, so the capture skips that start-up, for 150-200 MB of
memory while it waits (figures in :mod:`blender_vp3d.child_process`). It is started a second after the add-on
is enabled (not while Blender is still starting; the timer survives the start-up file's loading) and only in
an interactive Blender: background runs and scripts call the API, which keeps one ready between the clips of
``capture_folder``.
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import BoolProperty

from .. import api

ADDON_ID = __package__.rpartition(".")[0]  # the add-on's module: blender_vp3d, or bl_ext.<repo>.blender_vp3d
START_DELAY_S = 1.0


def _apply(_self: Any = None, _context: Any = None) -> None:
    api.keep_capture_process_ready(keep_ready_wanted())


class VP3D_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    keep_ready: BoolProperty(  # type: ignore[valid-type]
        name="Keep a Capture Process Ready",
        description="Load the detector and the lifter in a waiting process, so that a capture starts at once "
                    "(uses 150-200 MB of memory while it waits)",
        default=True, update=_apply)

    def draw(self, context: bpy.types.Context) -> None:
        self.layout.prop(self, "keep_ready")


def keep_ready_wanted() -> bool:
    """The preference in an interactive Blender; False in background mode."""
    if bpy.app.background:
        return False
    addon = bpy.context.preferences.addons.get(ADDON_ID)  # type: ignore  (the 4.2 stubs type it oddly)
    preferences = getattr(addon, "preferences", None)
    return bool(getattr(preferences, "keep_ready", True))


def _start_later() -> None:
    _apply()
    return None  # a one-shot timer


CLASSES = (VP3D_AP_preferences,)


def register() -> None:
    if not bpy.app.background:
        bpy.app.timers.register(_start_later, first_interval=START_DELAY_S, persistent=True)


def unregister() -> None:
    if bpy.app.timers.is_registered(_start_later):
        bpy.app.timers.unregister(_start_later)
    api.keep_capture_process_ready(False)

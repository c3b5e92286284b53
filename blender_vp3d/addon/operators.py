"""``vp3d.capture``: video -> action on the armature, a thin shell over :mod:`blender_vp3d.api`.

Interactive (``INVOKE_DEFAULT``, the panel's button): the capture runs in a child process (:class:`api.CaptureJob`)
while a modal timer reads its progress into ``scene.vp3d`` and the status bar; ESC or the Cancel button kill it
and leave the scene as it was. On success the motion is keyed on the main thread and the operator finishes, so
the whole capture is one undo step. In background mode, or called from a script with ``EXEC_DEFAULT``,
``execute`` runs the same job and blocks until it ends.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from .. import api
from .properties import DETECTOR_ITEMS, SMOOTHING_ITEMS

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems
else:
    OperatorReturnItems = str

logger = logging.getLogger(__name__)

# Operator property -> the scene setting it defaults to (scene.vp3d.<name>).
SETTINGS = ("frame_start", "frame_end", "detector", "smoothing", "foot_lock", "root_motion", "subject_height",
            "focal_mm", "sensor_mm", "mapping", "mapping_file")


def scene_settings(context: bpy.types.Context) -> Any:
    """``context.scene.vp3d`` (the 4.2 stubs type Context members oddly; this keeps the checker quiet)."""
    return context.scene.vp3d  # type: ignore


def find_armature(context: bpy.types.Context, name: str = "") -> bpy.types.Object:
    """The named object, else the panel's target, else the active object; ValueError unless an armature."""
    if name:
        obj = bpy.data.objects.get(name)
        if obj is None:
            raise ValueError(f"no object named {name!r}")
    else:
        obj = scene_settings(context).target or context.active_object
    if obj is None:
        raise ValueError("select an armature to animate (none is active)")
    if obj.type != "ARMATURE":
        raise ValueError(f"select an armature to animate: {obj.name!r} is a {obj.type.lower()}")
    return obj


def settings_from(values: dict[str, Any]) -> dict[str, Any]:
    """Operator/panel values -> keyword settings of :func:`api.capture`."""
    mapping: Any = None
    if values["mapping"] == "CUSTOM":
        if not values["mapping_file"]:
            raise ValueError("the Custom bone mapping needs a mapping file")
        mapping = bpy.path.abspath(values["mapping_file"])
    elif values["mapping"] not in ("", "AUTO"):
        mapping = values["mapping"]
    focal = values["focal_mm"] > 0
    return {
        "start": values["frame_start"], "end": values["frame_end"] or None, "detector": values["detector"],
        "smoothing": values["smoothing"], "foot_lock": values["foot_lock"],
        "height_m": values["subject_height"] or None,
        "focal_mm": values["focal_mm"] if focal else None, "sensor_mm": values["sensor_mm"] if focal else None,
        "mapping": mapping, "in_place": not values["root_motion"],
    }


class ModalCapture:
    """The interactive run: a child process polled from a timer. Plain Python so tests can drive it.

    ``start`` checks the rig and launches the job; ``step(context, event_type)`` handles one event and returns
    the operator's result (``RUNNING_MODAL`` / ``PASS_THROUGH`` / ``FINISHED`` / ``CANCELLED``); ``error`` holds the
    message when it failed.
    """

    def __init__(self, video: str, armature_name: str, settings: dict[str, Any]):
        self.video = video
        self.armature_name = armature_name
        self.settings = dict(settings)
        self.job: api.CaptureJob | None = None
        self.error = ""
        self.action: bpy.types.Action | None = None

    def start(self, context: bpy.types.Context) -> None:
        capture_settings, self.options = api.split_settings(self.settings)
        api.resolve_target(bpy.data.objects[self.armature_name], self.options.get("mapping"))
        self.job = api.CaptureJob(self.video, capture_settings).start()
        props = scene_settings(context)
        props.running, props.cancel_requested, props.progress, props.status = True, False, 0.0, "starting"

    def step(self, context: bpy.types.Context, event_type: str) -> set[OperatorReturnItems]:
        assert self.job is not None
        props = scene_settings(context)
        if event_type == "ESC" or props.cancel_requested:
            self.finish(context, "cancelled")
            self.error = "capture cancelled"
            return {"CANCELLED"}
        if event_type != "TIMER":
            return {"PASS_THROUGH"}
        for event in self.job.poll():
            props.progress = event.fraction if event.stage == "detect" else props.progress
            eta = f", {event.eta_s:.0f} s left" if event.eta_s else ""
            props.status = f"{event.stage}: {event.message or f'{event.done}/{event.total}'}{eta}"
        _show_status(context, f"Motion capture: {props.status} ({props.progress:.0%}) - Esc to cancel")
        if not self.job.finished:
            return {"RUNNING_MODAL"}
        try:
            path = self.job.result_path()
            self.action = api.apply_file(path, bpy.data.objects[self.armature_name], **self.options)
        except (ValueError, OSError, KeyError) as exc:
            self.error = _one_line(exc)
            self.finish(context, self.error)
            return {"CANCELLED"}
        _extend_frame_range(scene_settings(context).id_data, self.action)
        self.finish(context, f"captured into action {self.action.name!r}")
        return {"FINISHED"}

    def finish(self, context: bpy.types.Context, status: str) -> None:
        if self.job is not None:
            self.job.close()
        props = scene_settings(context)
        props.running, props.cancel_requested, props.status = False, False, status
        props.progress = 1.0 if self.action is not None else 0.0
        _show_status(context, None)


class VP3D_OT_capture(bpy.types.Operator):
    """Capture the motion of the person in a video and key it onto the armature as a new action"""

    bl_idname = "vp3d.capture"
    bl_label = "Capture from Video"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="Video", subtype="FILE_PATH", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    armature: StringProperty(name="Armature", description="Object name; empty: the panel's target or the active object",  # type: ignore[valid-type]
                             options={"SKIP_SAVE"})
    frame_start: IntProperty(name="First Frame", min=0, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    frame_end: IntProperty(name="End Frame", min=0, description="0: to the end", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    detector: EnumProperty(name="Detector", items=DETECTOR_ITEMS, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    smoothing: EnumProperty(name="Smoothing", items=SMOOTHING_ITEMS, default="savgol", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    foot_lock: BoolProperty(name="Foot Lock", default=True, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    root_motion: BoolProperty(name="Root Motion", default=True, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    subject_height: FloatProperty(name="Subject Height", min=0.0, unit="LENGTH", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    focal_mm: FloatProperty(name="Focal Length (mm)", min=0.0, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    sensor_mm: FloatProperty(name="Sensor Width (mm)", min=1.0, default=36.0, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    mapping: StringProperty(name="Bone Mapping", description="AUTO, a preset key (rigify_metarig, rigify, mixamo, "  # type: ignore[valid-type]
                            "vp3d_bvh) or CUSTOM", options={"SKIP_SAVE"})
    mapping_file: StringProperty(name="Mapping File", subtype="FILE_PATH", options={"SKIP_SAVE"})  # type: ignore[valid-type]

    _run: ModalCapture | None = None
    _timer: Any = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        props = getattr(context.scene, "vp3d", None)
        return props is not None and not props.running

    def values(self, context: bpy.types.Context) -> tuple[str, str, dict[str, Any]]:
        """(video, armature name, api settings): each unset operator property takes the panel's value."""
        scene_props = scene_settings(context)
        values = {name: getattr(self, name) if self.properties.is_property_set(name) else getattr(scene_props, name)
                  for name in SETTINGS}
        video = self.filepath or scene_props.video_path
        if not video:
            raise ValueError("choose a video to capture from")
        video = bpy.path.abspath(video)
        if not os.path.isfile(video):
            raise ValueError(f"video not found: {video}")
        armature = find_armature(context, self.armature)
        return video, armature.name, settings_from(values)

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        try:
            video, armature_name, settings = self.values(context)
            armature = bpy.data.objects[armature_name]
            action = api.capture(video, armature, progress=lambda e: logger.info("%s %d/%d %s", e.stage, e.done,
                                                                                  e.total, e.message), **settings)
        except (ValueError, OSError, TypeError) as exc:
            return self._fail(context, exc)
        _extend_frame_range(scene_settings(context).id_data, action)
        scene_settings(context).status = f"captured into action {action.name!r}"
        self.report({"INFO"}, f"Captured {os.path.basename(video)} into action {action.name!r} on {armature.name}")
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[OperatorReturnItems]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        try:
            video, armature_name, settings = self.values(context)
            self._run = ModalCapture(video, armature_name, settings)
            self._run.start(context)
        except (ValueError, OSError, TypeError) as exc:
            return self._fail(context, exc)
        wm: Any = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[OperatorReturnItems]:
        assert self._run is not None
        result = self._run.step(context, event.type)
        _redraw(context)
        if "RUNNING_MODAL" in result or "PASS_THROUGH" in result:
            return result
        wm: Any = context.window_manager
        wm.event_timer_remove(self._timer)
        if "CANCELLED" in result:
            self.report({"WARNING"} if self._run.error == "capture cancelled" else {"ERROR"}, self._run.error)
        elif self._run.action is not None:
            self.report({"INFO"}, f"Captured into action {self._run.action.name!r}")
        return result

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender cancels the operator (file loaded, window closed): kill the child, keep the scene."""
        if self._timer is not None:
            wm: Any = context.window_manager
            wm.event_timer_remove(self._timer)
            self._timer = None
        if self._run is not None:
            self._run.finish(context, "cancelled")

    def _fail(self, context: bpy.types.Context, exc: BaseException) -> set[OperatorReturnItems]:
        message = _one_line(exc)
        scene_settings(context).status = message
        self.report({"ERROR"}, message)
        return {"CANCELLED"}


class VP3D_OT_capture_cancel(bpy.types.Operator):
    """Stop the running capture; the scene stays as it was"""

    bl_idname = "vp3d.capture_cancel"
    bl_label = "Cancel Capture"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        props = getattr(context.scene, "vp3d", None)
        return props is not None and props.running

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        scene_settings(context).cancel_requested = True
        return {"FINISHED"}


def _extend_frame_range(scene: bpy.types.Scene, action: bpy.types.Action) -> None:
    """Let the scene play the whole clip (the frame range only ever grows)."""
    last = int(action.frame_range[1])
    if scene.frame_end < last:
        scene.frame_end = last


def _show_status(context: bpy.types.Context, text: str | None) -> None:
    workspace = getattr(context, "workspace", None)
    if workspace is not None and not bpy.app.background:
        workspace.status_text_set(text)


def _redraw(context: bpy.types.Context) -> None:
    screen = getattr(context, "screen", None)
    for area in screen.areas if screen is not None else ():
        if area.type in {"VIEW_3D", "PROPERTIES"}:
            area.tag_redraw()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


CLASSES = (VP3D_OT_capture, VP3D_OT_capture_cancel)

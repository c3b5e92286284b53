"""``vp3d.capture``: video -> action on the armature, a thin shell over :mod:`blender_vp3d.api`.

Interactive (``INVOKE_DEFAULT``, the panel's button): the capture runs in a child process (:class:`api.CaptureJob`)
while a modal timer reads its progress into ``scene.vp3d`` and the status bar; ESC or the Cancel button kill it
and leave the scene as it was. On success the motion is keyed on the main thread and the operator finishes, so
the whole capture is one undo step. In background mode, or called from a script with ``EXEC_DEFAULT``,
``execute`` runs the same job and blocks until it ends.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import bpy
from bpy.props import StringProperty

from .. import api
from ..core.settings import UI_FIELDS
from .properties import capture_properties, capture_settings

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems
else:
    OperatorReturnItems = str

logger = logging.getLogger(__name__)

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


def retarget_options(values: dict[str, Any]) -> api.RetargetOptions:
    """The panel's or operator's ``mapping`` (AUTO, a preset key or CUSTOM) and ``mapping_file``."""
    mapping: Any = None
    if values["mapping"] == "CUSTOM":
        if not values["mapping_file"]:
            raise ValueError("the Custom bone mapping needs a mapping file")
        mapping = bpy.path.abspath(values["mapping_file"])
    elif values["mapping"] not in ("", "AUTO"):
        mapping = values["mapping"]
    return api.RetargetOptions(mapping=mapping)


class ModalCapture:
    """The interactive run of an :class:`api.CaptureJob`, polled from a timer. Plain Python so tests can drive it.

    ``start`` launches the job; ``step(context, event_type)`` handles one event and returns the operator's result
    (``RUNNING_MODAL`` / ``PASS_THROUGH`` / ``FINISHED`` / ``CANCELLED``); ``error`` holds the message when it
    failed, ``action`` the new action when it finished.
    """

    def __init__(self, job: api.CaptureJob):
        self.job = job
        self.error = ""
        self.action: bpy.types.Action | None = None

    def start(self, context: bpy.types.Context) -> None:
        self.job.start()
        props = scene_settings(context)
        props.running, props.cancel_requested, props.progress, props.status = True, False, 0.0, "starting"

    def step(self, context: bpy.types.Context, event_type: str) -> set[OperatorReturnItems]:
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
            self.action = self.job.apply()
        except (ValueError, OSError, KeyError) as exc:
            self.error = _one_line(exc)
            self.finish(context, self.error)
            return {"CANCELLED"}
        _extend_frame_range(scene_settings(context).id_data, self.action)
        self.finish(context, _captured(self.action, self.job))
        return {"FINISHED"}

    def finish(self, context: bpy.types.Context, status: str) -> None:
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
    mapping: StringProperty(name="Bone Mapping", description="AUTO, a preset key (rigify_metarig, rigify, mixamo, "  # type: ignore[valid-type]
                            "vp3d_bvh) or CUSTOM", options={"SKIP_SAVE"})
    mapping_file: StringProperty(name="Mapping File", subtype="FILE_PATH", options={"SKIP_SAVE"})  # type: ignore[valid-type]

    _run: ModalCapture | None = None
    _timer: Any = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        props = getattr(context.scene, "vp3d", None)
        return props is not None and not props.running

    def job(self, context: bpy.types.Context) -> api.CaptureJob:
        """The capture these properties describe; each one a script did not set takes the panel's value."""
        scene_props = scene_settings(context)
        values = {name: getattr(self, name) if self.properties.is_property_set(name) else getattr(scene_props, name)
                  for name in (*UI_FIELDS, "mapping", "mapping_file")}
        video = self.filepath or scene_props.video_path
        if not video:
            raise ValueError("choose a video to capture from")
        armature = find_armature(context, self.armature)
        return api.CaptureJob(bpy.path.abspath(video), armature, capture_settings(values), retarget_options(values))

    def execute(self, context: bpy.types.Context) -> set[OperatorReturnItems]:
        try:
            job = self.job(context)
            action = job.run(progress=lambda e: logger.info("%s %d/%d %s", e.stage, e.done, e.total, e.message))
        except (ValueError, OSError, TypeError) as exc:
            return self._fail(context, exc)
        _extend_frame_range(scene_settings(context).id_data, action)
        scene_settings(context).status = _captured(action, job)
        self.report({"INFO"}, f"Captured {job.video.name} into action {action.name!r} on {job.armature_name}")
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[OperatorReturnItems]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        try:
            self._run = ModalCapture(self.job(context))
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
            self.report({"INFO"}, _captured(self._run.action, self._run.job))
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


def _captured(action: bpy.types.Action, job: api.CaptureJob) -> str:
    """The status line of a finished capture: the action and what the child reported."""
    summary = f": {job.summary.describe()}" if job.summary is not None else ""
    return f"captured into action {action.name!r}{summary}"


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


VP3D_OT_capture.__annotations__.update(capture_properties(options={"SKIP_SAVE"}))

CLASSES = (VP3D_OT_capture, VP3D_OT_capture_cancel)

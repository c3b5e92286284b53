"""The capture panel, twice: the 3D View sidebar's "Mocap" tab and the armature's Object Data properties."""

from __future__ import annotations

import bpy

from ..core.lift.bundled import bundled_models


def draw_capture(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """All of ``scene.vp3d``, the Capture button, and progress with Cancel while a capture runs."""
    props = context.scene.vp3d  # type: ignore
    layout.use_property_split = True
    layout.use_property_decorate = False

    col = layout.column()
    col.prop(props, "video_path")
    sub = col.column(align=True)
    sub.prop(props, "start")
    sub.prop(props, "end")

    col = layout.column(heading="Capture")
    col.prop(props, "detector")
    col.prop(props, "model")
    chosen = next((m for m in bundled_models() if m.name == props.model), None)
    if chosen is not None:  # what the weights may be used for
        col.label(text=chosen.licence_summary, icon="INFO" if chosen.commercial else "ERROR")
    col.prop(props, "smoothing")
    col.prop(props, "foot_lock")
    col.prop(props, "in_place")
    col.prop(props, "height_m")
    sub = col.column(align=True)
    sub.prop(props, "focal_mm")
    row = sub.row()
    row.active = props.focal_mm > 0
    row.prop(props, "sensor_mm")

    col = layout.column(heading="Target")
    col.prop(props, "target")
    col.prop(props, "mapping")
    if props.mapping == "CUSTOM":
        col.prop(props, "mapping_file")

    layout.separator()
    if props.running:
        layout.progress(factor=props.progress, type="BAR", text=props.status or "capturing")
        layout.operator("vp3d.capture_cancel", icon="CANCEL")
    else:
        row = layout.row()
        row.scale_y = 1.6
        row.operator("vp3d.capture", text="Capture from Video", icon="ARMATURE_DATA")
        if props.status:
            layout.label(text=props.status, icon="INFO")


class VIEW3D_PT_vp3d_capture(bpy.types.Panel):
    bl_label = "Motion Capture"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Mocap"

    def draw(self, context: bpy.types.Context) -> None:
        draw_capture(self.layout, context)  # type: ignore[arg-type]


class DATA_PT_vp3d_capture(bpy.types.Panel):
    bl_label = "Motion Capture"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "data"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.armature is not None

    def draw(self, context: bpy.types.Context) -> None:
        draw_capture(self.layout, context)  # type: ignore[arg-type]


CLASSES = (VIEW3D_PT_vp3d_capture, DATA_PT_vp3d_capture)

"""The demo's Blender scene from a real capture: an animated metarig, the video attached, a picture written."""

from __future__ import annotations

import pytest


def test_demo_scene_saves_an_animated_metarig_and_a_sheet(tmp_path, sample_videos):
    bpy = pytest.importorskip("bpy")
    from blender_vp3d.core.capture import CaptureSettings, capture
    from blender_vp3d.demo_scene import build_scene

    motion = tmp_path / "cam01.npz"
    capture(sample_videos / "Demo_SinglePerson" / "videos" / "cam01.mp4", CaptureSettings(use_cache=False)).motion.save(motion)
    blend, sheet = build_scene(motion, tmp_path / "out")
    assert blend.exists() and sheet.exists() and not list((tmp_path / "out").glob(".demo_rig_*"))
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    rig = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    assert rig.animation_data.action.name.startswith("cam01")
    assert len(bpy.data.movieclips) == 1 and bpy.context.scene.frame_end == 100
    import cv2

    image = cv2.imread(str(sheet))
    assert image.shape[0] == 2 * 640 and image.std() > 20  # two rows of renders with content

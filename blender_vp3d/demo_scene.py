"""The demo's Blender scene: a captured motion on a Rigify metarig, saved as a .blend with a picture to check.

    python -m blender_vp3d.demo_scene MOTION.npz --out out/    (needs the ``bpy`` module or Blender's Python)

Writes ``demo.blend`` (the metarig animated, the source video as a movie clip shown behind the camera's view) and
``demo_rig.png``: six frames of the posed rig, rendered with Workbench (each deform bone drawn as a cylinder,
since armatures do not render), beside the same frames of the video.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

RENDER_SIZE = (480, 640)


def build_scene(motion_path: Path, out: Path) -> tuple[Path, Path]:
    import bpy
    from mathutils import Matrix

    from .core.output.motion import Motion
    from .retarget import apply_motion

    bpy.ops.wm.read_homefile(app_template="")
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    rig = bpy.context.object
    _add_bone_bodies(bpy, rig, Matrix)
    bpy.context.view_layer.objects.active = rig
    motion = Motion.load(motion_path)
    action = apply_motion(rig, motion)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, motion.num_frames
    scene.render.fps = round(motion.fps)
    bpy.ops.mesh.primitive_plane_add(size=6)

    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    camera.location = (1.2, -4.5, 1.2)
    camera.rotation_euler = (math.radians(84), 0.0, math.radians(15))
    scene.camera = camera
    if motion.source_video and Path(motion.source_video).exists():
        clip = bpy.data.movieclips.load(motion.source_video)
        camera.data.show_background_images = True
        background = camera.data.background_images.new()
        background.source = "MOVIE_CLIP"
        background.clip = clip
        background.alpha = 0.5

    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y = RENDER_SIZE
    scene.display.shading.light = "STUDIO"
    out.mkdir(parents=True, exist_ok=True)
    frames = _sheet_frames(motion.num_frames)
    renders = {}
    for frame in frames:
        scene.frame_set(frame + 1)
        scene.render.filepath = str(out / f".demo_rig_{frame:04d}.png")
        bpy.ops.render.render(write_still=True)
        renders[frame] = Path(scene.render.filepath)
    blend = out / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    sheet = _contact_sheet(motion, renders, out / "demo_rig.png")
    for path in renders.values():
        path.unlink(missing_ok=True)
    print(f"wrote {blend} (action {action.name!r}, {motion.num_frames} frames) and {sheet}")
    return blend, sheet


def _add_bone_bodies(bpy, rig, Matrix) -> None:
    """A cylinder per deform bone, parented to it, so that a render shows the pose."""
    bpy.context.view_layer.update()
    for bone in rig.data.bones:
        if not bone.use_deform or bone.length < 0.03:
            continue
        head = rig.matrix_world @ bone.head_local
        tail = rig.matrix_world @ bone.tail_local
        bpy.ops.mesh.primitive_cylinder_add(radius=0.025, depth=(tail - head).length)
        piece = bpy.context.object
        rotation = (tail - head).normalized().to_track_quat("Z", "Y").to_matrix().to_4x4()
        piece.matrix_world = Matrix.Translation((head + tail) / 2) @ rotation
        world = piece.matrix_world.copy()
        piece.parent, piece.parent_type, piece.parent_bone = rig, "BONE", bone.name
        piece.matrix_world = world


def _sheet_frames(count: int) -> list[int]:
    return sorted({round((count - 1) * (0.05 + 0.18 * k)) for k in range(6)})


def _contact_sheet(motion, renders: dict[int, Path], out: Path) -> Path:
    import cv2

    from .core.output.preview import draw_skeleton_2d
    from .core.video.reader import read_frames

    s = motion.settings
    video = {}
    if motion.source_video and Path(motion.source_video).exists():
        for k, frame in enumerate(read_frames(motion.source_video, s.get("start", 0), s.get("end"), s.get("stride", 1))):
            if k in renders:
                video[k] = draw_skeleton_2d(cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), motion.keypoints_2d[k])
    tiles = []
    for k, path in sorted(renders.items()):
        render = cv2.imread(str(path))
        height = render.shape[0]
        parts = [render]
        if k in video:
            frame = video[k]
            parts.insert(0, cv2.resize(frame, (round(frame.shape[1] * height / frame.shape[0]), height)))
        tiles.append(np.concatenate(parts, axis=1))
    width = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0)), constant_values=255) for t in tiles]
    rows = [np.concatenate(tiles[i : i + 3], axis=1) for i in range(0, len(tiles), 3)]
    cv2.imwrite(str(out), np.concatenate(rows, axis=0))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("motion", type=Path, help="a motion file written by `python -m blender_vp3d capture`")
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args(argv)
    if not args.motion.exists():
        sys.stderr.write(f"error: motion file not found: {args.motion}\n")
        return 2
    build_scene(args.motion, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Keyframing speed: the bulk writer (``retarget.keyframes``) vs a ``keyframe_insert`` loop, in one run.

    .venv/bin/python benchmarks/keyframing.py [--frames 10000] [--bones 20]

Keys a rotation quaternion for every bone and the root's location at every frame (the same channels
``apply_motion`` writes) on a chain armature. Targets (issue 4): bulk <= 2 s and >= 50x faster than the loop.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bpy  # noqa: E402

from blender_vp3d.core.rotations import continuous_quaternions  # noqa: E402
from blender_vp3d.retarget.keyframes import Channel, new_action, write_keys  # noqa: E402


def make_rig(bones: int) -> bpy.types.Object:
    data = bpy.data.armatures.new("bench")
    obj = bpy.data.objects.new("bench", data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    parent = None
    for i in range(bones):
        bone = data.edit_bones.new(f"bone{i:02d}")
        bone.head, bone.tail = (0.0, 0.0, 0.1 * i), (0.0, 0.0, 0.1 * (i + 1))
        bone.parent = parent
        parent = bone
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def motion(frames: int, bones: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(frames, bones, 4)).cumsum(axis=0) * 0.01 + np.array([1.0, 0.0, 0.0, 0.0])
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return continuous_quaternions(q), rng.normal(size=(frames, 3)).cumsum(axis=0) * 0.01


def bulk(obj, quats, location) -> float:
    clock = time.perf_counter()
    channels = []
    for b, pose_bone in enumerate(obj.pose.bones):
        path = f'pose.bones["{pose_bone.name}"].rotation_quaternion'
        channels += [Channel(path, i, quats[:, b, i], pose_bone.name) for i in range(4)]
    root = obj.pose.bones[0].name
    channels += [Channel(f'pose.bones["{root}"].location', i, location[:, i], root) for i in range(3)]
    action = new_action(obj, "bulk")
    write_keys(action, obj, np.arange(1, len(quats) + 1, dtype=np.float64), channels)
    return time.perf_counter() - clock


def insert_loop(obj, quats, location) -> float:
    clock = time.perf_counter()
    new_action(obj, "loop")
    pose_bones = list(obj.pose.bones)
    for t in range(len(quats)):
        frame = t + 1
        for b, pose_bone in enumerate(pose_bones):
            pose_bone.rotation_quaternion = quats[t, b]
            pose_bone.keyframe_insert("rotation_quaternion", frame=frame, group=pose_bone.name)
        pose_bones[0].location = location[t]
        pose_bones[0].keyframe_insert("location", frame=frame, group=pose_bones[0].name)
    return time.perf_counter() - clock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--bones", type=int, default=20)
    args = parser.parse_args(argv)
    if args.frames < 1 or args.bones < 1:
        parser.error("--frames and --bones must be >= 1")
    bpy.ops.wm.read_homefile(app_template="")
    obj = make_rig(args.bones)
    quats, location = motion(args.frames, args.bones)
    keys = args.frames * (4 * args.bones + 3)
    t_bulk = bulk(obj, quats, location)
    t_loop = insert_loop(obj, quats, location)
    print(f"blender {bpy.app.version_string}: {args.frames} frames x {args.bones} bones = {keys} keys")
    print(f"bulk (keyframe_points.add + foreach_set): {t_bulk:.3f} s")
    print(f"keyframe_insert loop:                     {t_loop:.3f} s")
    print(f"speed-up: {t_loop / t_bulk:.1f}x  (targets: bulk <= 2 s: {'met' if t_bulk <= 2 else 'MISSED'}; "
          f">= 50x: {'met' if t_loop / t_bulk >= 50 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

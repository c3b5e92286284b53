"""Put a captured :class:`~blender_vp3d.core.output.motion.Motion` onto an armature as a new action.

One public function, :func:`apply_motion`; the math is ``core.output.retarget_math`` (no bpy), this module only reads
the rig's rest pose and writes the keys (``keyframes``).

The scene's frame rate and range are left alone: keys go one per motion frame from ``frame_start``; set
``scene.render.fps`` to ``round(motion.fps)`` (and the frame range) yourself if the clip should play in real
time.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import bpy
import numpy as np
from mathutils import Matrix

from ..core.output.motion import Motion
from ..core.output.retarget_math import PoseTrack, RestBone, solve_pose
from ..core.rotations import (
    continuous_quaternions,
    matrix_to_blender_euler,
    matrix_to_quaternion,
    quaternion_to_axis_angle,
)
from .keyframes import Channel, new_action, write_keys
from .presets import PRESET_LABELS, BoneMapping, RetargetError, closest_preset, detect_preset, preset_for

logger = logging.getLogger(__name__)

MAX_SWEEPS = 6  # per frame, for rigs with constraint-driven parents (see _solve_evaluated)


def rest_bones(armature_obj: bpy.types.Object) -> list[RestBone]:
    """Every bone of ``armature_obj`` at rest, in armature space (``Bone.matrix_local``)."""
    return [RestBone(name=b.name, parent=b.parent.name if b.parent else None,
                     matrix=np.array(b.matrix_local, dtype=np.float64), length=float(b.length))
            for b in _armature(armature_obj).bones]


def resolve_mapping(armature_obj: bpy.types.Object, mapping: BoneMapping | None = None) -> BoneMapping:
    """``mapping``, or the detected preset; RetargetError listing the missing bones when the rig does not fit."""
    if armature_obj is None or armature_obj.type != "ARMATURE":
        kind = "nothing" if armature_obj is None else f"{armature_obj.name!r} ({armature_obj.type.lower()})"
        raise RetargetError(f"select an armature to retarget onto, not {kind}")
    if armature_obj.mode == "EDIT":
        armature_obj.update_from_editmode()   # bones edited but not yet written back
    names = [b.name for b in _armature(armature_obj).bones]
    if mapping is None:
        key = detect_preset(armature_obj)
        if key is None:
            key, missing = closest_preset(names)
            raise RetargetError(
                f"armature {armature_obj.name!r} matches no bone-mapping preset; the closest, "
                f"{PRESET_LABELS[key]}, lacks {len(missing)} bones: {', '.join(missing)}. "
                "Rename those bones or use a custom mapping.")
        mapping = preset_for(key, names)
    missing = mapping.missing(names)
    if missing:
        raise RetargetError(f"armature {armature_obj.name!r} lacks {len(missing)} bones of mapping "
                            f"{mapping.name!r}: {', '.join(missing)}")
    return mapping


def apply_motion(
    armature_obj: bpy.types.Object,
    motion: Motion,
    *,
    mapping: BoneMapping | None = None,
    in_place: bool = False,
    action_name: str | None = None,
    frame_start: int = 1,
) -> bpy.types.Action:
    """Retarget ``motion`` onto ``armature_obj`` and key it into a new action, which is assigned and returned.

    mapping:     bone map; None detects a preset from the bone names (``presets.detect_preset``).
    in_place:    keep the root bone's horizontal position at rest (vertical motion stays).
    action_name: default: the source video's file name without extension ("motion" if none); Blender makes
                 it unique, so an earlier action of the same name is never overwritten.
    frame_start: the scene frame of the motion's first frame.

    The rig's object transform is honoured (joints are brought into armature space). Pose bones the mapping
    does not key are reset to their rest pose; custom properties of ``mapping.switches`` are set (Rigify IK/FK
    to FK). Raises RetargetError (a ValueError) when the rig cannot be mapped.
    """
    mapping = resolve_mapping(armature_obj, mapping)
    if not isinstance(motion, Motion):
        raise TypeError(f"motion must be a Motion, got {type(motion).__name__}")
    world_to_armature = np.linalg.inv(np.array(armature_obj.matrix_world, dtype=np.float64))
    to_local = lambda p: p @ world_to_armature[:3, :3].T + world_to_armature[:3, 3]  # noqa: E731
    rest = rest_bones(armature_obj)
    try:
        track = solve_pose(rest, mapping.rules, to_local(motion.joints), trajectory=to_local(motion.trajectory),
                           root=mapping.root, in_place=in_place)
    except ValueError as exc:
        raise RetargetError(f"cannot retarget onto {armature_obj.name!r}: {exc}") from exc

    pose_bones = armature_obj.pose.bones
    for bone_name, props in mapping.switches.items():
        for prop, value in props.items():
            if prop in pose_bones[bone_name]:
                pose_bones[bone_name][prop] = value
    for pose_bone in pose_bones:
        pose_bone.matrix_basis = Matrix.Identity(4)

    rotations, location = track.rotations, track.location
    if _constrained_parents(armature_obj, track.bones):
        rotations, location = _solve_evaluated(armature_obj, track)
    quaternions = continuous_quaternions(matrix_to_quaternion(rotations))

    channels: list[Channel] = []
    for k, bone_name in enumerate(track.bones):
        mode = pose_bones[bone_name].rotation_mode
        path = f'pose.bones["{_escape(bone_name)}"]'
        if mode == "QUATERNION":
            values, prop = quaternions[:, k], "rotation_quaternion"
        elif mode == "AXIS_ANGLE":
            values, prop = quaternion_to_axis_angle(quaternions[:, k]), "rotation_axis_angle"
        else:
            values, prop = matrix_to_blender_euler(rotations[:, k], mode), "rotation_euler"
        channels += [Channel(f"{path}.{prop}", i, values[:, i], bone_name) for i in range(values.shape[1])]
    if track.root is not None and location is not None:
        path = f'pose.bones["{_escape(track.root)}"].location'
        channels += [Channel(path, i, location[:, i], track.root) for i in range(3)]

    name = action_name or (Path(motion.source_video).stem if motion.source_video else "") or "motion"
    action = new_action(armature_obj, name)
    frames = frame_start + np.arange(motion.num_frames, dtype=np.float64)
    count = write_keys(action, armature_obj, frames, channels)
    logger.info("retargeted %d frames onto %s (%s, %d bones, %d F-curves, scale %.3f) into action %s",
                motion.num_frames, armature_obj.name, mapping.name, len(track.bones), count, track.scale,
                action.name)
    return action


def _constrained_parents(obj: bpy.types.Object, bones: tuple[str, ...]) -> bool:
    """Whether a mapped bone or one of its unmapped ancestors has constraints (a generated Rigify rig's
    controls hang from MCH bones that follow others): then the analytic forward kinematics does not hold."""
    mapped = set(bones)
    for name in bones:
        bone = obj.pose.bones[name]
        if bone.constraints:
            return True
        parent = bone.parent
        while parent is not None and parent.name not in mapped:
            if parent.constraints:
                return True
            parent = parent.parent
    return False


def _solve_evaluated(obj: bpy.types.Object, track: PoseTrack) -> tuple[np.ndarray, np.ndarray | None]:
    """Basis rotations (T, B, 3, 3) and root location (T, 3) found by letting Blender evaluate the rig: per
    frame, mapped bones are set to their armature-space targets (``PoseBone.matrix``) one hierarchy level at
    a time, the view layer updated in between, and ``matrix_basis`` read back. Slower than the analytic path
    (one rig evaluation per level and frame) but exact for constraint-driven parents."""
    pose_bones = obj.pose.bones
    mapped = set(track.bones)

    def depth(name: str) -> int:
        count, parent = 0, pose_bones[name].parent
        while parent is not None:
            count += parent.name in mapped
            parent = parent.parent
        return count

    levels: dict[int, list[int]] = {}
    for k, name in enumerate(track.bones):
        levels.setdefault(depth(name), []).append(k)
    frames = len(track.targets)
    rotations = np.empty((frames, len(track.bones), 3, 3))
    location = np.empty((frames, 3)) if track.root_head is not None else None
    view_layer: Any = bpy.context.view_layer
    previous = None
    sweeps = 0
    for t in range(frames):
        # Constraints can make a bone depend on a mapped bone outside its parent chain (Rigify's upper arm
        # follows the shoulder control through MCH bones), so sweep until the pose settles.
        for _sweep in range(MAX_SWEEPS):
            sweeps += 1
            for level in sorted(levels):
                for k in levels[level]:
                    bone = pose_bones[track.bones[k]]
                    matrix = np.eye(4)
                    matrix[:3, :3] = track.targets[t, k]
                    head = track.root_head[t] if bone.name == track.root else np.array(bone.head)
                    matrix[:3, 3] = head
                    bone.matrix = Matrix(matrix.tolist())
                view_layer.update()
            current = np.array([np.array(pose_bones[name].matrix_basis) for name in track.bones])
            if previous is not None and np.abs(current - previous).max() < 1e-5:
                break
            previous = current
        for k, name in enumerate(track.bones):
            basis = np.array(pose_bones[name].matrix_basis)
            rotations[t, k] = basis[:3, :3]
            if name == track.root and location is not None:
                location[t] = basis[:3, 3]
    for name in track.bones:
        pose_bones[name].matrix_basis = Matrix.Identity(4)
    logger.debug("evaluated solve: %d frames, %.1f sweeps a frame", frames, sweeps / max(frames, 1))
    # Orthonormalise: matrix_basis read back carries float32 noise.
    u, _, vt = np.linalg.svd(rotations)
    return u @ vt, location


def _escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def _armature(obj: bpy.types.Object) -> bpy.types.Armature:
    """The armature data of an object already checked to be an armature."""
    return cast(bpy.types.Armature, obj.data)

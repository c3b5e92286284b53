"""BVH reader: any channel order and rotation order, per-joint position channels, end sites.

Position channels, where a joint has them, replace its OFFSET (the convention of Blender's importer and of
the Bandai-Namco files, whose every joint carries six channels). Rotations compose in the order the channels
are listed (``Zrotation Xrotation Yrotation`` is R = Rz Rx Ry).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ...rotations import euler_to_matrix
from .clip import MocapClip

logger = logging.getLogger(__name__)

_POSITION = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
_ROTATION = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}


class BvhError(ValueError):
    """The text is not a BVH file this reader understands."""


def read_bvh(path: str | Path) -> MocapClip:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BvhError(f"cannot read BVH file {path}: {exc}") from exc
    return parse_bvh(text, source=str(path))


def parse_bvh(text: str, source: str = "<bvh>") -> MocapClip:
    head, sep, motion = text.partition("MOTION")
    if not sep or "HIERARCHY" not in head:
        raise BvhError(f"{source}: not a BVH file (no HIERARCHY/MOTION sections)")
    names, parents, offsets, channels = _parse_hierarchy(head.split(), source)
    frames, frame_time, values = _parse_motion(motion, source)
    num_channels = sum(len(c) for c in channels)
    if values.size != frames * num_channels:
        raise BvhError(
            f"{source}: MOTION holds {values.size} numbers, expected {frames} frames x {num_channels} channels"
        )
    values = values.reshape(frames, num_channels)

    joints = len(names)
    translations = np.broadcast_to(np.asarray(offsets, dtype=np.float64), (frames, joints, 3)).copy()
    rotations = np.broadcast_to(np.eye(3), (frames, joints, 3, 3)).copy()
    column = 0
    for j, joint_channels in enumerate(channels):
        rotation_order = "".join(_ROTATION[c] for c in joint_channels if c in _ROTATION)
        rotation_columns = [column + i for i, c in enumerate(joint_channels) if c in _ROTATION]
        for i, c in enumerate(joint_channels):
            if c in _POSITION:
                translations[:, j, _POSITION[c]] = values[:, column + i]
        if rotation_order:
            if len(rotation_order) != 3:
                raise BvhError(f"{source}: joint {names[j]!r} has {len(rotation_order)} rotation channels, need 3")
            rotations[:, j] = euler_to_matrix(values[:, rotation_columns], rotation_order)
        column += len(joint_channels)
    if frame_time <= 0:
        raise BvhError(f"{source}: Frame Time must be positive, got {frame_time}")
    return MocapClip(names, np.asarray(parents), translations, rotations, fps=1.0 / frame_time)


def _parse_hierarchy(tokens: list[str], source: str):
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    i = 0
    try:
        while i < len(tokens):
            token = tokens[i]
            if token in ("ROOT", "JOINT") or (token == "End" and tokens[i + 1] == "Site"):
                if token == "End":
                    name = f"{names[stack[-1]]}_end"
                    i += 2
                else:
                    name = tokens[i + 1]
                    i += 2
                if tokens[i] != "{":
                    raise BvhError(f"{source}: expected '{{' after joint {name!r}")
                parents.append(stack[-1] if stack else -1)
                names.append(name)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                stack.append(len(names) - 1)
                i += 1
            elif token == "OFFSET":
                offsets[stack[-1]] = [float(t) for t in tokens[i + 1 : i + 4]]
                i += 4
            elif token == "CHANNELS":
                count = int(tokens[i + 1])
                joint_channels = tokens[i + 2 : i + 2 + count]
                unknown = [c for c in joint_channels if c not in _POSITION and c not in _ROTATION]
                if unknown:
                    raise BvhError(f"{source}: unknown channel(s) {unknown}")
                channels[stack[-1]] = joint_channels
                i += 2 + count
            elif token == "}":
                stack.pop()
                i += 1
            else:
                i += 1
    except (IndexError, ValueError) as exc:
        if isinstance(exc, BvhError):
            raise
        raise BvhError(f"{source}: malformed HIERARCHY ({exc})") from exc
    if not names:
        raise BvhError(f"{source}: HIERARCHY has no joints")
    if stack:
        raise BvhError(f"{source}: HIERARCHY braces do not balance")
    return names, parents, offsets, channels


def _parse_motion(motion: str, source: str) -> tuple[int, float, np.ndarray]:
    lines = motion.strip().split("\n", 2)
    try:
        frames = int(lines[0].split(":")[1])
        frame_time = float(lines[1].split(":")[1])
    except (IndexError, ValueError) as exc:
        raise BvhError(f"{source}: MOTION must start with 'Frames:' and 'Frame Time:'") from exc
    body = lines[2] if len(lines) > 2 else ""
    try:
        values = np.array(body.split(), dtype=np.float64)
    except ValueError as exc:
        raise BvhError(f"{source}: MOTION holds a value that is not a number ({exc})") from exc
    return frames, frame_time, values

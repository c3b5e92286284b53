"""ASF/AMC reader (the Acclaim format of the CMU motion capture database) producing a ``MocapClip``.

ASF describes the skeleton as *bones* (segments), each with a rest ``direction`` and ``length`` in global
axes and an ``axis`` frame C in which its AMC rotation dofs are expressed; AMC holds the per-frame dofs.
A bone's motion M (its dofs, missing ones zero) acts in its own frame, so relative to the global rest
axes it is L = C M C^-1; world rotations accumulate G_bone = G_parent @ L and a bone ends at its start plus
G_bone @ (direction * length).

Mapping onto ``MocapClip``: joint 0 is ``root``, placed at the root position; every bone becomes one joint
named after it and placed at the bone's *end* (its start is its parent's joint). A joint's rotation is
G_bone (identity at the zero pose, i.e. relative to the ASF's global rest axes, not to the bone's ``axis``
frame), its local rotation L, and its local translation, in the parent joint's frame, L @ (direction *
length) -- it varies per frame -- so ``MocapClip.forward_kinematics()`` reproduces the ASF/AMC positions.

Conventions:
  * Rotation orders (``axis XYZ``, ``order ... RX RY RZ``, ``dof rx ry rz``) list rotations about fixed
    axes in the order they apply (as the Acclaim / CMU documentation states for the root), so ``XYZ`` is
    R = Rz @ Ry @ Rx. Bone dofs compose in the order the ``dof`` line lists them.
  * The root's ``position`` and AMC translation add up to the root joint's translation; its rotation is
    O @ M with O from ``orientation`` (in the ``axis`` order) and M from the AMC rotation values.
  * Translation dofs on bones (``tx ty tz``, rare) shift the bone in its ``axis`` frame; ``l`` adds to its
    length.
  * Angles are degrees unless ``:units angle rad``; AMC values follow ``:DEGREES``/``:RADIANS`` if given,
    else the ASF's angle unit.
  * Lengths: ASF/AMC lengths are file values that ``:units length`` scaled, so every translation here is
    the file value divided by that factor. For CMU (``length 0.45``) that gives inches: multiply by
    ``CMU_UNITS_TO_METRES`` (0.0254) for metres.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...rotations import euler_to_matrix
from .clip import MocapClip

logger = logging.getLogger(__name__)

CMU_UNITS_TO_METRES = 0.0254
"""CMU translations come out in inches (file lengths / 0.45); this turns them into metres."""

_ROTATION_DOFS = ("rx", "ry", "rz")
_TRANSLATION_DOFS = ("tx", "ty", "tz")
_BONE_DOFS = frozenset(_ROTATION_DOFS + _TRANSLATION_DOFS + ("l",))
_ROOT_DOFS = frozenset(_ROTATION_DOFS + _TRANSLATION_DOFS)
_BONE_KEYS = frozenset({"id", "name", "direction", "length", "axis", "dof", "limits", "bodymass", "cofmass"})


class AsfAmcError(ValueError):
    """The text is not an ASF/AMC pair this reader understands."""


@dataclass
class _Bone:
    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray
    axis_order: str
    dofs: list[str] = field(default_factory=list)


@dataclass
class _Skeleton:
    length_unit: float
    degrees: bool
    root_dofs: list[str]
    root_position: np.ndarray
    root_orientation: np.ndarray
    bones: dict[str, _Bone]
    children: dict[str, list[str]]


def read_asf_amc(asf_path: str | Path, amc_path: str | Path, fps: float = 120.0) -> MocapClip:
    asf_path, amc_path = Path(asf_path), Path(amc_path)
    asf_text = _read(asf_path, "ASF")
    amc_text = _read(amc_path, "AMC")
    skeleton = _parse_asf(asf_text, str(asf_path))
    return _build_clip(skeleton, amc_text, fps, str(amc_path))


def parse_asf_amc(asf_text: str, amc_text: str, fps: float = 120.0, source: str = "<asf/amc>") -> MocapClip:
    skeleton = _parse_asf(asf_text, source)
    return _build_clip(skeleton, amc_text, fps, source)


def _read(path: Path, kind: str) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise AsfAmcError(f"cannot read {kind} file {path}: {exc}") from exc


# --- ASF ---------------------------------------------------------------------------------------------


def _parse_asf(text: str, source: str) -> _Skeleton:
    sections = _asf_sections(text, source)
    for required in ("root", "bonedata", "hierarchy"):
        if required not in sections:
            raise AsfAmcError(f"{source}: ASF has no :{required} section")
    length_unit, degrees = _parse_units(sections.get("units", []), source)
    root_dofs, position, orientation, axis_order = _parse_root(sections["root"], source)
    bones = _parse_bonedata(sections["bonedata"], degrees, source)
    children = _parse_hierarchy(sections["hierarchy"], bones, source)
    return _Skeleton(
        length_unit=length_unit,
        degrees=degrees,
        root_dofs=root_dofs,
        root_position=position / length_unit,
        root_orientation=_rotation(orientation if degrees else np.rad2deg(orientation), axis_order),
        bones=bones,
        children=children,
    )


def _asf_sections(text: str, source: str) -> dict[str, list[list[str]]]:
    """Rows of tokens per ``:keyword`` section; ``#`` comments, commas and parentheses are whitespace."""
    sections: dict[str, list[list[str]]] = {}
    current: str | None = None
    for line in text.splitlines():
        tokens = line.split("#", 1)[0].replace(",", " ").replace("(", " ").replace(")", " ").split()
        if not tokens:
            continue
        if tokens[0].startswith(":"):
            current = tokens[0][1:].lower()
            if current in sections:
                raise AsfAmcError(f"{source}: ASF has two :{current} sections")
            sections[current] = [tokens[1:]] if len(tokens) > 1 else []
        elif current is None:
            raise AsfAmcError(f"{source}: ASF has text before its first ':' keyword: {line.strip()!r}")
        else:
            sections[current].append(tokens)
    return sections


def _parse_units(rows: list[list[str]], source: str) -> tuple[float, bool]:
    length_unit, degrees = 1.0, True
    for row in rows:
        key = row[0].lower()
        if key == "length":
            length_unit = _floats(row[1:], 1, "ASF :units length", source)[0]
            if length_unit <= 0:
                raise AsfAmcError(f"{source}: ASF :units length must be positive, got {length_unit}")
        elif key == "angle":
            unit = row[1].lower() if len(row) > 1 else ""
            if unit not in ("deg", "rad"):
                raise AsfAmcError(f"{source}: ASF :units angle must be 'deg' or 'rad', got {unit!r}")
            degrees = unit == "deg"
    return length_unit, degrees


def _parse_root(rows: list[list[str]], source: str) -> tuple[list[str], np.ndarray, np.ndarray, str]:
    values = {row[0].lower(): row[1:] for row in rows}
    dofs = _dof_list([t.lower() for t in values.get("order", [])], _ROOT_DOFS, "root order", source)
    axis_order = _axis_order(values.get("axis", ["XYZ"])[0], "root axis", source)
    position = _floats(values.get("position", ["0", "0", "0"]), 3, "ASF root position", source)
    orientation = _floats(values.get("orientation", ["0", "0", "0"]), 3, "ASF root orientation", source)
    return dofs, position, orientation, axis_order


def _parse_bonedata(rows: list[list[str]], degrees: bool, source: str) -> dict[str, _Bone]:
    bones: dict[str, _Bone] = {}
    block: list[list[str]] | None = None
    for row in rows:
        key = row[0].lower()
        if key == "begin":
            if block is not None:
                raise AsfAmcError(f"{source}: ASF :bonedata has 'begin' inside a bone block")
            block = []
        elif key == "end":
            if block is None:
                raise AsfAmcError(f"{source}: ASF :bonedata has 'end' without 'begin'")
            bone = _parse_bone(block, degrees, source)
            if bone.name in bones or bone.name == "root":
                raise AsfAmcError(f"{source}: ASF defines bone {bone.name!r} twice")
            bones[bone.name] = bone
            block = None
        elif block is None:
            raise AsfAmcError(f"{source}: ASF :bonedata has {row[0]!r} outside begin/end")
        else:
            block.append(row)
    if block is not None:
        raise AsfAmcError(f"{source}: ASF :bonedata ends inside a bone block (missing 'end')")
    return bones


def _parse_bone(block: list[list[str]], degrees: bool, source: str) -> _Bone:
    fields: dict[str, list[str]] = {}
    for row in block:
        key = row[0].lower()
        if key in _BONE_KEYS:
            fields[key] = row[1:]
        elif "limits" not in fields:  # rows after 'limits' continue it, one (min max) pair per row
            logger.debug("%s: ignoring ASF bone line %s", source, " ".join(row))
    name = fields.get("name", [None])[0]
    if name is None:
        raise AsfAmcError(f"{source}: ASF bone block has no name")
    for required in ("direction", "length"):
        if required not in fields:
            raise AsfAmcError(f"{source}: ASF bone {name!r} has no {required}")
    direction = _floats(fields["direction"], 3, f"ASF bone {name!r} direction", source)
    length = _floats(fields["length"], 1, f"ASF bone {name!r} length", source)[0]
    axis_tokens = fields.get("axis", ["0", "0", "0", "XYZ"])
    axis = _floats(axis_tokens[:3], 3, f"ASF bone {name!r} axis", source)
    axis_order = _axis_order(axis_tokens[3] if len(axis_tokens) > 3 else "XYZ", f"bone {name!r} axis", source)
    dofs = _dof_list([t.lower() for t in fields.get("dof", [])], _BONE_DOFS, f"bone {name!r} dof", source)
    return _Bone(name, direction, length, axis if degrees else np.rad2deg(axis), axis_order, dofs)


def _parse_hierarchy(rows: list[list[str]], bones: dict[str, _Bone], source: str) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {"root": []}
    parent_of: dict[str, str] = {}
    for row in rows:
        if row[0].lower() in ("begin", "end"):
            continue
        parent, kids = row[0], row[1:]
        for name in (parent, *kids):
            if name != "root" and name not in bones:
                raise AsfAmcError(f"{source}: ASF :hierarchy names bone {name!r}, which :bonedata does not define")
        for kid in kids:
            if kid == "root" or kid in parent_of:
                raise AsfAmcError(f"{source}: ASF :hierarchy gives bone {kid!r} more than one parent")
            parent_of[kid] = parent
            children.setdefault(parent, []).append(kid)
    unplaced = sorted(set(bones) - set(_depth_first(children)))
    if unplaced:
        raise AsfAmcError(f"{source}: ASF bones not connected to the root in :hierarchy: {', '.join(unplaced)}")
    return children


def _depth_first(children: dict[str, list[str]]) -> list[str]:
    """Bone names below the root, parents before children, in hierarchy order."""
    order: list[str] = []
    stack = list(reversed(children.get("root", [])))
    while stack:
        name = stack.pop()
        order.append(name)
        stack.extend(reversed(children.get(name, [])))
    return order


def _dof_list(tokens: list[str], allowed: frozenset[str], what: str, source: str) -> list[str]:
    unknown = [t for t in tokens if t not in allowed]
    if unknown:
        raise AsfAmcError(f"{source}: ASF {what} has unknown dof(s) {unknown}")
    if len(set(tokens)) != len(tokens):
        raise AsfAmcError(f"{source}: ASF {what} repeats a dof: {' '.join(tokens)}")
    return tokens


def _axis_order(token: str, what: str, source: str) -> str:
    order = token.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise AsfAmcError(f"{source}: ASF {what} order must be a permutation of XYZ, got {token!r}")
    return order


def _floats(tokens: list[str], count: int, what: str, source: str) -> np.ndarray:
    if len(tokens) < count:
        raise AsfAmcError(f"{source}: {what} needs {count} number(s), got {len(tokens)}")
    try:
        return np.array([float(t) for t in tokens[:count]], dtype=np.float64)
    except ValueError as exc:
        raise AsfAmcError(f"{source}: {what} is not a number ({exc})") from exc


def _rotation(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """Rotations about fixed axes applied in listed order: ``XYZ`` with angles (x, y, z) is Rz @ Ry @ Rx.

    ``angles_deg[..., i]`` is the angle about axis ``order[i]``.
    """
    return euler_to_matrix(np.asarray(angles_deg)[..., ::-1], order[::-1])


# --- AMC ---------------------------------------------------------------------------------------------


def _parse_amc(text: str, skeleton: _Skeleton, source: str) -> tuple[dict[str, np.ndarray], bool]:
    """Per-bone (T, dofs) values, ``root`` included (bones a frame omits are zero), and whether angles are
    degrees."""
    degrees = skeleton.degrees
    dof_counts = {"root": len(skeleton.root_dofs), **{n: len(b.dofs) for n, b in skeleton.bones.items()}}
    frame_numbers: list[int] = []
    frames: list[dict[str, np.ndarray]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        if tokens[0].startswith(":"):
            header = tokens[0].upper()
            if header in (":DEGREES", ":RADIANS"):
                degrees = header == ":DEGREES"
            continue
        if len(tokens) == 1 and tokens[0].lstrip("-").isdigit():
            frame_numbers.append(int(tokens[0]))
            frames.append({})
            continue
        name, values = tokens[0], tokens[1:]
        where = f"{source}: AMC line {line_number}"
        if not frames:
            raise AsfAmcError(f"{where}: bone data {name!r} before the first frame number")
        if name not in dof_counts:
            raise AsfAmcError(f"{where}: unknown bone {name!r} (not in the ASF skeleton)")
        if len(values) != dof_counts[name]:
            raise AsfAmcError(f"{where}: bone {name!r} has {len(values)} value(s), its dofs need {dof_counts[name]}")
        if name in frames[-1]:
            raise AsfAmcError(f"{where}: bone {name!r} appears twice in frame {frame_numbers[-1]}")
        try:
            frames[-1][name] = np.array([float(v) for v in values], dtype=np.float64)
        except ValueError as exc:
            raise AsfAmcError(f"{where}: bone {name!r} has a value that is not a number ({exc})") from exc
    _check_frame_numbers(frame_numbers, source)
    channels = {name: np.zeros((len(frames), count)) for name, count in dof_counts.items()}
    for t, frame in enumerate(frames):
        for name, values in frame.items():
            channels[name][t] = values
    return channels, degrees


def _check_frame_numbers(numbers: list[int], source: str) -> None:
    if not numbers:
        raise AsfAmcError(f"{source}: AMC has no frames")
    for previous, current in zip(numbers, numbers[1:]):
        if current != previous + 1:
            raise AsfAmcError(f"{source}: AMC frame numbers are not consecutive ({previous} is followed by {current})")


# --- clip ----------------------------------------------------------------------------------------------


def _build_clip(skeleton: _Skeleton, amc_text: str, fps: float, source: str) -> MocapClip:
    if not fps > 0:
        raise AsfAmcError(f"{source}: fps must be positive, got {fps}")
    channels, degrees = _parse_amc(amc_text, skeleton, source)
    frames = channels["root"].shape[0]
    names = ["root", *_depth_first(skeleton.children)]
    index = {name: j for j, name in enumerate(names)}
    parents = np.array([-1] + [index[_parent(skeleton.children, n)] for n in names[1:]])
    translations = np.zeros((frames, len(names), 3))
    rotations = np.zeros((frames, len(names), 3, 3))

    root_values = channels["root"]
    translations[:, 0] = skeleton.root_position + _translation(root_values, skeleton.root_dofs) / skeleton.length_unit
    rotations[:, 0] = skeleton.root_orientation @ _dof_rotation(root_values, skeleton.root_dofs, degrees)
    for name in names[1:]:
        j, bone = index[name], skeleton.bones[name]
        values = channels[name]
        rotations[:, j], translations[:, j] = _bone_local(bone, values, degrees, skeleton.length_unit)
    logger.debug("%s: %d frames, %d joints", source, frames, len(names))
    return MocapClip(names, parents, translations, rotations, fps=float(fps))


def _parent(children: dict[str, list[str]], name: str) -> str:
    return next(parent for parent, kids in children.items() if name in kids)


def _bone_local(bone: _Bone, values: np.ndarray, degrees: bool, length_unit: float) -> tuple[np.ndarray, np.ndarray]:
    """Local rotation L = C M C^-1 and local translation (in the parent joint's frame) of a bone's end."""
    c = _rotation(bone.axis, bone.axis_order)
    local = c @ _dof_rotation(values, bone.dofs, degrees) @ c.T
    length = bone.length + (values[:, bone.dofs.index("l")] if "l" in bone.dofs else 0.0)
    vector = bone.direction * np.asarray(length)[..., None] / length_unit
    shift = _translation(values, bone.dofs) @ c.T / length_unit
    offset = np.einsum("tab,tb->ta", local, np.broadcast_to(vector, (values.shape[0], 3))) + shift
    return local, offset


def _dof_rotation(values: np.ndarray, dofs: list[str], degrees: bool) -> np.ndarray:
    """(T, 3, 3) rotation from the rotation dofs, applied in the order listed (absent axes are zero)."""
    listed = [d for d in dofs if d in _ROTATION_DOFS]
    axes = [d[1].upper() for d in listed] + [a for a in "XYZ" if f"r{a.lower()}" not in listed]
    angles = np.zeros((values.shape[0], 3))
    for i, dof in enumerate(listed):
        angles[:, i] = values[:, dofs.index(dof)]
    return _rotation(angles if degrees else np.rad2deg(angles), "".join(axes))


def _translation(values: np.ndarray, dofs: list[str]) -> np.ndarray:
    """(T, 3) translation dofs in file units (absent ones are zero)."""
    result = np.zeros((values.shape[0], 3))
    for axis, dof in enumerate(_TRANSLATION_DOFS):
        if dof in dofs:
            result[:, axis] = values[:, dofs.index(dof)]
    return result

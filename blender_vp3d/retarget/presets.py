"""Bone maps: which rig bone follows which H36M-17 joints, for the rigs we know, plus custom maps as JSON.

A :class:`BoneMapping` names, per bone, a :class:`~blender_vp3d.core.output.retarget_math.BoneRule` (the joints the
bone points along and the reference fixing its twist), the root bone that carries the trajectory, and custom
properties to set first (a generated Rigify rig's IK/FK switches, set to FK). Bones not named stay at rest
relative to their parent (hands, feet, fingers, face).

Presets (:data:`PRESETS`, detected by bone names with :func:`detect_preset`):

* ``rigify_metarig``: ``bpy.ops.object.armature_human_metarig_add()`` (spine ... spine.006, thigh.L, ...);
* ``rigify``: a rig generated from it, driven through its FK controls (torso, hips, chest, neck, head,
  thigh_fk.L, upper_arm_fk.L, ...);
* ``mixamo``: ``mixamorig:Hips``, ``mixamorig:LeftUpLeg``, ... (any ``prefix:`` before the names works);
* ``vp3d_bvh``: the armature Blender's BVH importer makes from our BVH export (``core.output.export_bvh``).

This module itself needs no bpy (it reads bone names only), though the package it sits in imports bpy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core.atomic import write_atomically
from ..core.output.retarget_math import BoneRule

MAPPING_FORMAT = "blender_vp3d.bone_mapping"


class RetargetError(ValueError):
    """A rig cannot be retargeted (not an armature, no preset fits, bones missing); the message says why."""


@dataclass(frozen=True)
class BoneMapping:
    """A rig's bone map.

    name:      label shown to the user (a preset's key for presets).
    rules:     bone name -> BoneRule.
    root:      the bone whose location follows the trajectory (None: no root motion).
    switches:  pose bone name -> {custom property: value} set before keying (e.g. Rigify IK_FK = 1.0).
    """

    name: str
    rules: dict[str, BoneRule]
    root: str | None = None
    switches: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.rules:
            raise ValueError("a bone mapping needs at least one bone")
        if self.root is not None and self.root not in self.rules:
            raise ValueError(f"root bone {self.root!r} must be one of the mapped bones")

    @property
    def bones(self) -> list[str]:
        """Every bone the map needs (mapped bones, then switch holders)."""
        return list(self.rules) + [b for b in self.switches if b not in self.rules]

    def missing(self, bone_names: Iterable[str]) -> list[str]:
        present = set(bone_names)
        return [name for name in self.bones if name not in present]

    def with_prefix(self, prefix: str, *, strip: str = "") -> BoneMapping:
        """The same map with ``strip`` removed from the start of every bone name and ``prefix`` put there."""
        rename = lambda n: prefix + (n[len(strip):] if strip and n.startswith(strip) else n)  # noqa: E731
        return BoneMapping(name=self.name, rules={rename(k): v for k, v in self.rules.items()},
                           root=rename(self.root) if self.root else None,
                           switches={rename(k): dict(v) for k, v in self.switches.items()})

    def to_dict(self) -> dict:
        return {"format": MAPPING_FORMAT, "version": 1, "name": self.name, "root": self.root,
                "bones": {k: v.to_dict() for k, v in self.rules.items()},
                "switches": {k: dict(v) for k, v in self.switches.items()}}

    @classmethod
    def from_dict(cls, data: Mapping) -> BoneMapping:
        if not isinstance(data, Mapping) or data.get("format") != MAPPING_FORMAT:
            raise ValueError(f"not a {MAPPING_FORMAT} document")
        bones = data.get("bones")
        if not isinstance(bones, Mapping):
            raise ValueError("a bone mapping needs a 'bones' object")
        rules = {}
        for bone, rule in bones.items():
            try:
                rules[str(bone)] = BoneRule.from_dict(rule)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"bone {bone!r}: {exc}") from None
        switches = {str(k): {str(p): float(v) for p, v in props.items()}
                    for k, props in (data.get("switches") or {}).items()}
        return cls(name=str(data.get("name", "custom")), rules=rules, root=data.get("root"), switches=switches)


def save_mapping_json(mapping: BoneMapping, path: str | os.PathLike) -> Path:
    """Write ``mapping`` as JSON (atomically); returns the path."""
    path = Path(path)
    text = json.dumps(mapping.to_dict(), indent=2)
    write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))
    return path


def load_mapping_json(path: str | os.PathLike) -> BoneMapping:
    """Read a mapping written by :func:`save_mapping_json`; RetargetError saying what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return BoneMapping.from_dict(data)
    except FileNotFoundError:
        raise RetargetError(f"bone mapping file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as exc:
        raise RetargetError(f"{path} is not a valid bone mapping: {exc}") from None


# -------------------------------------------------------------------------------------------- presets


def _limbs(names: Mapping[str, str], *, clavicle: bool = True) -> dict[str, BoneRule]:
    """Rules for the limbs; ``names`` maps thigh_L, shin_L, upper_L, fore_L, clav_L (and _R) to bone names."""
    rules = {}
    for side, s in (("left", "L"), ("right", "R")):
        rules[names[f"thigh_{s}"]] = BoneRule((f"{side}_hip", f"{side}_knee"), f"{side}_leg")
        rules[names[f"shin_{s}"]] = BoneRule((f"{side}_knee", f"{side}_ankle"), f"{side}_leg")
        if clavicle:
            rules[names[f"clav_{s}"]] = BoneRule(("thorax", f"{side}_shoulder"), "chest_up")
        rules[names[f"upper_{s}"]] = BoneRule((f"{side}_shoulder", f"{side}_elbow"), f"{side}_arm")
        rules[names[f"fore_{s}"]] = BoneRule((f"{side}_elbow", f"{side}_wrist"), f"{side}_arm")
    return rules


def _torso(pelvis: list[str], chest: list[str], neck: list[str], head: list[str], aim: bool = True) -> dict:
    rules = {}
    for bone in pelvis:
        rules[bone] = BoneRule(("pelvis", "spine"), "hip_line", aim)
    for bone in chest:
        rules[bone] = BoneRule(("spine", "thorax"), "shoulder_line", aim)
    for bone in neck:
        rules[bone] = BoneRule(("thorax", "neck_nose"), "shoulder_line")
    for bone in head:
        rules[bone] = BoneRule(("neck_nose", "head_top"), "shoulder_line")
    return rules


def _lr(template: str) -> dict[str, str]:
    return {"L": template.format(side="L", Side="Left"), "R": template.format(side="R", Side="Right")}


def _limb_names(**templates: str) -> dict[str, str]:
    return {f"{key}_{s}": name for key, template in templates.items() for s, name in _lr(template).items()}


RIGIFY_METARIG = BoneMapping(
    name="rigify_metarig",
    rules={
        **_torso(["spine", "spine.001"], ["spine.002", "spine.003"], ["spine.004", "spine.005"], ["spine.006"]),
        **_limbs(_limb_names(thigh="thigh.{side}", shin="shin.{side}", clav="shoulder.{side}",
                             upper="upper_arm.{side}", fore="forearm.{side}")),
    },
    root="spine",
)

# A generated Rigify rig, through its FK controls. torso (the master, at the hips) carries the trajectory and
# the pelvis's turn; hips and chest turn with their body parts but are not drawn along them (aim=False).
RIGIFY = BoneMapping(
    name="rigify",
    rules={
        "torso": BoneRule(("pelvis", "spine"), "hip_line", aim=False),
        "hips": BoneRule(("pelvis", "spine"), "hip_line", aim=False),
        "chest": BoneRule(("spine", "thorax"), "shoulder_line", aim=False),
        "neck": BoneRule(("thorax", "neck_nose"), "shoulder_line"),
        "head": BoneRule(("neck_nose", "head_top"), "shoulder_line"),
        **_limbs(_limb_names(thigh="thigh_fk.{side}", shin="shin_fk.{side}", clav="shoulder.{side}",
                             upper="upper_arm_fk.{side}", fore="forearm_fk.{side}")),
    },
    root="torso",
    switches={name: {"IK_FK": 1.0} for name in ("thigh_parent.L", "thigh_parent.R",
                                                 "upper_arm_parent.L", "upper_arm_parent.R")},
)

MIXAMO = BoneMapping(
    name="mixamo",
    rules={
        **_torso(["mixamorig:Hips", "mixamorig:Spine"], ["mixamorig:Spine1", "mixamorig:Spine2"],
                 ["mixamorig:Neck"], ["mixamorig:Head"]),
        **_limbs(_limb_names(thigh="mixamorig:{Side}UpLeg", shin="mixamorig:{Side}Leg",
                             clav="mixamorig:{Side}Shoulder", upper="mixamorig:{Side}Arm",
                             fore="mixamorig:{Side}ForeArm")),
    },
    root="mixamorig:Hips",
)

VP3D_BVH = BoneMapping(
    name="vp3d_bvh",
    rules={
        **_torso(["Hips", "Spine"], ["Chest"], ["Neck"], ["Head"]),
        **_limbs(_limb_names(thigh="{Side}UpLeg", shin="{Side}Leg", clav="{Side}Shoulder", upper="{Side}Arm",
                             fore="{Side}ForeArm")),
    },
    root="Hips",
)

PRESETS: dict[str, BoneMapping] = {m.name: m for m in (RIGIFY, RIGIFY_METARIG, MIXAMO, VP3D_BVH)}
"""Preset key -> mapping, in detection order (a generated Rigify rig also holds metarig-like names)."""

PRESET_LABELS = {
    "rigify_metarig": "Rigify metarig",
    "rigify": "Rigify rig (FK controls)",
    "mixamo": "Mixamo",
    "vp3d_bvh": "BVH from blender_vp3d",
}


def _mixamo_prefix(bone_names: Iterable[str]) -> str | None:
    """The ``prefix:`` before a Mixamo ``Hips`` bone (``mixamorig:``, ``mixamorig1:``, ...), if any."""
    for name in bone_names:
        if name.endswith(":Hips"):
            return name[: -len("Hips")]
    return None


def preset_for(key: str, bone_names: Iterable[str] = ()) -> BoneMapping:
    """The preset ``key``, adapted to the rig's names (Mixamo prefixes); RetargetError for unknown keys."""
    if key not in PRESETS:
        raise RetargetError(f"unknown bone-mapping preset {key!r}; known: {', '.join(PRESETS)}")
    mapping = PRESETS[key]
    if key == "mixamo":
        prefix = _mixamo_prefix(list(bone_names))
        if prefix and prefix != "mixamorig:":
            mapping = mapping.with_prefix(prefix, strip="mixamorig:")
    return mapping


def detect_preset_from_names(bone_names: Iterable[str]) -> str | None:
    """The first preset whose bones are all present, or None."""
    names = list(bone_names)
    for key in PRESETS:
        if not preset_for(key, names).missing(names):
            return key
    return None


def closest_preset(bone_names: Iterable[str]) -> tuple[str, list[str]]:
    """The preset missing the fewest bones, and those bones (for error messages)."""
    names = list(bone_names)
    scored = [(len(preset_for(k, names).missing(names)) / len(preset_for(k, names).bones), k) for k in PRESETS]
    key = min(scored)[1]
    return key, preset_for(key, names).missing(names)


def detect_preset(armature_obj) -> str | None:
    """The preset key fitting ``armature_obj`` (a Blender armature object) by its bone names, or None."""
    data = getattr(armature_obj, "data", None)
    bones = getattr(data, "bones", None)
    if bones is None:
        return None
    return detect_preset_from_names(b.name for b in bones)

"""Retargeting in real Blender (the ``bpy`` module): the cam01 capture onto a Rigify metarig, a Mixamo-named rig
built here, and the armature Blender's BVH importer makes from our export; every mapped bone must point along
its joints after the rig is evaluated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from mathutils import Matrix  # noqa: E402

from blender_vp3d.core.output.export_bvh import write_bvh  # noqa: E402
from blender_vp3d.core.output.motion import Motion  # noqa: E402
from blender_vp3d.core.skeleton import H36M17, leg_length  # noqa: E402
from blender_vp3d.retarget import (  # noqa: E402
    PRESETS,
    BoneMapping,
    RetargetError,
    apply_motion,
    detect_preset,
    load_mapping_json,
    save_mapping_json,
)
from blender_vp3d.retarget.apply import resolve_mapping  # noqa: E402
from blender_vp3d.retarget.keyframes import SLOTTED_ACTIONS  # noqa: E402
from blender_vp3d.retarget.keyframes import action_fcurves as fcurves_of  # noqa: E402

J = {name: i for i, name in enumerate(H36M17.joint_names)}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def motion(sample_videos, tmp_path_factory) -> Motion:
    out = tmp_path_factory.mktemp("retarget") / "cam01.npz"
    video = sample_videos / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    done = subprocess.run([sys.executable, "-m", "blender_vp3d", "capture", str(video), "-o", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return Motion.load(out)


@pytest.fixture(autouse=True)
def fresh_file():
    bpy.ops.wm.read_homefile(app_template="")
    bpy.ops.preferences.addon_enable(module="rigify")
    yield


def metarig():
    bpy.ops.object.armature_human_metarig_add()
    return bpy.context.object


def mixamo_rig(a_pose: bool = True):
    """A Mixamo-named rig in centimetres (object scale 0.01, moved and turned), arms in an A-pose, Euler
    rotation modes on the torso."""
    p = {  # metres, facing -Y
        "Hips": (0, 0, 0.95), "Spine": (0, 0, 1.05), "Spine1": (0, 0, 1.17), "Spine2": (0, 0, 1.3),
        "Neck": (0, 0, 1.45), "Head": (0, 0, 1.55), "HeadTop_End": (0, 0, 1.75),
        "LeftUpLeg": (0.09, 0, 0.92), "LeftLeg": (0.09, -0.01, 0.5), "LeftFoot": (0.09, 0, 0.08),
        "LeftToeBase": (0.09, -0.12, 0.02),
        "LeftShoulder": (0.05, 0, 1.42), "LeftArm": (0.17, 0, 1.42), "LeftForeArm": (0.44, 0, 1.42),
        "LeftHand": (0.69, 0, 1.42), "LeftHandEnd": (0.78, 0, 1.42),
    }
    p = {k: np.array(v, dtype=float) for k, v in p.items()}
    if a_pose:
        drop = np.radians(40)
        base = p["LeftArm"]
        rot = np.array([[np.cos(drop), 0, -np.sin(drop)], [0, 1, 0], [np.sin(drop), 0, np.cos(drop)]])
        for k in ("LeftForeArm", "LeftHand", "LeftHandEnd"):
            p[k] = base + rot @ (p[k] - base)
    for k in list(p):
        if k.startswith("Left"):
            p["Right" + k[4:]] = p[k] * np.array([-1, 1, 1])
    chain = [("Hips", "Spine", None), ("Spine", "Spine1", "Hips"), ("Spine1", "Spine2", "Spine"),
             ("Spine2", "Neck", "Spine1"), ("Neck", "Head", "Spine2"), ("Head", "HeadTop_End", "Neck")]
    for s in ("Left", "Right"):
        chain += [(f"{s}UpLeg", f"{s}Leg", "Hips"), (f"{s}Leg", f"{s}Foot", f"{s}UpLeg"),
                  (f"{s}Foot", f"{s}ToeBase", f"{s}Leg"), (f"{s}Shoulder", f"{s}Arm", "Spine2"),
                  (f"{s}Arm", f"{s}ForeArm", f"{s}Shoulder"), (f"{s}ForeArm", f"{s}Hand", f"{s}Arm"),
                  (f"{s}Hand", f"{s}HandEnd", f"{s}ForeArm")]
    data = bpy.data.armatures.new("mixamo")
    obj = bpy.data.objects.new("mixamo", data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for head, tail, parent in chain:
        bone = data.edit_bones.new("mixamorig:" + head)
        bone.head, bone.tail = p[head] * 100, p[tail] * 100
        bone.roll = 0.7 if "Arm" in head else -0.3
        if parent:
            bone.parent = data.edit_bones["mixamorig:" + parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    for name in ("mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Neck", "mixamorig:LeftForeArm"):
        obj.pose.bones[name].rotation_mode = "XYZ"
    obj.matrix_world = Matrix.Translation((2.0, 1.0, 0.0)) @ Matrix.Rotation(0.5, 4, "Z") @ Matrix.Scale(0.01, 4)
    return obj


def bvh_rig(motion, tmp_path):
    path = write_bvh(tmp_path / "cam01.bvh", motion.joints, fps=motion.fps)
    bpy.ops.import_anim.bvh(filepath=str(path))
    return bpy.context.object


def check_retarget(obj, motion, preset, *, frame_start=1, extra=None):
    """Apply, evaluate every frame, and check directions (of the aimed mapped bones and of ``extra``: bone ->
    rule), root, NaN and quaternion continuity."""
    extra = extra or {}
    mapping = PRESETS[preset] if preset != "mixamo" else resolve_mapping(obj)
    assert detect_preset(obj) == preset
    action = apply_motion(obj, motion, frame_start=frame_start)
    assert obj.animation_data.action == action
    assert action.name.startswith("cam01")
    scene = bpy.context.scene
    world = np.array(obj.matrix_world)
    errors = {name: [] for name, rule in mapping.rules.items() if rule.aim}
    errors.update({name: [] for name in extra})
    heads = []
    for t in range(motion.num_frames):
        scene.frame_set(frame_start + t)
        evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        mw = np.array(evaluated.matrix_world)
        for name in errors:
            rule = mapping.rules.get(name) or extra[name]
            pb = evaluated.pose.bones[name]
            direction = mw[:3, :3] @ (np.array(pb.tail) - np.array(pb.head))
            observed = motion.joints[t, J[rule.source[1]]] - motion.joints[t, J[rule.source[0]]]
            cos = direction @ observed / np.linalg.norm(direction) / np.linalg.norm(observed)
            errors[name].append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
        heads.append(np.array(evaluated.pose.bones[mapping.root].head))
    for name, err in errors.items():
        err = np.array(err)
        assert np.all(np.isfinite(err)), name
        assert err.mean() < 3.0 and err.max() < 10.0, (name, err.mean(), err.max())

    # The root follows the trajectory, scaled by the legs (everything in armature space).
    inverse = np.linalg.inv(world)
    traj = motion.trajectory @ inverse[:3, :3].T + inverse[:3, 3]
    joints = motion.joints @ inverse[:3, :3].T + inverse[:3, 3]
    bones = obj.data.bones
    thigh = next(b for b, r in mapping.rules.items() if r.source == ("left_hip", "left_knee"))
    shin = next(b for b, r in mapping.rules.items() if r.source == ("left_knee", "left_ankle"))
    rig_leg = (bones[shin].head_local - bones[thigh].head_local).length + bones[shin].length
    scale = rig_leg / leg_length(joints, statistic="mean")
    heads = np.array(heads)
    rest_head = np.array(bones[mapping.root].head_local)
    expected = rest_head[:2] + scale * (traj[:, :2] - traj[0, :2])
    np.testing.assert_allclose(heads[:, :2], expected, atol=0.02 * rig_leg)   # 2%: left/right leg differences
    floor = min(min(b.head_local.z, b.tail_local.z) for b in bones)
    np.testing.assert_allclose(heads[:, 2], floor + scale * traj[:, 2], atol=0.02 * rig_leg)

    # Keys: finite, one per frame, quaternions continuous.
    quats = {}
    for fc in fcurves_of(action, obj):
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        assert len(co) == 2 * motion.num_frames and np.all(np.isfinite(co))
        if fc.data_path.endswith("rotation_quaternion"):
            quats.setdefault(fc.data_path, np.zeros((motion.num_frames, 4)))[:, fc.array_index] = co[1::2]
    for path, q in quats.items():
        assert np.all(np.sum(q[1:] * q[:-1], axis=-1) > 0), path
    return action


def test_metarig(motion):
    obj = metarig()
    action = check_retarget(obj, motion, "rigify_metarig")
    assert any(fc.data_path.endswith("rotation_euler") for fc in fcurves_of(action, obj))  # shoulder.L is YXZ


def test_generated_rigify_rig(motion):
    metarig()
    bpy.ops.pose.rigify_generate()
    obj = bpy.context.object
    rules = PRESETS["rigify"].rules
    # The deforming chain follows the FK controls (IK/FK switched to FK).
    extra = {f"ORG-{name}": rules[f"{name.replace('.', '_fk.')}"]
             for side in ("L", "R") for name in (f"thigh.{side}", f"shin.{side}", f"upper_arm.{side}",
                                                  f"forearm.{side}")}
    check_retarget(obj, motion, "rigify", extra=extra)
    assert obj.pose.bones["thigh_parent.L"]["IK_FK"] == 1.0


def test_mixamo_named_rig(motion):
    obj = mixamo_rig()
    action = check_retarget(obj, motion, "mixamo", frame_start=10)
    assert {fc.data_path for fc in fcurves_of(action, obj) if fc.data_path.endswith("rotation_euler")}


def test_mixamo_other_prefix(motion):
    obj = mixamo_rig(a_pose=False)
    for bone in obj.data.bones:
        bone.name = bone.name.replace("mixamorig:", "mixamorig7:")
    assert detect_preset(obj) == "mixamo"
    assert resolve_mapping(obj).root == "mixamorig7:Hips"


def test_bvh_imported_rig(motion, tmp_path):
    obj = bvh_rig(motion, tmp_path)
    imported = obj.animation_data.action
    check_retarget(obj, motion, "vp3d_bvh")
    assert imported.name in bpy.data.actions and obj.animation_data.action != imported


def test_unmappable_rig_lists_missing_bones(motion):
    data = bpy.data.armatures.new("tiny")
    obj = bpy.data.objects.new("tiny", data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    a = data.edit_bones.new("a")
    a.head, a.tail = (0, 0, 0), (0, 0, 1)
    b = data.edit_bones.new("b")
    b.head, b.tail, b.parent = (0, 0, 1), (0, 0, 2), a
    bpy.ops.object.mode_set(mode="OBJECT")
    assert detect_preset(obj) is None
    with pytest.raises(RetargetError, match="lacks") as info:
        apply_motion(obj, motion)
    assert "LeftUpLeg" in str(info.value) or "thigh.L" in str(info.value)
    assert obj.animation_data is None and not any(a.name.startswith("cam01") for a in bpy.data.actions)
    with pytest.raises(RetargetError, match="spine.006"):
        apply_motion(obj, motion, mapping=PRESETS["rigify_metarig"])
    mesh = bpy.data.objects.new("mesh", bpy.data.meshes.new("mesh"))
    with pytest.raises(RetargetError, match="armature"):
        apply_motion(mesh, motion)


def test_second_apply_keeps_first_action(motion):
    obj = metarig()
    first = apply_motion(obj, motion)
    second = apply_motion(obj, motion, in_place=True, action_name="cam01")
    assert first != second and first.name in bpy.data.actions and second.name != first.name
    assert obj.animation_data.action == second
    if SLOTTED_ACTIONS:
        from bpy_extras.anim_utils import action_get_channelbag_for_slot

        assert len(action_get_channelbag_for_slot(first, first.slots[0]).fcurves) > 0
    else:
        assert len(first.fcurves) > 0
    # in place: the root moves only vertically.
    scene = bpy.context.scene
    xs = []
    for frame in (1, motion.num_frames):
        scene.frame_set(frame)
        xs.append(np.array(obj.pose.bones["spine"].head)[:2])
    np.testing.assert_allclose(xs[0], xs[1], atol=1e-5)


def test_custom_mapping_json_roundtrip(motion, tmp_path):
    obj = metarig()
    rules = {k: v for k, v in PRESETS["rigify_metarig"].rules.items() if not k.endswith(".R")}
    custom = BoneMapping(name="left only", rules=rules, root="spine")
    path = save_mapping_json(custom, tmp_path / "map.json")
    loaded = load_mapping_json(path)
    assert loaded == custom
    action = apply_motion(obj, motion, mapping=loaded, action_name="custom")
    assert action.name == "custom"
    assert not any('"thigh.R"' in fc.data_path for fc in fcurves_of(action, obj))
    (tmp_path / "bad.json").write_text("{\"format\": \"nope\"}")
    with pytest.raises(RetargetError, match="bone mapping"):
        load_mapping_json(tmp_path / "bad.json")

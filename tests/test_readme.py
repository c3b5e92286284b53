"""The README's Blender example runs as written (in real Blender, through the bpy module)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _block_after(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_retargeting_example_animates_a_metarig(tmp_path, sample_videos, monkeypatch):
    bpy = pytest.importorskip("bpy")
    from blender_vp3d.core.capture import CaptureSettings, capture

    motion_file = tmp_path / "out" / "cam01.npz"
    motion_file.parent.mkdir()
    capture(sample_videos / "Demo_SinglePerson" / "videos" / "cam01.mp4", CaptureSettings(use_cache=False)).motion.save(motion_file)
    bpy.ops.wm.read_homefile(app_template="")
    bpy.ops.preferences.addon_enable(module="rigify")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_block_after("## Retargeting onto a rig"), "README.md", "exec"), namespace)  # noqa: S102
    action = namespace["action"]
    assert action.name.startswith("cam01") and tuple(action.frame_range) == (1.0, 100.0)
    assert namespace["rig"].animation_data.action == action
    assert os.getcwd() == str(tmp_path)

"""Shared fixtures: the Bandai archives are read in place (cached under .cache/) once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from blender_vp3d.core.lift import bundled
from blender_vp3d.core.training.mocap.bandai import default_data_dir, load_split


@pytest.fixture(scope="session")
def bandai_split():
    if not default_data_dir().exists():
        pytest.fail(f"Bandai mocap archives not found at {default_data_dir()} (set VP3D_BANDAI_DIR)")
    return load_split()


SAMPLES = Path(__file__).resolve().parents[1] / ".cache" / "samples" / "pose2sim"


@pytest.fixture(scope="session")
def sample_videos() -> Path:
    """The Pose2Sim demo videos (fetched by ``python3 build.py env``)."""
    if not (SAMPLES / "Demo_SinglePerson" / "videos" / "cam01.mp4").exists():
        pytest.fail(f"sample videos missing under {SAMPLES}: run python3 build.py env")
    return SAMPLES


@pytest.fixture
def two_bundled_models(tmp_path, monkeypatch) -> Path:
    """A copy of the shipped bundled-models folder (the default and the CMU-only model) that a test may break;
    ``bundled_dirs`` points there."""
    shipped = bundled.bundled_models()
    if {"default", "cmu"} - {model.name for model in shipped}:
        pytest.skip("bundled models not built yet")
    folder = tmp_path / "bundled_models"
    folder.mkdir()
    for model in shipped:
        shutil.copy2(model.path, folder / model.path.name)
    monkeypatch.setattr(bundled, "bundled_dirs", lambda: (folder, tmp_path / "absent"))
    return folder

"""Shared fixtures: the Bandai archives are read in place (cached under .cache/) once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from blender_vp3d.core.lift import bundled
from blender_vp3d.core.lift.model_file import load_model_file, save_model_file
from blender_vp3d.core.training.datasets import licence_text
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
    """A bundled-models folder holding the shipped default and a CMU-only model (the default's weights, one
    output bias changed, re-saved with the licence the exporter writes for CMU data), as the add-on's folder
    looks once both ship; ``bundled_dirs`` points there."""
    default = next((p for p in bundled.bundled_model_paths() if p.is_file()), None)
    if default is None:
        pytest.skip("bundled model not built yet")
    folder = tmp_path / "bundled_models"
    folder.mkdir()
    shutil.copy2(default, folder / "vp3d_default.npz")
    weights, metadata = load_model_file(default)
    weights = {name: array * np.float32(0.5) if name.endswith("shrink.bias") else array for name, array in weights.items()}
    save_model_file(folder / "vp3d_cmu.npz", weights, {**metadata, "licence": licence_text(["cmu"])})
    monkeypatch.setattr(bundled, "bundled_dirs", lambda: (folder, tmp_path / "absent"))
    return folder

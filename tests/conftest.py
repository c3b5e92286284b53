"""Shared fixtures: the Bandai archives are read in place (cached under .cache/) once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

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

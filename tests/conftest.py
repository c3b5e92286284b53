"""Shared fixtures: the Bandai archives are read in place (cached under .cache/) once per session."""

from __future__ import annotations

import pytest

from blender_vp3d.core.mocap.bandai import default_data_dir, load_split


@pytest.fixture(scope="session")
def bandai_split():
    if not default_data_dir().exists():
        pytest.fail(f"Bandai mocap archives not found at {default_data_dir()} (set VP3D_BANDAI_DIR)")
    return load_split()

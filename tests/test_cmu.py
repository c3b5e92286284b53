"""The CMU archives read in place, mapped to H36M-17, split by subject."""

from __future__ import annotations

import numpy as np
import pytest

from blender_vp3d.core.skeleton import H36M17
from blender_vp3d.core.training.mocap import cmu


@pytest.fixture(scope="module")
def takes():
    if not cmu.default_data_dir().exists():
        pytest.fail(f"CMU mocap archives not found at {cmu.default_data_dir()} (set VP3D_CMU_DIR)")
    return {t.name: t for t in cmu.load_takes()}


@pytest.fixture(scope="module")
def split():
    return cmu.load_split()


def test_every_take_is_read_once(takes):
    # 20 Motionbuilder BVH less the 3 trials also in ASF/AMC, 36 Daz BVH, 61 AMC.
    assert len(takes) == 20 - 3 + 36 + 61
    assert "105_05" in takes and "144_30" in takes and "08_01" in takes


def test_added_t_pose_frames_are_dropped_where_the_readme_says(takes):
    # Frames in the files (data README), T-pose first in all but three Motionbuilder files and in every Daz file.
    assert len(takes["90_02"].joints) == 782 - 1
    for trial, frames in (("104_43", 3377), ("144_03", 4479), ("144_05", 2786)):
        assert len(takes[trial].joints) == frames, trial
    daz = takes["08_01"].joints
    assert len(daz) < 278
    steps = np.linalg.norm(np.diff(daz, axis=0), axis=-1).max(-1)
    assert steps.max() < 0.08  # no T-pose blend left (metres per 1/120 s)


@pytest.mark.parametrize("trial", ["90_02", "137_38", "08_01", "09_03", "105_02", "105_24"])
def test_each_conversion_maps_to_a_human_in_metres(takes, trial):
    j = takes[trial].joints
    bone = {H36M17.joint_names[c]: np.linalg.norm(j[:, c] - j[:, p], axis=-1) for p, c in H36M17.bones()}
    leg = bone["left_knee"].mean() + bone["left_ankle"].mean()
    assert 0.7 < leg < 0.9, leg  # thigh + shin, as the data README measures them
    for name in ("left_knee", "left_ankle", "right_knee", "right_ankle", "left_elbow", "left_wrist", "right_elbow",
                 "right_wrist"):
        assert bone[name].std() < 0.01, name  # limbs are rigid (the spine and neck of CMU's skeleton bend)
    np.testing.assert_allclose(bone["left_elbow"].mean(), bone["right_elbow"].mean(), rtol=0.06)
    # Spine and thorax where Bandai's sit along pelvis -> shoulder midpoint (0.68 and 1.09).
    shoulders = 0.5 * (j[:, H36M17.index("left_shoulder")] + j[:, H36M17.index("right_shoulder")])
    axis = shoulders - j[:, 0]
    torso = np.linalg.norm(axis, axis=-1)
    for name, expected in (("spine", 0.68), ("thorax", 1.09)):
        along = ((j[:, H36M17.index(name)] - j[:, 0]) * axis).sum(-1) / torso**2
        assert abs(np.median(along) - expected) < 0.15, (name, np.median(along))


@pytest.mark.parametrize("trial", ["90_02", "08_01", "105_02"])
def test_head_axes_follow_the_body(takes, trial):
    take = takes[trial]
    j = take.joints
    left = j[:, H36M17.index("left_shoulder")] - j[:, H36M17.index("right_shoulder")]
    left /= np.linalg.norm(left, axis=-1, keepdims=True)
    up = j[:, H36M17.index("thorax")] - j[:, 0]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    facing = np.cross(left, up)
    for column, direction in ((0, up), (1, facing), (2, left)):
        agreement = (take.head_axes[:, :, column] * direction).sum(-1)
        assert np.median(agreement) > 0.7, (column, np.median(agreement))


def test_split_holds_out_whole_subjects_at_30_fps(split):
    train, validation = split
    assert {c.subject for c in validation} == set(cmu.VALIDATION_SUBJECTS)
    assert not {c.subject for c in train} & set(cmu.VALIDATION_SUBJECTS)
    assert {c.action for c in validation} >= {"acrobatics", "martial_sports", "jumps_everyday"}
    # 120 fps decimated to 30: a validation clip has a quarter of its take's frames.
    takes = {t.name: t for t in cmu.load_takes()}
    clip = next(c for c in validation if c.name == "144_30")
    assert clip.num_frames == len(takes["144_30"].joints[::4])
    # Training uses all four phases of a take.
    assert {c.name for c in train if c.name.startswith("90_02")} == {"90_02", "90_02@1", "90_02@2", "90_02@3"}


def test_categories_come_from_the_descriptions():
    assert cmu.category("144_30") == "acrobatics"
    assert cmu.category("105_40", cmu.DESCRIPTIONS["105_40"]) == "jumps_everyday"
    assert cmu.category("105_16", cmu.DESCRIPTIONS["105_16"]) == "stylized_walk"
    assert cmu.category("105_29", cmu.DESCRIPTIONS["105_29"]) == "walk_run"

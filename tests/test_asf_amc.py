"""ASF/AMC reader: rest pose, per-dof rotations about the bones' axis frames, units, malformed input."""

from __future__ import annotations

import numpy as np
import pytest

from blender_vp3d.core.training.mocap.asf_amc import CMU_UNITS_TO_METRES, AsfAmcError, parse_asf_amc, read_asf_amc

SCALE = 0.45  # the ASF's ":units length"; clip translations are file values / SCALE

# name, parent, direction, length, axis angles (x, y, z), dofs -- a CMU-like lower body and spine.
BONES = [
    ("lhipjoint", "root", (0.6, -0.7, 0.3), 2.4, (0, 0, 0), ""),
    ("lfemur", "lhipjoint", (0.34202, -0.939693, 0.0), 7.2, (0, 0, 20), "rx ry rz"),
    ("ltibia", "lfemur", (0.34202, -0.939693, 0.0), 7.5, (0, 0, 20), "rx"),
    ("rhipjoint", "root", (-0.6, -0.7, 0.3), 2.4, (0, 0, 0), ""),
    ("rfemur", "rhipjoint", (-0.34202, -0.939693, 0.0), 7.2, (0, 0, -20), "rx ry rz"),
    ("rtibia", "rfemur", (-0.34202, -0.939693, 0.0), 7.5, (0, 0, -20), "rx"),
    ("lowerback", "root", (0.01, 0.99, -0.05), 2.0, (30, 0, 90), "rx ry rz"),
    ("upperback", "lowerback", (0.0, 1.0, 0.02), 2.1, (10, -15, 5), "rz rx"),
    ("thorax", "upperback", (0.0, 1.0, 0.0), 2.0, (0, 0, 0), "rx ry rz"),
    ("lclavicle", "thorax", (0.9, 0.4, 0.0), 3.3, (0, 0, -25), "ry rz"),
    ("lhumerus", "lclavicle", (1.0, 0.0, 0.0), 5.0, (0, 0, 180), "rx ry rz"),
]
DOFS = {name: dofs.split() for name, _, _, _, _, dofs in BONES}
PARENT = {name: parent for name, parent, *_ in BONES}
VECTOR = {name: np.array(direction) * length / SCALE for name, _, direction, length, _, _ in BONES}


def make_asf(*, root_position: str = "0 0 0", angle: str = "deg") -> str:
    lines = [
        "# test skeleton",
        ":version 1.10",
        ":name VICON",
        ":units",
        "  mass 1.0",
        f"  length {SCALE}",
        f"  angle {angle}",
        ":documentation",
        "  written by the test",
        ":root",
        "  order TX TY TZ RX RY RZ",
        "  axis XYZ",
        f"  position {root_position}",
        "  orientation 0 0 0",
        ":bonedata",
    ]
    for i, (name, _, direction, length, axis, dofs) in enumerate(BONES, start=1):
        if angle == "rad":
            axis = tuple(np.deg2rad(axis))
        lines += ["  begin", f"    id {i}", f"    name {name}", "    direction {} {} {}".format(*direction)]
        lines += [f"    length {length}", "    axis {} {} {} XYZ".format(*axis)]
        if dofs:
            count = len(dofs.split())
            lines += [f"    dof {dofs}", "    limits (-160.0 20.0)"] + ["           (-70.0 70.0)"] * (count - 1)
        lines.append("  end")
    lines += [
        ":hierarchy",
        "  begin",
        "    root lhipjoint rhipjoint lowerback",
        "    lhipjoint lfemur",
        "    lfemur ltibia",
        "    rhipjoint rfemur",
        "    rfemur rtibia",
        "    lowerback upperback",
        "    upperback thorax",
        "    thorax lclavicle",
        "    lclavicle lhumerus",
        "  end",
    ]
    return "\n".join(lines) + "\n"


def make_amc(frames: list[dict[str, list[float]]], first: int = 1) -> str:
    lines = ["# test motion", ":FULLY-SPECIFIED", ":DEGREES"]
    for number, frame in enumerate(frames, start=first):
        lines.append(str(number))
        for name, values in frame.items():
            lines.append(" ".join([name, *(f"{v:.10g}" for v in values)]))
    return "\n".join(lines) + "\n"


def zero_frame() -> dict[str, list[float]]:
    frame = {"root": [0.0] * 6}
    frame.update({name: [0.0] * len(dofs) for name, dofs in DOFS.items() if dofs})
    return frame


def positions_of(clip, frame: int = 0) -> dict[str, np.ndarray]:
    positions, _ = clip.forward_kinematics()
    return {name: positions[frame, j] for j, name in enumerate(clip.joint_names)}


def rest_positions(root=(0.0, 0.0, 0.0)) -> dict[str, np.ndarray]:
    result = {"root": np.array(root, dtype=float)}
    for name, parent, *_ in BONES:
        result[name] = result[parent] + VECTOR[name]
    return result


# --- an independent reference implementation of the ASF/AMC semantics, straight from the format ----


def axis_matrix(axis: str, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def fixed_axes(pairs) -> np.ndarray:
    """Rotate about global axes one after another: each later rotation multiplies on the left."""
    result = np.eye(3)
    for axis, degrees in pairs:
        result = axis_matrix(axis, degrees) @ result
    return result


def reference_positions(frame: dict[str, list[float]]) -> dict[str, np.ndarray]:
    root = frame.get("root", [0.0] * 6)
    world = {"root": fixed_axes(zip("xyz", root[3:]))}
    position = {"root": np.array(root[:3]) / SCALE}
    for name, parent, _, _, axis, dofs in BONES:
        c = fixed_axes(zip("xyz", axis))
        m = fixed_axes((d[1], v) for d, v in zip(dofs.split(), frame.get(name, [])))
        world[name] = world[parent] @ c @ m @ c.T
        position[name] = position[parent] + world[name] @ VECTOR[name]
    return position


def random_frames(rng: np.random.Generator, count: int) -> list[dict[str, list[float]]]:
    frames = []
    for _ in range(count):
        frame = {"root": list(rng.uniform(-20, 20, 3)) + list(rng.uniform(-180, 180, 3))}
        frame.update({n: list(rng.uniform(-120, 120, len(d))) for n, d in DOFS.items() if d})
        frames.append(frame)
    return frames


# --- tests ---------------------------------------------------------------------------------------------


def test_joint_tree_has_root_then_one_joint_per_bone_parents_first():
    clip = parse_asf_amc(make_asf(), make_amc([zero_frame()]))
    assert clip.joint_names[0] == "root"
    assert sorted(clip.joint_names[1:]) == sorted(PARENT)
    for j, name in enumerate(clip.joint_names[1:], start=1):
        p = clip.parents[j]
        assert 0 <= p < j
        assert clip.joint_names[p] == PARENT[name]
    assert clip.local_translations.shape == (1, len(BONES) + 1, 3)
    assert clip.local_rotations.shape == (1, len(BONES) + 1, 3, 3)


def test_zero_pose_is_the_rest_pose():
    clip = parse_asf_amc(make_asf(), make_amc([zero_frame(), {}]))
    expected = rest_positions()
    for frame in (0, 1):
        got = positions_of(clip, frame)
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], atol=1e-9, err_msg=name)
    _, rotations = clip.forward_kinematics()
    np.testing.assert_allclose(rotations, np.broadcast_to(np.eye(3), rotations.shape), atol=1e-12)


def rodrigues_90(vector: np.ndarray, unit_axis: np.ndarray) -> np.ndarray:
    """``vector`` turned by +90 degrees about ``unit_axis``: (k.v) k + k x v."""
    return unit_axis * (unit_axis @ vector) + np.cross(unit_axis, vector)


def test_femur_rx_turns_only_its_descendants_about_its_local_x_axis():
    frame = zero_frame()
    frame["lfemur"] = [90.0, 0.0, 0.0]
    got = positions_of(parse_asf_amc(make_asf(), make_amc([frame])))
    rest = rest_positions()
    # lfemur's axis is 0 0 20: its local x axis is the global x axis turned 20 degrees about z.
    k = np.array([np.cos(np.deg2rad(20)), np.sin(np.deg2rad(20)), 0.0])
    knee = rest["lhipjoint"] + rodrigues_90(VECTOR["lfemur"], k)
    ankle = knee + rodrigues_90(VECTOR["ltibia"], k)
    np.testing.assert_allclose(got["lfemur"], knee, atol=1e-9)
    np.testing.assert_allclose(got["ltibia"], ankle, atol=1e-9)
    assert np.linalg.norm(got["lfemur"] - rest["lfemur"]) > 1.0
    for name in rest:
        if name not in ("lfemur", "ltibia"):
            np.testing.assert_allclose(got[name], rest[name], atol=1e-9, err_msg=name)


def test_axis_order_is_fixed_axes_in_listed_order():
    # lowerback has axis 30 0 90 XYZ = Rz(90) @ Rx(30): its local x axis is the global y axis (under the
    # other composition, Rx(30) @ Rz(90), it would be (0, cos 30, sin 30)).
    frame = zero_frame()
    frame["lowerback"] = [90.0, 0.0, 0.0]
    got = positions_of(parse_asf_amc(make_asf(), make_amc([frame])))
    rest = rest_positions()
    k = np.array([0.0, 1.0, 0.0])
    expected = {"lowerback": rodrigues_90(VECTOR["lowerback"], k)}
    for name in ("upperback", "thorax", "lclavicle", "lhumerus"):
        expected[name] = expected[PARENT[name]] + rodrigues_90(VECTOR[name], k)
    for name, position in expected.items():
        np.testing.assert_allclose(got[name], position, atol=1e-9, err_msg=name)
    for name in ("lfemur", "ltibia", "rfemur", "rtibia"):
        np.testing.assert_allclose(got[name], rest[name], atol=1e-9, err_msg=name)


def test_random_poses_match_reference_and_keep_bone_lengths():
    rng = np.random.default_rng(7)
    frames = random_frames(rng, 12)
    clip = parse_asf_amc(make_asf(), make_amc(frames))
    positions, rotations = clip.forward_kinematics()
    index = {name: j for j, name in enumerate(clip.joint_names)}
    for t, frame in enumerate(frames):
        expected = reference_positions(frame)
        for name, position in expected.items():
            np.testing.assert_allclose(positions[t, index[name]], position, atol=1e-9, err_msg=f"{t} {name}")
    for name, parent, *_ in BONES:
        lengths = np.linalg.norm(positions[:, index[name]] - positions[:, index[parent]], axis=-1)
        np.testing.assert_allclose(lengths, np.linalg.norm(VECTOR[name]), rtol=1e-12, err_msg=name)
    identity = np.broadcast_to(np.eye(3), rotations.shape)
    np.testing.assert_allclose(rotations @ np.swapaxes(rotations, -1, -2), identity, atol=1e-12)
    # the poses really differ from frame to frame
    assert np.ptp(positions[:, index["ltibia"]], axis=0).max() > 5.0


def test_dof_subsets_map_values_in_listed_order():
    # upperback lists "rz rx": the first value turns about local z, the second about local x.
    frame = zero_frame()
    frame["upperback"] = [90.0, 0.0]
    got = positions_of(parse_asf_amc(make_asf(), make_amc([frame])))
    c = fixed_axes(zip("xyz", (10, -15, 5)))
    k = c @ np.array([0.0, 0.0, 1.0])
    upperback = rest_positions()["lowerback"] + rodrigues_90(VECTOR["upperback"], k)
    np.testing.assert_allclose(got["upperback"], upperback, atol=1e-9)
    np.testing.assert_allclose(got["thorax"], upperback + rodrigues_90(VECTOR["thorax"], k), atol=1e-9)


def test_root_line_translates_and_rotates_whole_skeleton():
    frame = zero_frame()
    frame["root"] = [4.5, 9.0, -2.25, 0.0, 90.0, 0.0]
    got = positions_of(parse_asf_amc(make_asf(root_position="0.45 0 0"), make_amc([frame])))
    root = np.array([4.5 + 0.45, 9.0, -2.25]) / SCALE
    np.testing.assert_allclose(got["root"], root, atol=1e-12)
    turn_y = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    for name, position in rest_positions().items():
        np.testing.assert_allclose(got[name], root + turn_y @ position, atol=1e-9, err_msg=name)


def test_length_dof_stretches_a_bone():
    asf = make_asf().replace("    dof rx\n", "    dof rx l\n", 1)  # the first "dof rx" line is ltibia's
    assert "dof rx l" in asf
    frame = zero_frame()
    frame["ltibia"] = [0.0, 0.9]
    got = positions_of(parse_asf_amc(asf, make_amc([frame])))
    direction = np.array([0.34202, -0.939693, 0.0])
    np.testing.assert_allclose(got["ltibia"], rest_positions()["ltibia"] + direction * 0.9 / SCALE, atol=1e-9)


def test_read_files_units_fps_and_radians(tmp_path):
    rng = np.random.default_rng(3)
    frames = random_frames(rng, 3)
    (tmp_path / "s.asf").write_text(make_asf())
    (tmp_path / "m.amc").write_text(make_amc(frames, first=0))
    clip = read_asf_amc(tmp_path / "s.asf", str(tmp_path / "m.amc"), fps=60.0)
    assert clip.fps == 60.0 and clip.num_frames == 3
    # the same motion with ':units angle rad' and radian AMC values gives the same positions
    radian_frames = [
        {name: (v[:3] + list(np.deg2rad(v[3:])) if name == "root" else list(np.deg2rad(v))) for name, v in f.items()}
        for f in frames
    ]
    radian_amc = make_amc(radian_frames).replace(":DEGREES\n", "")
    radians = parse_asf_amc(make_asf(angle="rad"), radian_amc)
    np.testing.assert_allclose(radians.forward_kinematics()[0], clip.forward_kinematics()[0], atol=1e-9)
    # CMU-style: file values / 0.45 are inches
    assert CMU_UNITS_TO_METRES == pytest.approx(0.0254)


def without_section(name: str) -> str:
    head, _, tail = make_asf().partition(f"\n:{name}\n")
    _, _, rest = tail.partition("\n:")
    return head + ("\n:" + rest if rest else "\n")


def bad_amc_value() -> str:
    return make_amc([zero_frame()]).replace("ltibia 0", "ltibia zero")


@pytest.mark.parametrize(
    "asf, amc, message",
    [
        (lambda: without_section("hierarchy"), lambda: make_amc([zero_frame()]), "no :hierarchy"),
        (lambda: without_section("root"), lambda: make_amc([zero_frame()]), "no :root"),
        (make_asf, lambda: make_amc([{"lfoot": [1.0, 2.0]}]), "unknown bone 'lfoot'"),
        (make_asf, lambda: make_amc([{"lfemur": [1.0, 2.0]}]), "'lfemur' has 2 value(s), its dofs need 3"),
        (make_asf, lambda: make_amc([{"root": [0.0] * 5}]), "'root' has 5 value(s)"),
        (make_asf, bad_amc_value, "not a number"),
        (make_asf, lambda: "1\nroot 0 0 0 0 0 0\n2\n4\n", "not consecutive (2 is followed by 4)"),
        (make_asf, lambda: ":DEGREES\n", "no frames"),
        (make_asf, lambda: "lfemur 0 0 0\n1\n", "before the first frame number"),
        (lambda: make_asf().replace("length 7.5", "length seven", 1), lambda: "1\n", "'ltibia' length is not a number"),
        (
            lambda: make_asf().replace("lfemur ltibia", "lfemur ltibia lfoot"),
            lambda: "1\n",
            "'lfoot', which :bonedata does not define",
        ),
        (
            lambda: make_asf().replace("    rfemur rtibia\n", ""),
            lambda: "1\n",
            "not connected to the root in :hierarchy: rtibia",
        ),
        (lambda: make_asf().replace("dof rx ry rz", "dof rx ry rq", 1), lambda: "1\n", "unknown dof(s) ['rq']"),
        (lambda: make_asf().replace("0 0 20 XYZ", "0 0 20 XYX", 1), lambda: "1\n", "permutation of XYZ"),
    ],
)
def test_malformed_input_raises_with_a_message(asf, amc, message):
    with pytest.raises(AsfAmcError) as error:
        parse_asf_amc(asf(), amc(), source="clip01")
    assert message in str(error.value)
    assert "clip01" in str(error.value)


def test_read_errors_name_the_file(tmp_path):
    (tmp_path / "s.asf").write_text(make_asf())
    (tmp_path / "m.amc").write_text("1\nlfemur 1 2\n")
    with pytest.raises(AsfAmcError, match="m.amc"):
        read_asf_amc(tmp_path / "s.asf", tmp_path / "m.amc")
    with pytest.raises(AsfAmcError, match="missing.asf"):
        read_asf_amc(tmp_path / "missing.asf", tmp_path / "m.amc")
    (tmp_path / "bad.asf").write_text(without_section("hierarchy"))
    with pytest.raises(AsfAmcError, match=r"bad\.asf: ASF has no :hierarchy"):
        read_asf_amc(tmp_path / "bad.asf", tmp_path / "m.amc")
    with pytest.raises(AsfAmcError, match="fps"):
        read_asf_amc(tmp_path / "s.asf", tmp_path / "m.amc", fps=0.0)

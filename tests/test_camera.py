"""Camera model: distortion against OpenCV, round trips, default lens, and the torch mirror."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blender_vp3d.core.lift.camera import (
    DEFAULT_FOCAL_35MM,
    Intrinsics,
    distort,
    normalized_to_pixels,
    pixels_to_normalized,
    project,
    undistort,
)

# A strongly distorted wide-angle lens (action-camera-like barrel distortion) plus decentring.
STRONG = dict(radial=(-0.3, 0.1, -0.01), tangential=(0.0015, -0.001))


def strong_camera(width: int = 1920, height: int = 1080) -> Intrinsics:
    base = Intrinsics.from_fov(width, height, 90.0)
    return Intrinsics(width, height, base.fx, base.fy * 1.002, base.cx + 7.0, base.cy - 4.0, **STRONG)


def pixel_grid(intr: Intrinsics, steps: int = 25) -> np.ndarray:
    u, v = np.meshgrid(np.linspace(0, intr.width, steps), np.linspace(0, intr.height, steps), indexing="xy")
    return np.stack([u, v], axis=-1)


def test_default_focal_gives_about_69_degrees_across_the_long_side():
    for width, height in ((1920, 1080), (1080, 1920), (640, 480)):
        intr = Intrinsics.default(width, height)
        assert intr.fx == pytest.approx(max(width, height) * DEFAULT_FOCAL_35MM / 36.0)
        assert (intr.cx, intr.cy) == (width / 2, height / 2)
        assert not intr.has_distortion()
        fov = math.degrees(2 * math.atan(max(width, height) / 2 / intr.fx))
        assert fov == pytest.approx(69.4, abs=0.1)
        assert intr.fov_deg == pytest.approx(fov)


def test_from_focal_mm_on_a_known_camera():
    # Canon APS-C (22.3 mm wide sensor), 18 mm lens, 6000x4000 photo: 6000 * 18 / 22.3 pixels.
    intr = Intrinsics.from_focal_mm(6000, 4000, 18.0, 22.3)
    assert intr.fx == pytest.approx(4843.05, abs=0.01)
    assert intr.fy == intr.fx
    assert intr.fov_deg == pytest.approx(63.55, abs=0.01)
    # Portrait: the sensor width still spans the long side.
    assert Intrinsics.from_focal_mm(4000, 6000, 18.0, 22.3).fy == pytest.approx(intr.fx)
    # A 26 mm full-frame equivalent is the default camera.
    assert Intrinsics.from_focal_mm(1920, 1080, 26.0, 36.0) == Intrinsics.default(1920, 1080)


def test_from_fov_inverts_fov():
    intr = Intrinsics.from_fov(1280, 720, 60.0)
    assert intr.fov_deg == pytest.approx(60.0)
    assert intr.fx == pytest.approx(640 / math.tan(math.radians(30)))


@pytest.mark.parametrize(
    "call",
    [
        lambda: Intrinsics.default(0, 1080),
        lambda: Intrinsics.default(1920, -5),
        lambda: Intrinsics.default(1920.5, 1080),
        lambda: Intrinsics.default(1920, 1080, focal_px=0.0),
        lambda: Intrinsics.from_focal_mm(1920, 1080, -26.0, 36.0),
        lambda: Intrinsics.from_focal_mm(1920, 1080, 26.0, 0.0),
        lambda: Intrinsics.from_fov(1920, 1080, 180.0),
        lambda: Intrinsics(1920, 1080, 1000.0, 1000.0, 960.0, 540.0, radial=(0.1, 0.0)),
        lambda: Intrinsics(1920, 1080, 1000.0, float("nan"), 960.0, 540.0),
    ],
)
def test_invalid_intrinsics_are_rejected(call):
    with pytest.raises(ValueError):
        call()


def test_shape_validation():
    intr = Intrinsics.default(640, 480)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        project(np.zeros((4, 2)), intr)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        pixels_to_normalized(np.zeros((4, 3)), intr)
    with pytest.raises(ValueError, match="iterations"):
        undistort(np.zeros((4, 2)), intr, iterations=0)


def test_distort_agrees_with_opencv_project_points():
    cv2 = pytest.importorskip("cv2")
    intr = strong_camera()
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.uniform(-2.0, 2.0, (200, 2)), rng.uniform(2.0, 8.0, (200, 1))], axis=1)
    k1, k2, k3 = intr.radial
    p1, p2 = intr.tangential
    coeffs = np.array([k1, k2, p1, p2, k3])
    matrix = np.array([[intr.fx, 0, intr.cx], [0, intr.fy, intr.cy], [0, 0, 1]])
    zero = np.zeros(3)
    expected_px, _ = cv2.projectPoints(points, zero, zero, matrix, coeffs)
    np.testing.assert_allclose(project(points, intr), expected_px[:, 0], rtol=0, atol=1e-6)
    # With an identity camera matrix OpenCV returns the distorted normalised coordinates themselves.
    expected_xy, _ = cv2.projectPoints(points, zero, zero, np.eye(3), coeffs)
    xy = points[:, :2] / points[:, 2:]
    np.testing.assert_allclose(distort(xy, intr), expected_xy[:, 0], rtol=0, atol=1e-12)


def test_undistort_matches_opencv_where_opencv_converges():
    cv2 = pytest.importorskip("cv2")
    intr = strong_camera()
    pixels = pixel_grid(intr, 9).reshape(-1, 1, 2)
    k1, k2, k3 = intr.radial
    p1, p2 = intr.tangential
    matrix = np.array([[intr.fx, 0, intr.cx], [0, intr.fy, intr.cy], [0, 0, 1]])
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 1000, 1e-15)
    expected = cv2.undistortPointsIter(pixels, matrix, np.array([k1, k2, p1, p2, k3]), None, None, criteria)
    np.testing.assert_allclose(pixels_to_normalized(pixels[:, 0], intr), expected[:, 0], rtol=0, atol=1e-9)


def test_round_trip_with_strong_distortion_over_the_whole_image():
    intr = strong_camera()
    pixels = pixel_grid(intr)
    xy = pixels_to_normalized(pixels, intr)
    np.testing.assert_allclose(normalized_to_pixels(xy, intr), pixels, rtol=0, atol=1e-6)
    # The corners really are strongly distorted: tens of pixels away from the pinhole image.
    pinhole = xy * [intr.fx, intr.fy] + [intr.cx, intr.cy]
    assert np.abs(pinhole - pixels).max() > 50.0
    # And back through 3D: points at any depth along those rays project onto the same pixels.
    depth = np.linspace(1.0, 10.0, xy[..., 0].size).reshape(xy.shape[:-1])[..., None]
    points = np.concatenate([xy * depth, depth], axis=-1)
    np.testing.assert_allclose(project(points, intr), pixels, rtol=0, atol=1e-6)


def test_points_beyond_the_fold_of_the_lens_model_have_no_inverse():
    # This barrel model folds over at r ≈ 1.86 where it reaches r' ≈ 1.138, short of a 90-degree image's
    # corners (r' ≈ 1.147): no undistorted ray lands there, so the corners come back as NaN, the rest exact.
    base = Intrinsics.from_fov(1920, 1080, 90.0)
    intr = Intrinsics(1920, 1080, base.fx, base.fy, base.cx, base.cy, radial=(-0.28, 0.09, -0.012))
    xy = pixels_to_normalized(np.array([[0.0, 0.0], [1920.0, 1080.0], [960.0, 540.0], [100.0, 540.0]]), intr)
    assert np.isnan(xy[:2]).all()
    assert np.isfinite(xy[2:]).all()
    np.testing.assert_allclose(normalized_to_pixels(xy[2:], intr), [[960.0, 540.0], [100.0, 540.0]], atol=1e-6)


def test_undistort_inverts_distort_for_normalized_coordinates():
    intr = strong_camera()
    rng = np.random.default_rng(1)
    xy = rng.uniform(-0.9, 0.9, (500, 2)) * [1.0, 0.6]
    np.testing.assert_allclose(undistort(distort(xy, intr), intr), xy, rtol=0, atol=1e-10)


def test_without_distortion_pixels_are_a_pinhole_image():
    intr = Intrinsics.default(1280, 720, focal_px=1000.0)
    points = np.array([[0.0, 0.0, 2.0], [1.0, -0.5, 4.0]])
    np.testing.assert_allclose(project(points, intr), [[640.0, 360.0], [890.0, 235.0]])
    np.testing.assert_allclose(pixels_to_normalized([[890.0, 235.0]], intr), [[0.25, -0.125]])


def test_nan_passes_through_and_points_behind_the_camera_have_no_image():
    intr = strong_camera()
    points = np.array([[0.1, 0.2, 3.0], [np.nan, 0.0, 2.0], [0.1, 0.1, -1.0], [0.1, 0.1, 0.0]])
    pixels = project(points, intr)
    assert np.isfinite(pixels[0]).all()
    assert np.isnan(pixels[1:]).all()
    back = pixels_to_normalized(np.array([[100.0, 200.0], [np.nan, 5.0]]), intr)
    assert np.isfinite(back[0]).all()
    assert np.isnan(back[1, 0])


def test_torch_projection_agrees_with_numpy():
    torch = pytest.importorskip("torch")
    from blender_vp3d.core.training.camera_torch import project_to_normalized, project_to_pixels

    intr = strong_camera()
    rng = np.random.default_rng(2)
    points = np.concatenate([rng.uniform(-1.5, 1.5, (3, 17, 2)), rng.uniform(2.0, 6.0, (3, 17, 1))], axis=-1)
    expected = project(points, intr)
    radial = torch.tensor(intr.radial, dtype=torch.float64)
    tangential = torch.tensor(intr.tangential, dtype=torch.float64)
    got = project_to_pixels(
        torch.from_numpy(points),
        torch.tensor([intr.fx, intr.fy], dtype=torch.float64),
        torch.tensor([intr.cx, intr.cy], dtype=torch.float64),
        radial,
        tangential,
    ).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # Normalised output, per-batch coefficients broadcast over the joints.
    normalized = project_to_normalized(
        torch.from_numpy(points), radial.expand(3, 1, 3), tangential.expand(3, 1, 2)
    ).numpy()
    np.testing.assert_allclose(normalized, distort(points[..., :2] / points[..., 2:], intr), rtol=1e-5)
    # No coefficients: plain pinhole.
    pinhole = project_to_normalized(torch.from_numpy(points)).numpy()
    np.testing.assert_allclose(pinhole, points[..., :2] / points[..., 2:], rtol=1e-12)


def test_torch_projection_gradients():
    torch = pytest.importorskip("torch")
    from blender_vp3d.core.training.camera_torch import project_to_normalized, project_to_pixels

    generator = torch.Generator().manual_seed(3)
    points = torch.rand(2, 4, 3, generator=generator, dtype=torch.float64) - 0.5
    points[..., 2] += 3.0
    points.requires_grad_(True)
    radial = torch.tensor([-0.2, 0.05, -0.01], dtype=torch.float64, requires_grad=True)
    tangential = torch.tensor([0.001, -0.002], dtype=torch.float64, requires_grad=True)
    focal = torch.tensor([1000.0, 1000.0], dtype=torch.float64, requires_grad=True)
    center = torch.tensor([640.0, 360.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(project_to_normalized, (points, radial, tangential))
    assert torch.autograd.gradcheck(project_to_pixels, (points, focal, center, radial, tangential))

    # Behind the camera the depth is clamped: values and gradients stay finite.
    behind = torch.tensor([[0.3, -0.2, -1.0], [0.1, 0.1, 0.0]], dtype=torch.float64, requires_grad=True)
    out = project_to_normalized(behind, radial, tangential)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert torch.isfinite(behind.grad).all()


def test_torch_shape_validation():
    torch = pytest.importorskip("torch")
    from blender_vp3d.core.training.camera_torch import project_to_normalized

    with pytest.raises(ValueError, match="radial"):
        project_to_normalized(torch.ones(4, 3), radial=torch.zeros(2))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        project_to_normalized(torch.ones(4, 2))

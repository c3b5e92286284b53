"""Pictures of a capture for a person to check: the video with its 2D skeleton beside the 3D result.

The 3D view is drawn with OpenCV (no matplotlib: fast, and available wherever the pipeline runs): an
orthographic camera looking at the subject from the front and a little to the side, Z up, a floor grid at
z = 0, the same framing for the whole clip so motion through space is visible. Right side of the body in red,
left in blue, as on the 2D side.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from ..skeleton import COCO17, H36M17, Layout

logger = logging.getLogger(__name__)

RIGHT_BGR = (60, 60, 230)
LEFT_BGR = (230, 120, 40)
CENTRE_BGR = (90, 200, 90)
PANEL_HEIGHT = 540


def draw_skeleton_2d(frame_bgr: np.ndarray, keypoints: np.ndarray, layout: Layout = COCO17,
                     min_confidence: float = 0.05) -> np.ndarray:
    """Draw (J, 3) pixel keypoints with confidence onto a copy of the frame; low confidence is drawn thin."""
    out = frame_bgr.copy()
    scale = max(1, round(max(out.shape[:2]) / 640))
    for child, parent in enumerate(layout.parents):
        if parent < 0:
            continue
        a, b = keypoints[parent], keypoints[child]
        if min(a[2], b[2]) < min_confidence or not np.isfinite(a[:2]).all() or not np.isfinite(b[:2]).all():
            continue
        thickness = scale * (3 if min(a[2], b[2]) > 0.5 else 1)
        cv2.line(out, _pt(a), _pt(b), _colour(layout, child), thickness, cv2.LINE_AA)
    for j, p in enumerate(keypoints):
        if p[2] >= min_confidence and np.isfinite(p[:2]).all():
            cv2.circle(out, _pt(p), 2 * scale + 1, _colour(layout, j), -1, cv2.LINE_AA)
    return out


class SkeletonView:
    """Orthographic view of world joints (Z up) with fixed framing over a whole clip."""

    def __init__(self, joints_world: np.ndarray, size: int = PANEL_HEIGHT, azimuth_deg: float = -30.0,
                 elevation_deg: float = 15.0):
        finite = joints_world[np.isfinite(joints_world).all(-1)]
        if finite.size == 0:
            raise ValueError("no finite joints to draw")
        self.size = size
        az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
        # View looking along +Y rotated by the azimuth, tilted down by the elevation.
        right = np.array([math.cos(az), math.sin(az), 0.0])
        forward = np.array([-math.sin(az), math.cos(az), 0.0])
        up = np.array([0.0, 0.0, 1.0])
        self.axes = np.stack([right, math.cos(el) * up - math.sin(el) * forward])  # screen x, screen y (up)
        low, high = finite.min(0), finite.max(0)
        low[2] = min(low[2], 0.0)
        corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
        screen = corners @ self.axes.T
        self.centre = 0.5 * (screen.min(0) + screen.max(0))
        self.scale = 0.85 * size / max(float(np.ptp(screen, axis=0).max()), 1.0)
        self.floor_extent = (low[:2] - 0.5, high[:2] + 0.5)

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        screen = (points @ self.axes.T - self.centre) * self.scale
        return np.stack([self.size / 2 + screen[..., 0], self.size / 2 - screen[..., 1]], -1)

    def render(self, joints: np.ndarray, label: str = "") -> np.ndarray:
        image = np.full((self.size, self.size, 3), 245, np.uint8)
        (x0, y0), (x1, y1) = self.floor_extent
        for x in np.arange(math.floor(x0 * 2) / 2, x1 + 1e-6, 0.5):
            a, b = self.to_pixels(np.array([[x, y0, 0.0], [x, y1, 0.0]]))
            cv2.line(image, _pt(a), _pt(b), (205, 205, 205), 1, cv2.LINE_AA)
        for y in np.arange(math.floor(y0 * 2) / 2, y1 + 1e-6, 0.5):
            a, b = self.to_pixels(np.array([[x0, y, 0.0], [x1, y, 0.0]]))
            cv2.line(image, _pt(a), _pt(b), (205, 205, 205), 1, cv2.LINE_AA)
        if np.isfinite(joints).all():
            pixels = self.to_pixels(joints)
            shadow = self.to_pixels(joints * np.array([1.0, 1.0, 0.0]))
            for child, parent in enumerate(H36M17.parents):
                if parent >= 0:
                    cv2.line(image, _pt(shadow[parent]), _pt(shadow[child]), (215, 215, 215), 2, cv2.LINE_AA)
            for child, parent in enumerate(H36M17.parents):
                if parent >= 0:
                    cv2.line(image, _pt(pixels[parent]), _pt(pixels[child]), _colour(H36M17, child), 3, cv2.LINE_AA)
        if label:
            cv2.putText(image, label, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (60, 60, 60), 1, cv2.LINE_AA)
        return image


def side_by_side(frame_rgb: np.ndarray, keypoints: np.ndarray, view: SkeletonView, joints: np.ndarray,
                 label: str = "") -> np.ndarray:
    """One preview frame (BGR): the video frame with its 2D skeleton, then the 3D view, same height."""
    frame = draw_skeleton_2d(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), keypoints)
    height = view.size
    width = max(1, round(frame.shape[1] * height / frame.shape[0]))
    frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return np.concatenate([frame, view.render(joints, label)], axis=1)


def write_preview_video(frames_rgb: Iterable[np.ndarray], keypoints: np.ndarray, joints_world: np.ndarray,
                        out: Path, fps: float) -> Path:
    """Write the side-by-side preview as MP4 (temp file, then rename)."""
    out = Path(out)
    view = SkeletonView(joints_world)
    tmp = out.with_name(out.stem + ".partial" + out.suffix)
    writer = None
    try:
        for t, frame in enumerate(frames_rgb):
            if t >= len(joints_world):
                break
            image = side_by_side(frame, keypoints[t], view, joints_world[t], f"frame {t}")
            if writer is None:
                writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                         (image.shape[1], image.shape[0]))
                if not writer.isOpened():
                    raise OSError(f"cannot write video {out}")
            writer.write(image)
    except BaseException:
        if writer is not None:
            writer.release()
        tmp.unlink(missing_ok=True)
        raise
    if writer is None:
        raise ValueError("no frames to write in the preview")
    writer.release()
    tmp.replace(out)
    return out


def write_contact_sheet(frames: dict[int, np.ndarray], keypoints: np.ndarray, joints_world: np.ndarray,
                        out: Path, columns: int = 3) -> Path:
    """A PNG grid of side-by-side previews for the given {frame index: RGB frame}."""
    out = Path(out)
    view = SkeletonView(joints_world, size=360)
    tiles = [side_by_side(frame, keypoints[t], view, joints_world[t], f"frame {t}") for t, frame in sorted(frames.items())]
    if not tiles:
        raise ValueError("no frames for the contact sheet")
    width = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0)), constant_values=255) for t in tiles]
    while len(tiles) % columns:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    sheet = np.concatenate(rows, axis=0)
    tmp = out.with_name(out.stem + ".partial" + out.suffix)
    if not cv2.imwrite(str(tmp), sheet):
        raise OSError(f"cannot write image {out}")
    tmp.replace(out)
    return out


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _colour(layout: Layout, joint: int) -> tuple[int, int, int]:
    if joint in layout.joints_right:
        return RIGHT_BGR
    if joint in layout.joints_left:
        return LEFT_BGR
    return CENTRE_BGR

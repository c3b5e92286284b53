"""The Bandai-Namco-Research-Motiondataset archives as H36M-17 arrays, cached, with a fixed split.

Clips are read in place from the published ``.tar.xz`` archives. The derived arrays (H36M-17 joints and
head axes in metres, Y up, 30 fps) are cached under ``.cache/bandai/`` keyed by the archive's size and
modification time.

Split: validation holds out whole *styles* (each style is a different performance manner, often a
different actor), which measures generalisation better than holding out takes of the same motion. Styles
are ordered by the SHA-1 of their name and taken in that order until at least 10% of each dataset's frames
are held out: a rule fixed before any model was trained, not tuned on results.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tarfile
from pathlib import Path

import numpy as np

from .bvh import parse_bvh
from .clip import Clip, load_clip_arrays, save_clip_arrays
from .h36m_mapping import BANDAI, map_to_h36m

logger = logging.getLogger(__name__)

ARCHIVES = {
    1: "Bandai-Namco-Research-Motiondataset-1.tar.xz",
    2: "Bandai-Namco-Research-Motiondataset-2.tar.xz",
}
VALIDATION_FRACTION = 0.10
CACHE_VERSION = 1
_NAME = re.compile(r"dataset-(\d)_(.+)_([^_]+)_(\d+)\.bvh$")
_CHECKOUT = Path(__file__).resolve().parents[4]  # the repository: this is blender_vp3d/core/training/mocap/bandai.py


def default_data_dir() -> Path:
    """``$VP3D_BANDAI_DIR``, else ``shared/data/bandai`` beside the repository checkout."""
    env = os.environ.get("VP3D_BANDAI_DIR")
    if env:
        return Path(env)
    return _CHECKOUT.parent / "shared" / "data" / "bandai"


def default_cache_dir() -> Path:
    return Path(os.environ.get("VP3D_CACHE_DIR", _CHECKOUT / ".cache"))


def load_dataset(dataset: int, data_dir: Path | None = None, cache_dir: Path | None = None) -> list[Clip]:
    archive = (data_dir or default_data_dir()) / ARCHIVES[dataset]
    if not archive.exists():
        raise FileNotFoundError(f"Bandai archive not found: {archive} (set VP3D_BANDAI_DIR)")
    stat = archive.stat()
    key = f"v{CACHE_VERSION}-{stat.st_size}-{int(stat.st_mtime)}"
    cache = (cache_dir or default_cache_dir()) / "bandai" / f"dataset-{dataset}-{key}.npz"
    if not cache.exists():
        _build_cache(archive, dataset, cache)
    return [Clip(info["name"], f"bandai-{dataset}", info["action"], info["style"], joints, head_axes)
            for info, joints, head_axes in load_clip_arrays(cache)]


def _build_cache(archive: Path, dataset: int, cache: Path) -> None:
    logger.info("reading %s (first use; cached afterwards)", archive.name)
    meta, joints, head_axes = [], [], []
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            match = _NAME.search(member.name)
            if not member.isfile() or not match:
                continue
            text = tar.extractfile(member).read().decode("utf-8", errors="replace")
            clip = parse_bvh(text, source=member.name)
            if abs(clip.fps - 30.0) > 0.1:
                raise ValueError(f"{member.name}: expected 30 fps, got {clip.fps:.2f}")
            mapped = map_to_h36m(clip, BANDAI)
            meta.append({"name": Path(member.name).stem, "action": match.group(2), "style": match.group(3)})
            joints.append(mapped.joints.astype(np.float32))
            head_axes.append(mapped.head_axes.astype(np.float32))
    order = np.argsort([m["name"] for m in meta])
    meta = [meta[i] for i in order]
    joints = [joints[i] for i in order]
    head_axes = [head_axes[i] for i in order]
    save_clip_arrays(cache, meta, joints, head_axes)


def validation_styles(clips: list[Clip]) -> set[str]:
    """Styles held out for validation (see the module docstring for the rule)."""
    frames_by_style: dict[str, int] = {}
    for clip in clips:
        frames_by_style[clip.style] = frames_by_style.get(clip.style, 0) + clip.num_frames
    total = sum(frames_by_style.values())
    held, held_frames = set(), 0
    for style in sorted(frames_by_style, key=lambda s: hashlib.sha1(s.encode()).hexdigest()):
        if held_frames >= VALIDATION_FRACTION * total:
            break
        held.add(style)
        held_frames += frames_by_style[style]
    return held


def split(clips: list[Clip]) -> tuple[list[Clip], list[Clip]]:
    """(training, validation) for one dataset's clips."""
    held = validation_styles(clips)
    return [c for c in clips if c.style not in held], [c for c in clips if c.style in held]


def load_split(data_dir: Path | None = None, cache_dir: Path | None = None) -> tuple[list[Clip], list[Clip]]:
    """Training and validation clips of both datasets."""
    train, val = [], []
    for dataset in ARCHIVES:
        t, v = split(load_dataset(dataset, data_dir, cache_dir))
        train += t
        val += v
    return train, val

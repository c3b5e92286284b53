"""The two in-memory forms of mocap: a reader's joint tree (:class:`MocapClip`), and a training clip in the
H36M-17 layout (:class:`Clip`) that every dataset loader produces."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...atomic import write_atomically


@dataclass
class MocapClip:
    """A skeleton animation in the source file's own units and axes.

    Attributes:
        joint_names: one name per joint; end sites are joints named ``<parent>_end``.
        parents: parent index per joint, -1 for the root; parents come before children.
        local_translations: (T, J, 3) translation of each joint in its parent's frame (offset, or the
            file's position channels where it has them).
        local_rotations: (T, J, 3, 3) rotation of each joint relative to its parent.
        fps: frames per second.
    """

    joint_names: list[str]
    parents: np.ndarray
    local_translations: np.ndarray
    local_rotations: np.ndarray
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.local_rotations.shape[0])

    def index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(f"joint {name!r} not in skeleton ({', '.join(self.joint_names)})") from None

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """World positions (T, J, 3) and world rotations (T, J, 3, 3) of every joint."""
        frames, joints = self.local_rotations.shape[:2]
        positions = np.zeros((frames, joints, 3))
        rotations = np.zeros((frames, joints, 3, 3))
        for j, p in enumerate(self.parents):
            if p < 0:
                rotations[:, j] = self.local_rotations[:, j]
                positions[:, j] = self.local_translations[:, j]
            else:
                rotations[:, j] = rotations[:, p] @ self.local_rotations[:, j]
                positions[:, j] = positions[:, p] + np.einsum("tab,tb->ta", rotations[:, p], self.local_translations[:, j])
        return positions, rotations


@dataclass
class Clip:
    """One mocap take mapped to H36M-17: metres, Y up, at the training frame rate.

    ``dataset`` names the source (``bandai-1``, ``cmu``, ...), ``action`` its content category (what
    evaluation reports per), ``style`` the performance manner or trial description, ``subject`` the
    performer where the source says.
    """

    name: str
    dataset: str
    action: str
    style: str
    joints: np.ndarray      # (T, 17, 3)
    head_axes: np.ndarray   # (T, 3, 3) columns: head up, forward, left
    subject: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


def save_clip_arrays(path: Path, meta: list[dict], joints: list[np.ndarray], head_axes: list[np.ndarray]) -> None:
    """A dataset loader's cache: per-clip metadata and the clips' joints and head axes, concatenated."""
    starts = np.concatenate([[0], np.cumsum([len(j) for j in joints])])
    buffer = io.BytesIO()
    np.savez(buffer, joints=np.concatenate(joints), head_axes=np.concatenate(head_axes), starts=starts,
             meta=np.array(json.dumps(meta)))
    write_atomically(path, lambda f: f.write(buffer.getvalue()))


def load_clip_arrays(path: Path) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """(metadata, joints, head axes) per clip, from :func:`save_clip_arrays`'s file (no pickle)."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        joints, head_axes, starts = data["joints"], data["head_axes"], data["starts"]
    return [(m, joints[starts[i]:starts[i + 1]], head_axes[starts[i]:starts[i + 1]]) for i, m in enumerate(meta)]

"""The CMU mocap archives (``shared/data/cmu``) as H36M-17 training clips, cached, with a subject split.

Three conversions of the CMU Graphics Lab database are read in place from their ``.tar.xz`` archives: the
Motionbuilder-friendly BVH (each performer's own proportions, CMU length units), the Daz-friendly BVH (all
retargeted onto one Daz skeleton, centimetres) and CMU's own ASF/AMC of subject 105. Each skeleton is mapped
to H36M-17 by its :mod:`.h36m_mapping` entry; every file is 120 fps.

* The T-pose frame the BVH conversion put first (followed by a jump to the first captured frame, and in the
  Daz conversion a few blending frames) is dropped (see :func:`leading_added_frames`).
* Trials present in two conversions (105_05, 105_08, 105_24) are read once, from the ASF/AMC.
* The cache (``.cache/cmu/``, keyed by the archives' sizes and times) holds 120 fps arrays; loading
  decimates to 30 fps. Training clips use every one of the four 30 fps phases of a take (four different
  samplings of the same motion); validation clips only the first.

Split: whole *subjects* are held out, fixed before any model was trained: subject 144 (cartwheels, figure
eights, front kicks, a yoga sun salutation: floor work and acrobatics) and subject 13 (everyday motion:
jumping up to grab, reaching, tiptoeing, forward jumps). Neither appears in training.

CMU's terms allow the data inside commercial products (not reselling it); its requested acknowledgement:
"The data used in this project was obtained from mocap.cs.cmu.edu. The database was created with funding
from NSF EIA-0196217."
"""

from __future__ import annotations

import logging
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .asf_amc import parse_asf_amc
from .bandai import default_cache_dir, default_data_dir as bandai_data_dir
from .bvh import parse_bvh
from .clip import Clip, MocapClip, load_clip_arrays, save_clip_arrays
from .h36m_mapping import CMU_ASF, CMU_DAZ, CMU_MOTIONBUILDER, SkeletonMapping, map_to_h36m

logger = logging.getLogger(__name__)

ARCHIVES = {
    "cmu_cgspeed_mb.tar.xz": CMU_MOTIONBUILDER,
    "cmu_cgspeed_daz.tar.xz": CMU_DAZ,
    "cmu_asfamc_105.tar.xz": CMU_ASF,
}
SOURCE_FPS = 120.0
TARGET_FPS = 30.0
VALIDATION_SUBJECTS = frozenset({"144", "13"})
DUPLICATED_IN_ASF = frozenset({"105_05", "105_08", "105_24"})
CACHE_VERSION = 2

#: Content category of each trial (from the CMU index descriptions), for per-category reports.
CATEGORIES = {
    "90_02": "acrobatics", "90_28": "acrobatics", "144_01": "acrobatics", "144_30": "acrobatics",
    "90_05": "martial_sports", "144_05": "martial_sports", "144_06": "martial_sports",
    "124_01": "martial_sports", "124_07": "martial_sports",
    "94_05": "dance",
    "137_23": "stylized_standing", "137_37": "stylized_standing",
    "104_41": "stylized_walk", "104_43": "stylized_walk", "120_22": "stylized_walk", "137_38": "stylized_walk",
    "144_03": "walk_run",
}
_SUBJECT_CATEGORY = {"08": "walk_run", "09": "walk_run", "10": "walk_run", "12": "walk_run",
                     "13": "jumps_everyday", "14": "jumps_everyday"}
_TRIAL = re.compile(r"(\d+)_(\d+)\.(bvh|amc)$")


def default_data_dir() -> Path:
    """``$VP3D_CMU_DIR``, else ``cmu`` beside the Bandai data folder."""
    env = os.environ.get("VP3D_CMU_DIR")
    return Path(env) if env else bandai_data_dir().parent / "cmu"


def category(trial: str, description: str = "") -> str:
    """The content category of a trial such as ``144_30``; subject 105's by its description."""
    if trial in CATEGORIES:
        return CATEGORIES[trial]
    subject = trial.split("_")[0]
    if subject in _SUBJECT_CATEGORY:
        return _SUBJECT_CATEGORY[subject]
    text = description.lower()
    if "jump" in text:
        return "jumps_everyday"
    if "mummy" in text or "hurt" in text or "limp" in text or "drag" in text or "motorcycle" in text:
        return "stylized_walk"
    if any(word in text for word in ("walk", "turn", "forward", "march", "digital8", "8", "stumble")):
        return "walk_run"
    return "other"


def leading_added_frames(positions: np.ndarray) -> int:
    """How many frames at the start were added before the capture: the BVH conversion's T-pose, and in the
    Daz conversion the few frames blending from it into the motion. They are the leading steps faster than
    any the capture makes: above 5 cm per 1/120 s and 2.5x the clip's 90th-percentile step (the largest
    joint displacement between consecutive frames). ``positions`` (T, J, 3) in metres."""
    if len(positions) < 3:
        return 0
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=-1).max(axis=-1)
    limit = max(0.05, 2.5 * float(np.percentile(steps, 90)))
    fast = steps > limit
    return int(np.argmin(fast)) if not fast.all() else 0


@dataclass
class _Take:
    name: str
    subject: str
    description: str
    joints: np.ndarray      # (T, 17, 3) at 120 fps, metres, Y up
    head_axes: np.ndarray


def load_takes(data_dir: Path | None = None, cache_dir: Path | None = None) -> list[_Take]:
    """Every take at 120 fps (cached after the first read)."""
    folder = data_dir or default_data_dir()
    archives = [folder / name for name in ARCHIVES]
    for archive in archives:
        if not archive.exists():
            raise FileNotFoundError(f"CMU archive not found: {archive} (set VP3D_CMU_DIR)")
    key = "-".join(f"{a.stat().st_size}-{int(a.stat().st_mtime)}" for a in archives)
    cache = (cache_dir or default_cache_dir()) / "cmu" / f"cmu-v{CACHE_VERSION}-{key}.npz"
    if not cache.exists():
        _build_cache(archives, cache)
    return [_Take(m["name"], m["subject"], m["description"], joints, head_axes)
            for m, joints, head_axes in load_clip_arrays(cache)]


#: Trial descriptions from the CMU index (as the data README lists them); the files carry none.
DESCRIPTIONS = {
    "90_02": "cartwheel", "90_05": "jump kick", "90_28": "breakdance", "94_05": "indian dance",
    "104_41": "ZombieWalk", "104_43": "ZombieWalkRightAngleTurns", "120_22": "Zombie", "124_01": "Baseball Pitch",
    "124_07": "Baseball Swing", "137_23": "Graceful Lady Wait", "137_37": "Sexy Lady Wait",
    "137_38": "Sexy Lady Walk", "144_01": "Cartwheels", "144_03": "Figure8s", "144_05": "Front_Kicking",
    "144_06": "Front_Kicking001", "144_30": "Sun Salutation (yoga sequence)",
    "13_10": "jump up to grab, reach for, tiptoe", "14_07": "jump up to grab, reach for, tiptoe",
    "14_08": "jump up to grab, reach for, tiptoe", "13_11": "forward jump", "13_13": "forward jump",
    "13_32": "forward jump", "13_39": "jump", "13_40": "jump", "13_41": "jump", "13_42": "jump",
    **{f"105_{k:02d}": v for k, v in {
        1: "WalkDigital8", 2: "WalkStraight", 3: "Walk8", 4: "Digital8", 5: "mummyWalk", 6: "MotorCyclePose",
        7: "mummy8", 8: "mummyDigital8", 10: "SlowWalk", 11: "LavishWalk", 12: "TooCoolWalk", 13: "SadWalk",
        14: "DepressedWalk", 15: "ClumsyWalk", 16: "Limp", 17: "QuickWalk", 18: "CarefulWalk LookingAround",
        19: "March", 20: "ShyWalk", 21: "acheyWalk", 22: "CasualQuickWalk", 23: "CoolWalk", 24: "HurtLegWalk",
        25: "DragBadLegWalk", 26: "HurtStomachWalk", 27: "SlowWalk", 28: "GhettoWalk", 29: "NormalWalk",
        30: "SexyWalk", 31: "NormalWalk", 32: "ScaredWalk", 33: "MachoWalk", 34: "NormalWalk", 35: "TrafficWalk",
        36: "WalkStraight", 37: "Forward", 38: "SmallForward", 39: "JumpForward", 40: "JumpForward",
        41: "JumpForward", 42: "JumpForward", 43: "JumpSmallForward", 44: "JumpSmallForward", 45: "JumpForward",
        46: "Jump Turn", 47: "Jump Turn", 48: "Jump Turn", 49: "Jump Turn", 50: "Jump Turn",
        51: "FurtherJumpTurn", 52: "SmallJumpTurn", 53: "turn 180", 54: "turn 180", 55: "turn 180", 56: "turn 90",
        57: "WalkForward", 58: "turn 270", 59: "360 smallStumble", 60: "turn 360", 61: "turn 360",
        62: "walkFigure8",
    }.items()},
}


def _build_cache(archives: list[Path], cache: Path) -> None:
    meta, joints, head_axes = [], [], []
    for archive in archives:
        mapping = ARCHIVES[archive.name]
        logger.info("reading %s (first use; cached afterwards)", archive.name)
        with tarfile.open(archive, "r:xz") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            asf_text = None
            if mapping is CMU_ASF:
                asf = next(m for m in members if m.name.endswith(".asf"))
                asf_text = tar.extractfile(asf).read().decode("utf-8", errors="replace")
            for member in sorted(members, key=lambda m: m.name):
                match = _TRIAL.search(member.name)
                if not match:
                    continue
                trial = f"{int(match.group(1)):02d}_{match.group(2)}"
                if mapping is CMU_MOTIONBUILDER and trial in DUPLICATED_IN_ASF:
                    continue
                text = tar.extractfile(member).read().decode("utf-8", errors="replace")
                clip = (parse_asf_amc(asf_text, text, fps=SOURCE_FPS, source=member.name) if asf_text is not None
                        else parse_bvh(text, source=member.name))
                take = _map(clip, mapping, member.name)
                meta.append({"name": trial, "subject": f"{int(match.group(1)):02d}",
                             "description": DESCRIPTIONS.get(trial, "")})
                joints.append(take[0].astype(np.float32))
                head_axes.append(take[1].astype(np.float32))
    save_clip_arrays(cache, meta, joints, head_axes)


def _map(clip: MocapClip, mapping: SkeletonMapping, source: str) -> tuple[np.ndarray, np.ndarray]:
    if abs(clip.fps - SOURCE_FPS) > 0.1:
        raise ValueError(f"{source}: expected {SOURCE_FPS:g} fps, got {clip.fps:.2f}")
    mapped = map_to_h36m(clip, mapping)
    joints, head_axes = mapped.joints, mapped.head_axes
    added = leading_added_frames(joints)
    return joints[added:], head_axes[added:]


def load_split(data_dir: Path | None = None, cache_dir: Path | None = None) -> tuple[list[Clip], list[Clip]]:
    """(training, validation) clips at 30 fps: training in four phases per take, validation in one."""
    step = int(round(SOURCE_FPS / TARGET_FPS))
    train, validation = [], []
    for take in load_takes(data_dir, cache_dir):
        held_out = take.subject in VALIDATION_SUBJECTS
        for phase in range(1 if held_out else step):
            name = take.name if phase == 0 else f"{take.name}@{phase}"
            clip = Clip(name, "cmu", category(take.name, take.description), take.description,
                        take.joints[phase::step], take.head_axes[phase::step], subject=take.subject)
            if clip.num_frames >= 2:
                (validation if held_out else train).append(clip)
    return train, validation

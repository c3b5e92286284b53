"""Where the BlazePose model files are found: inside the add-on, or in the developer's build cache.

The two ``.tflite`` files (Apache-2.0, from the ``mediapipe==0.10.21`` wheel) are not committed to git.
``python3 build.py env`` extracts them into ``<repo>/.cache/models/blazepose/``; the add-on zip ships them in
``blender_vp3d/bundled_models/blazepose/``. The add-on's copy wins when both exist.
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

DETECTION_MODEL = "pose_detection.tflite"  # person detector, 224x224 input
LANDMARK_MODEL = "pose_landmark_full.tflite"  # 39 landmarks, 256x256 input (MediaPipe's model_complexity=1)
MODEL_FILES = (DETECTION_MODEL, LANDMARK_MODEL)

_PACKAGE_DIR = Path(__file__).resolve().parents[2]  # blender_vp3d/
BUNDLED_DIR = _PACKAGE_DIR / "bundled_models" / "blazepose"
CACHE_DIR = _PACKAGE_DIR.parent / ".cache" / "models" / "blazepose"


def blazepose_model_dir(candidates: tuple[Path, ...] = (BUNDLED_DIR, CACHE_DIR)) -> Path:
    """The first of ``candidates`` that holds both model files.

    Raises FileNotFoundError naming every folder searched when none does.
    """
    for folder in candidates:
        if all((folder / name).is_file() for name in MODEL_FILES):
            logger.debug("BlazePose models from %s", folder)
            return folder
    searched = ", ".join(str(folder) for folder in candidates)
    raise FileNotFoundError(
        f"BlazePose model files ({', '.join(MODEL_FILES)}) not found in any of: {searched}. "
        "In a source checkout, run python3 build.py env to extract them from the mediapipe wheel."
    )

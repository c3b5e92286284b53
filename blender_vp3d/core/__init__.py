"""The add-on's core: everything that runs without Blender (no ``bpy``) and without torch (numpy only).

The public API is the lifter::

    from blender_vp3d.core import Lifter
    lifter = Lifter.load()
    out = lifter.lift(keypoints, image_size=(width, height), focal_px=None, fps=None)

``training/`` (torch) is the exception to "numpy only" and is never imported from here.
"""

from .lift.lifter import Lifter, LiftResult
from .lift.model_file import ModelFileError

__all__ = ["Lifter", "LiftResult", "ModelFileError"]

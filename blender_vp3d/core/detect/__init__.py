"""The second stage: 2D keypoints per frame, and the person followed through the clip.

Detectors behind one interface (:mod:`.base`: BlazePose, MediaPipe, Detectron2, or keypoints imported from a
file), run on parallel workers (:mod:`.parallel`) and cached per video (:mod:`.detection_cache`); then
:mod:`.tracking` links each frame's people into tracks and picks the one to lift.
"""

"""The third stage: 2D keypoints to 3D joints.

:mod:`.lifter` runs the lifting networks (:mod:`.inference`, numpy) from a model file (:mod:`.model_file`) on
keypoints normalised by the camera model (:mod:`.camera`) at the model's frame rate (:mod:`.resampling`), then
fits the result back to the 2D keypoints (:mod:`.refine`).
"""

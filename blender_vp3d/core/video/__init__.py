"""The first stage: a video file's frames, upright and in order (:mod:`.reader`), after a check of its MP4/MOV
structure (:mod:`.mp4`)."""

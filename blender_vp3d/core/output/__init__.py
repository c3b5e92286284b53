"""The last stage: a capture's result and what it becomes.

:mod:`.motion` is the result (world joints, foot contacts, the 2D it came from) and its ``.npz`` file; from it
:mod:`.export_bvh` writes a BVH, :mod:`.retarget_math` solves the bone rotations for a rig (the Blender side,
``blender_vp3d.retarget``, only keys them), and :mod:`.preview` draws the skeleton over the video.
"""

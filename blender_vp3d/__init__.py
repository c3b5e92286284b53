"""blender_vp3d: video to 3D motion capture for Blender, after VideoPose3D (Pavllo et al., CVPR 2019).

``blender_vp3d.core`` is the Blender-independent engine (numpy only at run time); the Blender layer sits on
top of it. Importing this package does not import Blender.
"""

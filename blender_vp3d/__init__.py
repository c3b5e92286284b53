"""blender_vp3d: video to 3D motion capture for Blender, after VideoPose3D (Pavllo et al., CVPR 2019).

``blender_vp3d.core`` is the Blender-independent engine (numpy only at run time); the Blender layer sits on
top of it. Importing this package does not import Blender.
"""


def register() -> None:
    """Blender calls this when the add-on is enabled (the Blender layer is imported only now)."""
    from . import addon

    addon.register()


def unregister() -> None:
    from . import addon

    addon.unregister()

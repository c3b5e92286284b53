"""The Blender layer: settings, operators and panels, registered from a module list.

Each module lists its classes in ``CLASSES`` and may have ``register``/``unregister`` for what is not a class
(the ``Scene.vp3d`` pointer). Modules register in order and unregister in reverse.
"""

from __future__ import annotations

import bpy

from . import operators, panels, preferences, properties

MODULES = (preferences, properties, operators, panels)


def register() -> None:
    for module in MODULES:
        for cls in module.CLASSES:
            bpy.utils.register_class(cls)
        if hasattr(module, "register"):
            module.register()


def unregister() -> None:
    for module in reversed(MODULES):
        if hasattr(module, "unregister"):
            module.unregister()
        for cls in reversed(module.CLASSES):
            bpy.utils.unregister_class(cls)

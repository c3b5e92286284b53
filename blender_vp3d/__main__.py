"""``python -m blender_vp3d``: the command-line interface (see ``blender_vp3d.core.cli``)."""

import sys

from .core.cli import main

sys.exit(main())

"""2D pose detectors behind one interface (see :mod:`.base`)."""

"""Checks of values from outside (settings, files, arguments) that end in one clear line, in one place."""

from __future__ import annotations

import math
import numbers
from typing import Any


def check_positive(name: str, value: Any) -> float:
    """``value`` as a float when it is a finite number > 0 (not a bool); ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)

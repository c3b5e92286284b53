"""Reading ``.npz`` files from outside without ever unpickling: a file must not be able to run code."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np


def read_npz(path: Path, *, pickle_help: str = "pickled Python objects are never loaded") -> dict[str, np.ndarray]:
    """Every array of an ``.npz``; ``ValueError`` naming the file and the problem (not a zip, a pickled
    array, a damaged member). ``pickle_help`` ends the message for a pickled array (say what to do instead)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an .npz file (not a zip archive; truncated or wrong file?)")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for name in data.files:
                try:
                    arrays[name] = data[name]
                except ValueError as exc:
                    if "pickle" in str(exc).lower():
                        raise ValueError(f"{path}: array {name!r} is a pickled object; {pickle_help}") from None
                    raise ValueError(f"{path}: array {name!r} cannot be read ({exc})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: cannot be read as .npz ({exc})") from None
    return arrays

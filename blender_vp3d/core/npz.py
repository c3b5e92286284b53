"""Reading ``.npz`` files without ever unpickling (a file must not be able to run code), and the one check of
our own formats' name and version: the model file, the motion file and the detection cache all read here."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class NpzFormat:
    """One of our file formats: its name and the newest version this code reads (and writes), as its JSON
    metadata states them under ``"format"`` and ``version_key``."""

    name: str
    version: int
    version_key: str = "format_version"

    def check(self, metadata: Any) -> dict[str, Any]:
        """``metadata`` when it names this format in a version from 1 to :attr:`version`; ValueError otherwise."""
        if not isinstance(metadata, dict):
            raise ValueError(f"the metadata is not a JSON object (got {type(metadata).__name__})")
        if metadata.get("format") != self.name:
            raise ValueError(f"not a {self.name} file: format is {metadata.get('format')!r}")
        version = metadata.get(self.version_key)
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= self.version:
            raise ValueError(f"{self.name} version {version!r} is not one this code reads (1 to {self.version})")
        return metadata

    def read(self, path: Path, *, metadata_key: str = "metadata",
             pickle_help: str = "pickled Python objects are never loaded") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, metadata) of a file whose JSON metadata is the 0-d string array ``metadata_key`` (taken out of
        the arrays); ValueError naming the problem."""
        arrays = read_npz(path, pickle_help=pickle_help)
        raw = arrays.pop(metadata_key, None)
        if raw is None:
            raise ValueError(f"{path} has no '{metadata_key}' array (not a {self.name} file?)")
        if raw.ndim != 0 or raw.dtype.kind != "U":
            raise ValueError(f"{path}: '{metadata_key}' must be a 0-d unicode array, got {raw.dtype} {raw.shape}")
        try:
            metadata = json.loads(str(raw[()]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: the metadata is not valid JSON ({exc})") from None
        return arrays, self.check(metadata)

"""The lifter models that ship with the add-on, by name.

``vp3d_<name>.npz`` in a bundled-models folder is the model ``<name>``: ``default`` is the most accurate one
(its weights are non-commercial: Bandai's data), and a model trained on CMU mocap alone, when it ships, is
``cmu`` (commercially usable). A capture names its model by one of these names or by the path of any model
file (``CaptureSettings.model``, the CLI's ``--model``, ``api``'s ``model=``); each model file states its own
licence, which the panel, the CLI and the capture's messages show.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .model_file import ModelFileError, load_model_file

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
FILE_PREFIX = "vp3d_"
_PACKAGE_DIR = Path(__file__).resolve().parents[2]  # blender_vp3d/ (this file is core/lift/bundled.py)
_LABELS = {"default": "Default", "cmu": "CMU only"}


def bundled_dirs() -> tuple[Path, Path]:
    """Where bundled models live, in order: inside the package (``blender_vp3d/bundled_models/``, the add-on
    zip's layout), then in the repository root (``<root>/bundled_models/``, the development layout)."""
    return _PACKAGE_DIR / "bundled_models", _PACKAGE_DIR.parent / "bundled_models"


def bundled_model_paths(name: str = DEFAULT_MODEL) -> tuple[Path, Path]:
    """The places ``Lifter.load(name)`` looks for the bundled model ``name``, in order."""
    return tuple(folder / f"{FILE_PREFIX}{name}.npz" for folder in bundled_dirs())  # type: ignore[return-value]


@dataclass(frozen=True)
class BundledModel:
    name: str
    path: Path
    licence: str  # the model file's own licence text

    @property
    def label(self) -> str:
        return _LABELS.get(self.name, self.name.replace("_", " ").title())

    @property
    def licence_summary(self) -> str:
        """The licence's first sentence ("... non-commercial use only." / "Commercial use allowed.")."""
        return licence_summary(self.licence)

    @property
    def commercial(self) -> bool:
        return "non-commercial" not in self.licence.lower()


def licence_summary(licence: str) -> str:
    first = licence.split(". ", 1)[0].strip()
    return first if first.endswith(".") else first + "."


def bundled_models() -> list[BundledModel]:
    """The bundled models found, ``default`` first, then by name (the first folder of :func:`bundled_dirs` wins
    for a name in both). A file that does not load is left out with a warning."""
    found: dict[str, Path] = {}
    for folder in bundled_dirs():
        for path in sorted(folder.glob(f"{FILE_PREFIX}*.npz")) if folder.is_dir() else ():
            found.setdefault(path.stem[len(FILE_PREFIX):], path)
    models = []
    for name, path in sorted(found.items(), key=lambda item: (item[0] != DEFAULT_MODEL, item[0])):
        try:
            models.append(BundledModel(name, path, _licence(path, path.stat().st_mtime_ns)))
        except ModelFileError as exc:
            logger.warning("bundled model %s left out: %s", path, exc)
    return models


@lru_cache(maxsize=16)
def _licence(path: Path, mtime_ns: int) -> str:  # mtime in the key: a replaced file is read again
    return str(load_model_file(path)[1]["licence"])


def model_name(path: Path | None) -> str:
    """A model file's bundled name (``default``) when it is a bundled model, else its file name."""
    if path is None:
        return "unsaved"
    path = Path(path)
    bundled = path.parent.resolve() in {folder.resolve() for folder in bundled_dirs()}
    return path.stem[len(FILE_PREFIX):] if bundled and path.stem.startswith(FILE_PREFIX) else path.name


def is_bundled_name(model: str) -> bool:
    """Whether ``model`` is written as a bundled model's name (no folder, no ``.npz``), not as a file path."""
    return bool(model) and os.sep not in model and "/" not in model and not model.endswith(".npz")


def resolve_model(model: str | os.PathLike | None) -> Path:
    """The file of ``model``: None or ``"default"`` -> the default bundled model, another name -> that bundled
    model, anything else -> that path. ``ModelFileError`` (a ValueError) naming the choices when a name is
    unknown or the default model is missing."""
    name = DEFAULT_MODEL if model is None else model
    if isinstance(name, str) and is_bundled_name(name):
        candidates = bundled_model_paths(name)
        found = next((p for p in candidates if p.is_file()), None)
        if found is not None:
            return found
        if name == DEFAULT_MODEL:
            raise ModelFileError(f"the bundled model {FILE_PREFIX}{name}.npz is missing: looked in "
                                 f"{candidates[0].parent} and {candidates[1].parent}; pass the path of a model file")
        names = ", ".join(m.name for m in bundled_models()) or "none found"
        raise ModelFileError(f"unknown model {name!r}: use a bundled model ({names}) or the path of a .npz model file")
    return Path(model)  # type: ignore[arg-type]


"""The lifter's model file: one ``.npz`` that carries the weights of both networks and says how to use them.

A model is useless without its conventions (input layout and normalisation, frame rate, architecture), so the
file stores them next to the weights, like nanoGPT's checkpoints store ``model_args``. It is plain numpy (no
pickle, no torch), so Blender loads it with numpy alone and nothing in it can execute code.

Layout of the ``.npz`` (an uncompressed zip of ``.npy`` arrays):

* ``metadata``: a 0-d unicode array holding a JSON object (keys in :data:`REQUIRED_METADATA`);
* ``pose/<name>`` and ``trajectory/<name>``: float32 arrays named as in the torch ``state_dict`` of
  ``training.model.TemporalModel`` (``expand_conv.weight``, ``expand_bn.{weight,bias,running_mean,running_var}``,
  ``layers_conv.<i>.weight``, ``layers_bn.<i>.*``, ``shrink.weight``, ``shrink.bias``; BatchNorm's
  ``num_batches_tracked`` is not stored). Convolution weights keep torch's (out, in, width) order.

:func:`save_model_file` also writes the metadata as a ``.json`` sidecar for humans; loading never reads it.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_atomically
from ..npz import NpzFormat

logger = logging.getLogger(__name__)

FORMAT_NAME = "blender_vp3d.model"
FORMAT_VERSION = 1
FORMAT = NpzFormat(FORMAT_NAME, FORMAT_VERSION)
METADATA_KEY = "metadata"
NETWORKS = ("pose", "trajectory")

#: Metadata keys every model file must have, with the JSON type each must be.
REQUIRED_METADATA: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "format_version": (int,),
    "pose": (dict,),
    "trajectory": (dict,),
    "receptive_field": (int,),
    "fps": (int, float),
    "input_layout": (str,),
    "output_layout": (str,),
    "input_normalisation": (str,),
    "training_data": (str, dict),
    "licence": (str,),
    "metrics": (dict,),
    "created": (str,),
}

#: What the shipped models expect and produce; written into every file by the exporter.
INPUT_NORMALISATION = (
    "Per frame, COCO-17 keypoints as (x, y, confidence): x, y are undistorted normalised camera coordinates, "
    "((u - cx) / fx, (v - cy) / fy) after removing lens distortion (camera.pixels_to_normalized); confidence "
    "in [0, 1], 0 for a missing keypoint whose position was interpolated. Input tensor (batch, frames, 17, 3). "
    "Pose output: H36M-17 joints relative to the pelvis (joint 0), camera frame (x right, y down, z forward), "
    "metres. Trajectory output: the pelvis position in the camera frame, metres. Test-time flip: x negated "
    "and COCO left/right swapped on input; x negated and H36M left/right swapped on the pose output, x negated "
    "on the trajectory."
)


class ModelFileError(ValueError):
    """A model file that is missing, unreadable, unsafe or inconsistent with its own metadata."""


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of one temporal network; the same fields as ``training.model.ModelConfig``.

    Duplicated here because the add-on may not import torch (and ``training.model`` does).
    """

    num_joints_in: int = 17
    in_features: int = 3
    num_joints_out: int = 17
    filter_widths: tuple[int, ...] = field(default=(3, 3, 3, 3, 3))
    channels: int = 256
    dropout: float = 0.25
    causal: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "filter_widths", tuple(self.filter_widths))
        for name in ("num_joints_in", "in_features", "num_joints_out", "channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.filter_widths:
            raise ValueError("filter_widths must not be empty")
        for w in self.filter_widths:
            if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1 or w % 2 == 0:
                raise ValueError(f"filter widths must be odd positive integers, got {list(self.filter_widths)}")
        if not isinstance(self.causal, bool):
            raise ValueError(f"causal must be true or false, got {self.causal!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> NetworkConfig:
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(values))
        unknown = sorted(set(values) - names)
        if missing or unknown:
            raise ValueError(f"network config: missing fields {missing}, unknown fields {unknown}")
        widths = values["filter_widths"]
        if not isinstance(widths, (list, tuple)):
            raise ValueError(f"filter_widths must be a list of integers, got {widths!r}")
        return cls(**{**values, "filter_widths": tuple(widths)})

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["filter_widths"] = list(self.filter_widths)
        return values

    def receptive_field(self) -> int:
        return math.prod(self.filter_widths)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every stored array of this network and its shape (torch ``state_dict`` names and shapes)."""
        c = self.channels
        shapes: dict[str, tuple[int, ...]] = {
            "expand_conv.weight": (c, self.num_joints_in * self.in_features, self.filter_widths[0]),
        }
        shapes.update(_bn_shapes("expand_bn", c))
        for i, w in enumerate(self.filter_widths[1:]):
            shapes[f"layers_conv.{2 * i}.weight"] = (c, c, w)
            shapes[f"layers_conv.{2 * i + 1}.weight"] = (c, c, 1)
            shapes.update(_bn_shapes(f"layers_bn.{2 * i}", c))
            shapes.update(_bn_shapes(f"layers_bn.{2 * i + 1}", c))
        shapes["shrink.weight"] = (self.num_joints_out * 3, c, 1)
        shapes["shrink.bias"] = (self.num_joints_out * 3,)
        return shapes


def _bn_shapes(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{name}": (channels,) for name in ("weight", "bias", "running_mean", "running_var")}


def network_weights(weights: Mapping[str, np.ndarray], network: str) -> dict[str, np.ndarray]:
    """The arrays of one network (``"pose"`` or ``"trajectory"``) with the ``<network>/`` prefix removed."""
    prefix = f"{network}/"
    return {name[len(prefix):]: array for name, array in weights.items() if name.startswith(prefix)}


def network_configs(metadata: Mapping[str, Any]) -> dict[str, NetworkConfig]:
    """``{"pose": NetworkConfig, "trajectory": NetworkConfig}`` from validated metadata."""
    return {net: NetworkConfig.from_dict(metadata[net]) for net in NETWORKS}


def validate(weights: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Check metadata and weights against each other; return the weights as float32.

    Raises :class:`ModelFileError` naming the first problem found.
    """
    _validate_metadata(metadata)
    configs = {}
    for net in NETWORKS:
        try:
            configs[net] = NetworkConfig.from_dict(metadata[net])
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"metadata '{net}' is not a valid network config: {exc}") from None
    rf = {net: cfg.receptive_field() for net, cfg in configs.items()}
    if rf["pose"] != rf["trajectory"] or configs["pose"].causal != configs["trajectory"].causal:
        raise ModelFileError(
            "pose and trajectory networks must share receptive field and causality, got "
            f"{rf['pose']}/{configs['pose'].causal} and {rf['trajectory']}/{configs['trajectory'].causal}"
        )
    if metadata["receptive_field"] != rf["pose"]:
        raise ModelFileError(
            f"metadata receptive_field {metadata['receptive_field']} does not match the filter widths "
            f"{list(configs['pose'].filter_widths)} (product {rf['pose']})"
        )

    expected = {f"{net}/{name}": shape for net, cfg in configs.items() for name, shape in cfg.weight_shapes().items()}
    unexpected = sorted(set(weights) - set(expected))
    if unexpected:
        raise ModelFileError(f"unexpected arrays not described by the metadata: {unexpected[:5]}")
    checked: dict[str, np.ndarray] = {}
    for name, shape in expected.items():
        if name not in weights:
            raise ModelFileError(f"missing weight '{name}' (expected shape {shape})")
        array = np.asarray(weights[name])
        if array.shape != shape:
            raise ModelFileError(f"weight '{name}' has shape {array.shape}, expected {shape}")
        if not np.issubdtype(array.dtype, np.floating):
            raise ModelFileError(f"weight '{name}' must be floating point, got dtype {array.dtype}")
        if not np.isfinite(array).all():
            raise ModelFileError(f"weight '{name}' contains NaN or infinite values")
        checked[name] = np.ascontiguousarray(array, dtype=np.float32)
    for net in NETWORKS:
        for bn in [n for n in checked if n.startswith(f"{net}/") and n.endswith(".running_var")]:
            if (checked[bn] < 0).any():
                raise ModelFileError(f"weight '{bn}' has negative variances")
    return checked


def _validate_metadata(metadata: Mapping[str, Any]) -> None:
    if not isinstance(metadata, Mapping):
        raise ModelFileError(f"metadata must be a JSON object, got {type(metadata).__name__}")
    for key, types in REQUIRED_METADATA.items():
        if key not in metadata:
            raise ModelFileError(f"metadata is missing the key '{key}'")
        value = metadata[key]
        if isinstance(value, bool) or not isinstance(value, types):
            wanted = " or ".join(t.__name__ for t in types)
            raise ModelFileError(f"metadata '{key}' must be {wanted}, got {value!r}")
    try:
        FORMAT.check(dict(metadata))
    except ValueError as exc:
        raise ModelFileError(str(exc)) from None
    fps = metadata["fps"]
    if not math.isfinite(fps) or fps <= 0:
        raise ModelFileError(f"metadata 'fps' must be positive, got {fps!r}")


def save_model_file(path: str | os.PathLike, weights: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> Path:
    """Validate and write ``path`` (``.npz``) atomically, plus a ``.json`` sidecar; return the path.

    ``format`` and ``format_version`` are filled in when ``metadata`` lacks them.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"model file name must end in .npz, got {path.name!r}")
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **metadata}
    checked = validate(weights, metadata)
    try:
        text = json.dumps(metadata, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"metadata is not JSON-serialisable: {exc}") from None
    arrays = {METADATA_KEY: np.array(text), **checked}
    write_atomically(path, lambda f: np.savez(f, **arrays))
    write_atomically(path.with_suffix(".json"), lambda f: f.write((text + "\n").encode("utf-8")))
    logger.info("wrote model file %s (%d arrays)", path, len(checked))
    return path


def load_model_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and check a model file; return ``(weights, metadata)`` with float32 weights.

    Raises :class:`ModelFileError` for a missing or unreadable file, pickled content, missing or invalid
    metadata, an unknown format or version, and missing or mis-shaped weights.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        arrays, metadata = FORMAT.read(path, metadata_key=METADATA_KEY)
    except ValueError as exc:
        message = str(exc)
        if "not an .npz" in message:
            raise ModelFileError(f"{path} is not an .npz model file (not a zip archive; truncated or wrong file?)") from None
        if "cannot be read" in message:
            raise ModelFileError(f"{path} is not a readable .npz model file: {message}") from None
        raise ModelFileError(message) from None
    try:
        weights = validate(arrays, metadata)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    return weights, metadata

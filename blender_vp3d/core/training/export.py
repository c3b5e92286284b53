"""Torch models to the add-on's model file and back.

Training ends with :func:`export_models`, which writes the pose and trajectory networks and the conventions
they were trained under into one ``.npz`` (see ``core.model_file``). :func:`load_torch_models` rebuilds torch
``TemporalModel``s from such a file, for parity tests against the numpy engine and for benchmarks.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model_file import (
    FORMAT_NAME,
    FORMAT_VERSION,
    INPUT_NORMALISATION,
    NETWORKS,
    load_model_file,
    network_configs,
    save_model_file,
)
from .model import ModelConfig, TemporalModel, _TemporalBase

logger = logging.getLogger(__name__)

TRAINING_FPS = 30.0

#: Keys :func:`export_models` derives from the models; ``metadata_extra`` may not set them.
_DERIVED_KEYS = frozenset({
    "format", "format_version", "pose", "trajectory", "receptive_field", "input_layout", "output_layout",
})


def export_models(pose_model: _TemporalBase, trajectory_model: _TemporalBase, path: str | os.PathLike,
                  metadata_extra: dict[str, Any]) -> Path:
    """Write both networks (``TemporalModel`` or ``TemporalModelOptimized``) to the model file ``path``.

    ``metadata_extra`` must supply ``training_data`` and ``licence``; optional are ``metrics`` (default empty),
    ``fps`` (default 30), ``input_normalisation`` (default :data:`core.model_file.INPUT_NORMALISATION`), ``created`` (default
    now, UTC) and any further keys, which are stored as given.
    """
    clash = sorted(_DERIVED_KEYS & set(metadata_extra))
    if clash:
        raise ValueError(f"metadata_extra may not set keys derived from the models: {clash}")
    weights: dict[str, np.ndarray] = {}
    configs: dict[str, dict[str, Any]] = {}
    for net, model in zip(NETWORKS, (pose_model, trajectory_model)):
        if not isinstance(model, _TemporalBase):
            raise ValueError(f"{net} model must be a TemporalModel or TemporalModelOptimized, got {type(model).__name__}")
        configs[net] = model.config.to_dict()
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            weights[f"{net}/{name}"] = tensor.detach().cpu().to(torch.float32).numpy()
    metadata: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "pose": configs["pose"],
        "trajectory": configs["trajectory"],
        "receptive_field": pose_model.receptive_field(),
        "fps": TRAINING_FPS,
        "input_layout": "coco17",
        "output_layout": "h36m17",
        "input_normalisation": INPUT_NORMALISATION,
        "metrics": {},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **metadata_extra,
    }
    return save_model_file(path, weights, metadata)


def load_torch_models(path: str | os.PathLike) -> tuple[TemporalModel, TemporalModel]:
    """``(pose, trajectory)`` torch ``TemporalModel``s in eval mode, rebuilt from a model file."""
    weights, metadata = load_model_file(path)
    models = []
    for net, config in network_configs(metadata).items():
        values = config.to_dict()
        model = TemporalModel(ModelConfig(**values))
        state = model.state_dict()
        for name in state:
            if not name.endswith("num_batches_tracked"):
                state[name] = torch.from_numpy(weights[f"{net}/{name}"].copy())
        model.load_state_dict(state)
        models.append(model.eval())
    return models[0], models[1]

"""Torch models to the add-on's model file and back.

Training ends with :func:`export_models`, which writes the pose and trajectory networks and the conventions
they were trained under into one ``.npz`` (see ``core.lift.model_file``). :func:`load_torch_models` rebuilds torch
``TemporalModel``s from such a file, for parity tests against the numpy engine and for benchmarks.
:func:`copy_model_file` ships one of a run's kept epoch models with its evaluation figures.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..lift.model_file import (
    FORMAT_NAME,
    FORMAT_VERSION,
    INPUT_NORMALISATION,
    NETWORKS,
    load_model_file,
    network_configs,
    save_model_file,
)
from .model import ModelConfig, TemporalModel, TemporalModelOptimized

logger = logging.getLogger(__name__)

TRAINING_FPS = 30.0

#: Keys :func:`export_models` derives from the models; ``metadata_extra`` may not set them.
_DERIVED_KEYS = frozenset({
    "format", "format_version", "pose", "trajectory", "receptive_field", "input_layout", "output_layout",
})


def export_models(pose_model: TemporalModel | TemporalModelOptimized,
                  trajectory_model: TemporalModel | TemporalModelOptimized, path: str | os.PathLike,
                  metadata_extra: dict[str, Any]) -> Path:
    """Write both networks (``TemporalModel`` or ``TemporalModelOptimized``) to the model file ``path``.

    ``metadata_extra`` must supply ``training_data`` and ``licence``; optional are ``metrics`` (default
    empty), ``fps`` (default 30), ``input_normalisation`` (default ``core.lift.model_file.INPUT_NORMALISATION``),
    ``created`` (default now, UTC) and any further keys, which are stored as given.
    """
    clash = sorted(_DERIVED_KEYS & set(metadata_extra))
    if clash:
        raise ValueError(f"metadata_extra may not set keys derived from the models: {clash}")
    weights: dict[str, np.ndarray] = {}
    configs: dict[str, dict[str, Any]] = {}
    for net, model in zip(NETWORKS, (pose_model, trajectory_model)):
        if not isinstance(model, (TemporalModel, TemporalModelOptimized)):
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
        load_network_weights(model, weights, net)
        models.append(model.eval())
    return models[0], models[1]


def load_network_weights(model: torch.nn.Module, weights: dict[str, np.ndarray], network: str) -> None:
    """Set ``model``'s parameters and BatchNorm statistics from a model file's ``network`` arrays."""
    state = model.state_dict()
    for name in state:
        if not name.endswith("num_batches_tracked"):
            state[name] = torch.from_numpy(weights[f"{network}/{name}"].copy())
    model.load_state_dict(state)


def training_data_text(sources: list[str]) -> str:
    parts = {
        "bandai": ("Bandai-Namco-Research-Motiondataset 1 and 2 (Bandai Namco Research Inc.), training styles only "
                   "(validation styles held out: see blender_vp3d.core.training.mocap.bandai)"),
        "cmu": ("CMU Graphics Lab Motion Capture Database, the takes under shared/data/cmu less the validation "
                "subjects (see blender_vp3d.core.training.mocap.cmu)"),
    }
    return ("; ".join(parts[s] for s in sources) + ", projected through random virtual cameras with the "
            "detector-error model of blender_vp3d.core.training.synthetic")


def export_checkpoint(checkpoint: Path, out: Path, metrics: dict | None = None) -> Path:
    """Write the model file for a training checkpoint (``train.py``'s ``checkpoint.pt``)."""
    import json

    from .datasets import licence_text

    state = torch.load(checkpoint, weights_only=True)
    config = json.loads(state["config"])
    sources = config.get("sources", ["bandai"])
    model_config = ModelConfig(filter_widths=config["filter_widths"], channels=config["channels"],
                               dropout=config["dropout"], causal=config["causal"])
    pose = TemporalModel(model_config)
    trajectory = TemporalModel(ModelConfig(**{**model_config.to_dict(), "num_joints_out": 1}))
    for net, model in (("pose", pose), ("trajectory", trajectory)):
        model.load_state_dict(_published_weights(state, net))
    history = json.loads(state["history"])
    extra = {
        "training_data": training_data_text(sources),
        "licence": licence_text(sources),
        "metrics": metrics or {},
        "training": {"epochs": int(state["epoch"]), "config": config,
                     "last_epoch_validation": history[-1] if history else {},
                     "cumulative": {"windows": int(state.get("windows_seen", 0)),
                                    "hours": round(float(state.get("train_seconds", 0.0)) / 3600, 3)}},
    }
    return export_models(pose, trajectory, out, extra)


def _published_weights(state: dict, net: str) -> dict[str, torch.Tensor]:
    """A checkpoint's weights for ``net``: its moving average where the run kept one (what it validated)."""
    averaged = state.get(f"{net}_ema")
    if averaged is None:
        return state[net]
    # AveragedModel's state: the module's entries under "module.", and its n_averaged counter.
    return {k.removeprefix("module."): v for k, v in averaged.items() if k.startswith("module.")}


def copy_model_file(model: Path, out: Path, metrics: dict | None = None) -> Path:
    """Write a copy of the model file ``model`` (e.g. a run's ``models/epoch_NNN.npz``) to ``out``, with
    ``metrics`` replacing its stored figures when given."""
    weights, metadata = load_model_file(model)
    if metrics is not None:
        metadata = {**metadata, "metrics": metrics}
    return save_model_file(out, weights, metadata)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Export a training checkpoint, or a run's kept epoch model, to the "
                                                 "add-on's model file.")
    parser.add_argument("checkpoint", type=Path, help="checkpoint.pt, or a model file (.npz) such as "
                                                      "OUT/models/epoch_NNN.npz")
    parser.add_argument("out", type=Path, help="model file to write (.npz; a .json sidecar is written beside it)")
    parser.add_argument("--metrics-json", type=Path, help="evaluation figures to store in the metadata")
    args = parser.parse_args(argv)
    if not args.checkpoint.exists():
        parser.error(f"checkpoint not found: {args.checkpoint}")
    metrics = json.loads(args.metrics_json.read_text()) if args.metrics_json else None
    if args.checkpoint.suffix == ".npz":
        print(copy_model_file(args.checkpoint, args.out, metrics))
    else:
        print(export_checkpoint(args.checkpoint, args.out, metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

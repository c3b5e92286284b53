"""The temporal network's forward pass in numpy, so that Blender can run the lifter without torch.

Equivalent to ``training.model.TemporalModel`` in eval mode (no dropout, BatchNorm with running statistics).
Speed comes from three choices:

* each BatchNorm is folded into the convolution before it when the model is built:
  ``W' = W * gamma / sqrt(var + eps)``, ``b' = beta - mean * gamma / sqrt(var + eps)``;
* activations are time-major (frames, channels) float32, and a convolution of width ``w`` and dilation ``d`` is a
  single matrix product of a gathered (frames, w * channels) matrix with a (w * channels, channels) weight
  (``out[t] = concat_k x[t + k d] @ W``), which keeps BLAS in its efficient regime;
* several sequences of equal length (the clip and its mirror image) run as one batch through the same products.

Long clips run in chunks of output frames, so memory stays bounded whatever the clip length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .model_file import NetworkConfig

BN_EPS = 1e-5  # torch.nn.BatchNorm1d's default, used by training.model
DEFAULT_CHUNK_FRAMES = 2048  # output frames per chunk; measured ~8% faster than 4096 (cache), ~10 MB of activations


@dataclass(frozen=True)
class _Conv:
    """A (BatchNorm-folded) convolution as a matrix product: weight (width * c_in, c_out), bias (c_out,)."""

    weight: np.ndarray
    bias: np.ndarray
    width: int
    dilation: int


def _fold(weights: Mapping[str, np.ndarray], conv: str, bn: str | None, dilation: int) -> _Conv:
    w = np.asarray(weights[f"{conv}.weight"], dtype=np.float64)  # torch order (c_out, c_in, width)
    if bn is None:
        bias = np.asarray(weights[f"{conv}.bias"], dtype=np.float64)
    else:
        scale = np.asarray(weights[f"{bn}.weight"], dtype=np.float64) / np.sqrt(
            np.asarray(weights[f"{bn}.running_var"], dtype=np.float64) + BN_EPS
        )
        w = w * scale[:, None, None]
        bias = np.asarray(weights[f"{bn}.bias"], dtype=np.float64) - np.asarray(
            weights[f"{bn}.running_mean"], dtype=np.float64
        ) * scale
    c_out, c_in, width = w.shape
    # Row k * c_in + i of the matrix multiplies input channel i at tap k.
    matrix = np.ascontiguousarray(w.transpose(2, 1, 0).reshape(width * c_in, c_out), dtype=np.float32)
    return _Conv(matrix, bias.astype(np.float32), width, dilation)


class NumpyTemporalModel:
    """One temporal network (pose or trajectory) from its weights, runnable with numpy alone.

    ``weights`` uses the torch ``state_dict`` names without a network prefix (see ``model_file``); their shapes
    must match ``config`` (``model_file.load_model_file`` has already checked that for file contents).
    """

    def __init__(self, config: NetworkConfig, weights: Mapping[str, np.ndarray], *,
                 chunk_frames: int = DEFAULT_CHUNK_FRAMES):
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be positive, got {chunk_frames}")
        expected = config.weight_shapes()
        for name, shape in expected.items():
            if name not in weights:
                raise ValueError(f"missing weight '{name}'")
            if tuple(np.shape(weights[name])) != shape:
                raise ValueError(f"weight '{name}' has shape {np.shape(weights[name])}, expected {shape}")
        self.config = config
        self.chunk_frames = int(chunk_frames)
        widths = config.filter_widths
        self._expand = _fold(weights, "expand_conv", "expand_bn", 1)
        self._blocks: list[tuple[_Conv, _Conv, int]] = []  # (dilated conv, 1x1 conv, residual start)
        dilation = widths[0]
        for i, w in enumerate(widths[1:]):
            pad = (w - 1) * dilation // 2
            start = 2 * pad if config.causal else pad
            self._blocks.append((
                _fold(weights, f"layers_conv.{2 * i}", f"layers_bn.{2 * i}", dilation),
                _fold(weights, f"layers_conv.{2 * i + 1}", f"layers_bn.{2 * i + 1}", 1),
                start,
            ))
            dilation *= w
        self._shrink = _fold(weights, "shrink", None, 1)

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(T_in, J_in, F) -> (T_in - rf + 1, J_out, 3); a leading batch axis (B, T_in, J_in, F) is kept."""
        x = np.asarray(x)
        batched = x.ndim == 4
        if not batched:
            x = x[None]
        cfg, rf = self.config, self.receptive_field
        if x.ndim != 4 or x.shape[2:] != (cfg.num_joints_in, cfg.in_features):
            raise ValueError(
                f"expected input (frames, {cfg.num_joints_in}, {cfg.in_features}) or "
                f"(batch, frames, {cfg.num_joints_in}, {cfg.in_features}), got {np.shape(x)}"
            )
        batch, frames = x.shape[:2]
        if frames < rf:
            raise ValueError(f"need at least the receptive field ({rf}) of input frames, got {frames}")
        x = x.reshape(batch, frames, -1).astype(np.float32, copy=False)
        out_frames = frames - rf + 1
        chunks = []
        for first in range(0, out_frames, self.chunk_frames):
            count = min(self.chunk_frames, out_frames - first)
            chunks.append(self._forward(x[:, first : first + count + rf - 1]))
        y = chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=1)
        y = y.reshape(batch, out_frames, cfg.num_joints_out, 3)
        return y if batched else y[0]

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """(B, L, C_in) float32 -> (B, L - rf + 1, J_out * 3)."""
        x = _conv(x, self._expand)
        np.maximum(x, 0, out=x)
        for dilated, pointwise, start in self._blocks:
            y = _conv(x, dilated)
            np.maximum(y, 0, out=y)
            y = _conv(y, pointwise)
            np.maximum(y, 0, out=y)
            y += x[:, start : start + y.shape[1]]
            x = y
        return _conv(x, self._shrink)


def _conv(x: np.ndarray, conv: _Conv) -> np.ndarray:
    """Valid 1D convolution of (B, L, C_in) float32 with a folded conv: (B, L - (w - 1) d, C_out)."""
    batch, length, channels = x.shape
    out_len = length - (conv.width - 1) * conv.dilation
    if conv.width == 1:
        rows = x.reshape(batch * length, channels)
    else:
        x = np.ascontiguousarray(x)
        s_batch, s_time, s_chan = x.strides
        taps = np.lib.stride_tricks.as_strided(
            x,
            shape=(batch, out_len, conv.width, channels),
            strides=(s_batch, s_time, s_time * conv.dilation, s_chan),
            writeable=False,
        )
        # Gather the taps into one matrix. The copy must be explicit: with dilation 1 and one sequence the
        # reshape can return an overlapping view (row stride < row length), which BLAS cannot take, and
        # numpy then falls back to a loop some 20x slower.
        rows = np.ascontiguousarray(taps.reshape(batch * out_len, conv.width * channels))
    y = rows @ conv.weight
    y += conv.bias
    return y.reshape(batch, out_len, -1)

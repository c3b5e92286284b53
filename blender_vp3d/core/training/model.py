"""The VideoPose3D temporal convolutional network (Pavllo et al., CVPR 2019), written from the paper.

A sequence of 2D poses enters as channels (joints x features) over time. An expand convolution of width
``filter_widths[0]`` is followed by residual blocks, each a dilated convolution of width ``filter_widths[i]``
(dilation = product of the previous widths) and a 1x1 convolution, both with BatchNorm, ReLU and dropout.
The residual is a *slice* of the block input (its centre, or its end for causal models), because valid
convolutions shorten the sequence and no padding is used. The receptive field is the product of the widths.

Two variants share one parameter set:

* :class:`TemporalModel` runs dilated convolutions over whole sequences (evaluation, export).
* :class:`TemporalModelOptimized` replaces dilation by stride (stride = width) so that training on single
  output frames computes only what that frame needs, as channels-last matrix products; its ``state_dict``
  loads into ``TemporalModel``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class ModelConfig:
    num_joints_in: int = 17           # COCO-17 keypoints
    in_features: int = 3              # x, y (normalised camera coordinates) and confidence
    num_joints_out: int = 17          # H36M-17 joints (pose model) or 1 (trajectory model)
    filter_widths: list[int] = field(default_factory=lambda: [3, 3, 3, 3, 3])
    channels: int = 256
    dropout: float = 0.25
    causal: bool = False              # causal: output frame t sees frames <= t only (online use)

    def receptive_field(self) -> int:
        frames = 1
        for w in self.filter_widths:
            frames *= w
        return frames

    def to_dict(self) -> dict:
        return asdict(self)


def _check_config(config: ModelConfig) -> None:
    if not config.filter_widths:
        raise ValueError("filter_widths must not be empty")
    for w in config.filter_widths:
        if w < 1 or w % 2 == 0:
            raise ValueError(f"filter widths must be odd and positive, got {config.filter_widths}")
    if config.channels < 1:
        raise ValueError("channels must be positive")


class _TemporalBase(nn.Module):
    """Layers and forward pass shared by both variants; subclasses build the convolutions."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        _check_config(config)
        self.config = config
        c = config.channels
        self.drop = nn.Dropout(config.dropout)
        self.relu = nn.ReLU(inplace=True)
        self.expand_bn = nn.BatchNorm1d(c, momentum=0.1)
        self.layers_bn = nn.ModuleList(nn.BatchNorm1d(c, momentum=0.1) for _ in range(2 * (len(config.filter_widths) - 1)))
        self.shrink = nn.Conv1d(c, config.num_joints_out * 3, 1)

    def receptive_field(self) -> int:
        return self.config.receptive_field()

    def set_bn_momentum(self, momentum: float) -> None:
        self.expand_bn.momentum = momentum
        for bn in self.layers_bn:
            bn.momentum = momentum

    def _residual_slice(self, x: torch.Tensor, i: int, out_len: int) -> torch.Tensor:
        raise NotImplementedError

    def _check_input(self, x: torch.Tensor) -> None:
        cfg = self.config
        if x.dim() != 4 or x.shape[2] != cfg.num_joints_in or x.shape[3] != cfg.in_features:
            raise ValueError(
                f"expected input (batch, frames, {cfg.num_joints_in}, {cfg.in_features}), got {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, J_in, F) -> (B, T - receptive_field + 1, J_out, 3)."""
        cfg = self.config
        self._check_input(x)
        batch, frames = x.shape[:2]
        x = x.reshape(batch, frames, -1).permute(0, 2, 1)
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        for i in range(len(cfg.filter_widths) - 1):
            y = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            y = self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](y))))
            x = self._residual_slice(x, i, y.shape[2]) + y
        x = self.shrink(x)
        return x.permute(0, 2, 1).reshape(batch, -1, cfg.num_joints_out, 3)


class TemporalModel(_TemporalBase):
    """Dilated convolutions over a whole sequence; output length = input length - receptive field + 1."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c, widths = config.channels, config.filter_widths
        self.expand_conv = nn.Conv1d(config.num_joints_in * config.in_features, c, widths[0], bias=False)
        convs = []
        self.pad: list[int] = []  # frames lost on each side per block (for the residual slice)
        dilation = widths[0]
        for w in widths[1:]:
            self.pad.append((w - 1) * dilation // 2)
            convs.append(nn.Conv1d(c, c, w, dilation=dilation, bias=False))
            convs.append(nn.Conv1d(c, c, 1, bias=False))
            dilation *= w
        self.layers_conv = nn.ModuleList(convs)

    def _residual_slice(self, x: torch.Tensor, i: int, out_len: int) -> torch.Tensor:
        start = 2 * self.pad[i] if self.config.causal else self.pad[i]
        return x[:, :, start : start + out_len]


class TemporalModelOptimized(_TemporalBase):
    """Strided variant for training on single output frames (input length = receptive field).

    Parameter names and shapes match :class:`TemporalModel`, so ``TemporalModel.load_state_dict`` accepts
    this model's ``state_dict`` unchanged.
    """

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c, widths = config.channels, config.filter_widths
        self.expand_conv = nn.Conv1d(config.num_joints_in * config.in_features, c, widths[0], stride=widths[0], bias=False)
        convs = []
        for w in widths[1:]:
            convs.append(nn.Conv1d(c, c, w, stride=w, bias=False))
            convs.append(nn.Conv1d(c, c, 1, bias=False))
        self.layers_conv = nn.ModuleList(convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, receptive field, J_in, F) -> (B, 1, J_out, 3).

        Computed channels-last as matrix products: a convolution of width w and stride w is a matmul of
        (rows of w consecutive frames) by the flattened kernel, and BatchNorm sees (rows, channels). That
        is the same arithmetic as the strided Conv1d stack in large GEMMs, 1.7-1.85x its speed on two
        threads (``benchmarks/training.py``), with the parameters still stored as Conv1d weights.
        """
        cfg = self.config
        self._check_input(x)
        batch, frames = x.shape[:2]
        if frames != self.receptive_field():
            raise ValueError(f"the strided model takes exactly {self.receptive_field()} frames, got {frames}")
        x = self.drop(self.relu(self.expand_bn(_strided_matmul(x.reshape(batch * frames, -1), self.expand_conv))))
        for i, w in enumerate(cfg.filter_widths[1:]):
            rows = x.shape[0] // w
            # Each output step covers w input steps; the residual is the one matching the full model's
            # centre (or last, for causal) frame.
            residual = x.reshape(rows, w, -1)[:, w - 1 if cfg.causal else (w - 1) // 2]
            y = self.drop(self.relu(self.layers_bn[2 * i](_strided_matmul(x, self.layers_conv[2 * i]))))
            y = self.drop(self.relu(self.layers_bn[2 * i + 1](_strided_matmul(y, self.layers_conv[2 * i + 1]))))
            x = residual + y
        x = torch.nn.functional.linear(x, self.shrink.weight[:, :, 0], self.shrink.bias)
        return x.reshape(batch, 1, cfg.num_joints_out, 3)

    def forward_conv(self, x: torch.Tensor) -> torch.Tensor:
        """The same network as a strided Conv1d stack: the reference the matmul form is tested and timed
        against."""
        return super().forward(x)

    def _residual_slice(self, x: torch.Tensor, i: int, out_len: int) -> torch.Tensor:
        w = self.config.filter_widths[i + 1]
        offset = w - 1 if self.config.causal else (w - 1) // 2
        return x[:, :, offset::w][:, :, :out_len]


def _strided_matmul(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """Conv1d with stride = kernel width on channels-last rows (frames x channels, frames in order)."""
    out_channels, in_channels, width = conv.weight.shape
    kernel = conv.weight.permute(0, 2, 1).reshape(out_channels, width * in_channels)
    return torch.nn.functional.linear(x.reshape(-1, width * in_channels), kernel, conv.bias)


def build_pose_model(config: ModelConfig, optimized: bool = False) -> _TemporalBase:
    return (TemporalModelOptimized if optimized else TemporalModel)(config)


def trajectory_config(pose_config: ModelConfig) -> ModelConfig:
    """Same architecture, one output joint: the root's position in the camera frame."""
    return ModelConfig(**{**pose_config.to_dict(), "num_joints_out": 1})

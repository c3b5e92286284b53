"""Loss terms of the paper: MPJPE, 1/depth-weighted trajectory error, 2D reprojection, bone lengths."""

from __future__ import annotations

import torch

from ..skeleton import COCO17, H36M17
from .camera_torch import project_to_normalized


def mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.linalg.norm(pred - target, dim=-1).mean()


def weighted_trajectory_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Root position error weighted by 1/depth: far subjects matter less, as their 2D says less."""
    return (torch.linalg.norm(pred - target, dim=-1) / target[..., 2].clamp(min=0.5)).mean()


def reprojection_error(pose: torch.Tensor, trajectory: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Project pose + trajectory back to normalised 2D and compare with the input keypoints.

    pose (..., 17, 3) H36M root-relative, trajectory (..., 3), inputs (..., 17, 3) COCO x, y, confidence.
    The lifter's H36M joints are compared with the COCO joints that sit at the same body parts (shoulders,
    elbows, wrists, hips, knees, ankles), weighted by the input confidence.
    """
    projected = project_to_normalized(pose + trajectory.unsqueeze(-2))
    h = [H36M17.index(n) for n in _MATCHED]
    c = [COCO17.index(n) for n in _MATCHED]
    weight = inputs[..., c, 2]
    error = torch.linalg.norm(projected[..., h, :] - inputs[..., c, :2], dim=-1)
    return (weight * error).sum() / weight.sum().clamp(min=1e-6)


def bone_lengths(pose: torch.Tensor) -> torch.Tensor:
    child = [c for c, p in enumerate(H36M17.parents) if p >= 0]
    parent = [H36M17.parents[c] for c in child]
    return torch.linalg.norm(pose[..., child, :] - pose[..., parent, :], dim=-1)


def bone_length_error(unlabeled_pose: torch.Tensor, labeled_pose: torch.Tensor) -> torch.Tensor:
    """Mean bone lengths of unlabeled predictions should match those of the labeled batch."""
    unlabeled = bone_lengths(unlabeled_pose).reshape(-1, len(H36M17.parents) - 1).mean(0)
    labeled = bone_lengths(labeled_pose).reshape(-1, len(H36M17.parents) - 1).mean(0).detach()
    return (unlabeled - labeled).abs().mean()


_MATCHED = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
            "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")

"""Loss terms of the paper: MPJPE, 1/depth-weighted trajectory error, 2D reprojection, bone lengths."""

from __future__ import annotations

import torch

from ..skeleton import COCO17, H36M17
from .camera_torch import project_to_normalized


def mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.linalg.norm(pred - target, dim=-1).mean()


def velocity_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Error of the frame-to-frame motion over consecutive output frames (B, T, J, 3), T >= 2: penalises
    damped (mean-pose) motion and jitter, which per-frame MPJPE barely sees."""
    return torch.linalg.norm(torch.diff(pred, dim=1) - torch.diff(target, dim=1), dim=-1).mean()


def weighted_trajectory_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Root position error weighted by 1/depth: far subjects matter less, as their 2D says less."""
    return (torch.linalg.norm(pred - target, dim=-1) / target[..., 2].clamp(min=0.5)).mean()


def reprojection_error(pose: torch.Tensor, trajectory: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Project the lifted pose back to normalised 2D and compare with the input keypoints, in metres.

    pose (B, 17, 3) H36M root-relative, trajectory (B, 3), inputs (B, 17, 3) COCO x, y, confidence. Both sides
    are compared at the joints detectors share with H36M, weighted by confidence, about their
    (confidence-weighted) centroids, and scaled by the subject's depth so that a 2D error reads as a distance
    at the subject. Three terms:

    * shape (trains the pose): the projected pose against the input after the least-squares scale between
      the two. Monocular depth is uncertain by metres across our camera range, so the pose's absolute size is
      not taken from it: the bone-length term ties it to the labeled data, as in the paper.
    * position and size (train the trajectory): the projected centroid, and the projected pose's spread about
      it, against the input's; the pose is held fixed, so the root moves and the depth scales instead.

    Centroids rather than the pelvis: detectors put hips on the body surface, a few cm from the joint centres.
    """
    h = [H36M17.index(n) for n in _MATCHED]
    c = [COCO17.index(n) for n in _MATCHED]
    weight = inputs[..., c, 2]
    total = weight.sum(-1, keepdim=True).clamp(min=1e-6)
    depth = trajectory[..., 2].detach().clamp(min=0.5)

    def centred(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        centre = (weight.unsqueeze(-1) * points).sum(-2) / total
        return points - centre.unsqueeze(-2), centre

    def spread(points: torch.Tensor) -> torch.Tensor:
        return ((weight * (points**2).sum(-1)).sum(-1) / total[..., 0]).clamp(min=1e-12).sqrt()

    observed, observed_centre = centred(inputs[..., c, :2])
    shape, _ = centred(project_to_normalized(pose + trajectory.detach().unsqueeze(-2))[..., h, :])
    scale = ((weight.unsqueeze(-1) * shape * observed).sum((-2, -1)) /
             (weight.unsqueeze(-1) * shape * shape).sum((-2, -1)).clamp(min=1e-12)).detach()
    shape_error = torch.linalg.norm(scale[..., None, None] * shape - observed, dim=-1)
    shape_error = (weight * shape_error).sum(-1) / total[..., 0]
    placed, placed_centre = centred(project_to_normalized(pose.detach() + trajectory.unsqueeze(-2))[..., h, :])
    position_error = torch.linalg.norm(placed_centre - observed_centre, dim=-1)
    size_error = (spread(placed) - spread(observed)).abs()
    return ((shape_error + position_error + size_error) * depth).mean()


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

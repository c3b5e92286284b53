"""Train the pose and trajectory models, supervised or semi-supervised (the paper's two modes).

    python -m blender_vp3d.core.training.train --out runs/default --epochs 40
    python -m blender_vp3d.core.training.train --out runs/next --init bundled_models/vp3d_default.npz
    python -m blender_vp3d.core.training.train --out runs/semi10 --labeled-fraction 0.1 --semi-supervised
    torchrun --nproc_per_node 2 -m blender_vp3d.core.training.train --out runs/ddp   # data-parallel

Data: the mocap sources of ``training.datasets`` (Bandai and CMU by default), each drawn with its share of
the windows (``--cmu-share``). Each window is ``receptive field + chunk - 1`` frames seen through one random
camera and yields ``chunk`` supervised output frames (the full dilated model, as the paper trains its
semi-supervised path); ``--chunk 1`` trains single frames with the strided model.

Supervised: MPJPE on pelvis-relative poses, the 1/depth-weighted trajectory error and, over a chunk, the
error of the joints' frame-to-frame motion (so the model does not damp motion towards the mean pose), Adam
with amsgrad, learning rate decayed every epoch, BatchNorm momentum decayed from 0.1 to 0.001, dropout.
``--init MODEL.npz`` starts from a model file's weights; the cumulative windows and training hours of the
model it started from carry on into the checkpoint and the exported model.
Semi-supervised: as above on the labeled clips, plus, after warm-up epochs, unlabeled 2D windows (projections of
the remaining training clips, and detector output on real videos saved as keypoint files) lifted, projected
back through the camera and penalised against their input, with a bone-length term tying the unlabeled
predictions' mean bone lengths to the labeled ones.

Validation and export use an exponential moving average of the weights (``--ema-decay``, 0 turns it off).
Each epoch writes ``checkpoint.pt`` (resumable with ``--resume``), a line in ``log.jsonl`` and, every
``--keep-every`` epochs, the model file ``models/epoch_NNN.npz``, so that the evaluate CLI can choose the
epoch to ship.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from ..lift.model_file import load_model_file
from .datasets import SOURCES, check_sources, load_training_data, source_of
from .export import export_checkpoint, load_network_weights
from .keypoint_files import UnlabeledKeypoints, load_unlabeled_keypoints
from .losses import bone_length_error, mpjpe, reprojection_error, velocity_error, weighted_trajectory_error
from .metrics import p_mpjpe
from .mocap.clip import Clip
from .model import ModelConfig, TemporalModel, TemporalModelOptimized, trajectory_config
from .synthetic import AugmentationConfig, ClipBank, SyntheticGenerator


logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    out: str
    filter_widths: list[int] = field(default_factory=lambda: [3, 3, 3, 3])
    channels: int = 256
    dropout: float = 0.25
    causal: bool = False
    epochs: int = 40
    steps_per_epoch: int = 250
    batch_size: int = 512
    lr: float = 1e-3
    lr_decay: float = 0.95
    bn_momentum_start: float = 0.1
    bn_momentum_end: float = 0.001
    seed: int = 0
    labeled_fraction: float = 1.0
    semi_supervised: bool = False
    warmup_epochs: int = 2
    reprojection_weight: float = 1.0
    bone_weight: float = 1.0
    unlabeled_keypoints: list[str] = field(default_factory=list)
    validation_windows: int = 2048
    threads: int = 0  # 0: torch's default
    chunk: int = 1                    # supervised output frames per window
    sources: list[str] = field(default_factory=lambda: list(SOURCES))
    cmu_share: float = 0.5            # share of the windows drawn from CMU when both sources are used
    velocity_weight: float = 1.0      # weight of the frame-to-frame motion error (chunk > 1)
    init: str = ""                    # model file whose weights start the run
    unlabeled_sources: list[str] = field(default_factory=list)  # sources seen only as unlabeled 2D (semi)
    ema_decay: float = 0.998          # exponential moving average of the weights per step (0: off)
    keep_every: int = 1               # write models/epoch_NNN.npz every this many epochs (0: never)

    def model_config(self) -> ModelConfig:
        return ModelConfig(filter_widths=list(self.filter_widths), channels=self.channels, dropout=self.dropout,
                           causal=self.causal)


def split_labeled(clips: list[Clip], fraction: float) -> tuple[list[Clip], list[Clip]]:
    """Deterministic labeled/unlabeled split of training clips, per dataset, by the SHA-1 of clip names."""
    if not 0 < fraction <= 1:
        raise ValueError(f"labeled fraction must be in (0, 1], got {fraction}")
    labeled, unlabeled = [], []
    for dataset in sorted({c.dataset for c in clips}):
        group = sorted((c for c in clips if c.dataset == dataset), key=lambda c: hashlib.sha1(c.name.encode()).hexdigest())
        count = max(1, int(round(fraction * len(group))))
        labeled += group[:count]
        unlabeled += group[count:]
    return labeled, unlabeled


class Trainer:
    def __init__(self, config: TrainConfig):
        self.config = config
        self.out = Path(config.out)
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed:
            dist.init_process_group("gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)

        if config.chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {config.chunk}")
        self.rf = config.model_config().receptive_field()
        self.centre = self.rf - 1 if config.causal else (self.rf - 1) // 2
        self.window = self.rf + config.chunk - 1
        data = load_training_data(config.sources)
        labeled, unlabeled = split_labeled(data.train, config.labeled_fraction)
        if config.unlabeled_sources:
            check_sources(config.unlabeled_sources)
            if set(config.unlabeled_sources) & set(config.sources):
                raise ValueError("a source is either labeled (--sources) or unlabeled (--unlabeled-sources), not both")
            # Unlabeled 2D comes from these sources only: the labeled sources' remaining clips are left out.
            unlabeled = [c for source in config.unlabeled_sources for c in data.by_source[source]]
        shares = _dataset_shares(labeled, config)
        self.labeled_clips = labeled
        self.labeled = ClipBank(labeled, shares)
        self.unlabeled = ClipBank(unlabeled) if (config.semi_supervised and unlabeled) else None
        self.real_unlabeled: UnlabeledKeypoints | None = (
            load_unlabeled_keypoints([Path(p) for p in config.unlabeled_keypoints]) if config.unlabeled_keypoints else None
        )
        self.validation = {name: self._validation_set(clips) for name, clips in data.validation.items() if clips}

        pose_cfg = config.model_config()
        train_model = TemporalModelOptimized if config.chunk == 1 else TemporalModel
        self.pose = train_model(pose_cfg)
        self.trajectory = train_model(trajectory_config(pose_cfg))
        self.windows_seen = 0
        self.train_seconds = 0.0
        if config.init:
            self._init_from(Path(config.init))
        self.pose_eval = TemporalModel(pose_cfg)
        self.trajectory_eval = TemporalModel(trajectory_config(pose_cfg))
        if not 0 <= config.ema_decay < 1:
            raise ValueError(f"ema decay must be in [0, 1), got {config.ema_decay}")
        # Network name -> its weights' moving average; empty when averaging is off.
        self.averages: dict[str, AveragedModel] = (
            {"pose": self._averaged(self.pose), "trajectory": self._averaged(self.trajectory)} if config.ema_decay else {})
        params = list(self.pose.parameters()) + list(self.trajectory.parameters())
        self.optimizer = torch.optim.Adam(params, lr=config.lr, amsgrad=True)
        self.epoch = 0
        self.history: list[dict] = []
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.pose_train = DistributedDataParallel(self.pose)
            self.trajectory_train = DistributedDataParallel(self.trajectory)
        else:
            self.pose_train, self.trajectory_train = self.pose, self.trajectory
        if self.rank == 0:
            logger.info("labeled clips %d (%d frames), unlabeled clips %d, validation clips %s; receptive field %d, "
                        "window %d frames", len(labeled), self.labeled.num_frames,
                        len(unlabeled) if self.unlabeled else 0,
                        {k: len(v) for k, v in data.validation.items()}, self.rf, self.window)

    def _init_from(self, path: Path) -> None:
        """Weights (and cumulative training totals) from a model file of the same architecture."""
        weights, metadata = load_model_file(path)
        for net, model in (("pose", self.pose), ("trajectory", self.trajectory)):
            saved = metadata[net]
            for key in ("filter_widths", "channels", "causal"):
                if saved[key] != asdict(self.config)[key]:
                    raise ValueError(f"{path} has {key}={saved[key]}, this run asks {asdict(self.config)[key]}")
            load_network_weights(model, weights, net)
        self.windows_seen, self.train_seconds = cumulative_training(metadata)
        logger.info("initialised from %s (%d windows, %.1f h of training before)", path, self.windows_seen,
                    self.train_seconds / 3600)

    def _averaged(self, model: torch.nn.Module) -> AveragedModel:
        """The weights' moving average (BatchNorm statistics too), which validation and export use: the
        last step's weights swing from epoch to epoch by more than an epoch of training gains."""
        decay = self.config.ema_decay

        def average(averaged: torch.Tensor, current: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
            # Warm-up (as timm's ModelEmaV3): early on the average follows quickly, so short runs and a
            # fresh start are not held at their first weights.
            step_decay = min(decay, (1 + float(count)) / (10 + float(count)))
            return averaged + (current - averaged) * (1 - step_decay)

        return AveragedModel(model, avg_fn=average, use_buffers=True)

    def published_state(self, net: str) -> dict[str, torch.Tensor]:
        """``net``'s (pose or trajectory) weights as validated and exported: the moving average if kept."""
        return (self.averages[net].module if net in self.averages else getattr(self, net)).state_dict()

    # -- data -----------------------------------------------------------------------------------------
    def _validation_set(self, clips: list[Clip]) -> dict[str, torch.Tensor]:
        """Fixed validation windows: ground-truth 2D through random cameras, and with detector errors.

        Windows are ``receptive field + 15`` frames, so that 16 consecutive outputs measure motion too."""
        bank = ClipBank(clips)
        rng = np.random.default_rng(12345)
        joints, head = bank.sample_windows(rng, self.config.validation_windows // 4 + 1, self.rf + 15)
        clean = SyntheticGenerator(seed=777).batch(joints, head, augment_body=False, detector_noise=False, flip=False)
        noisy = SyntheticGenerator(seed=777).batch(joints, head, augment_body=False, detector_noise=True, flip=False)
        return {"clean_inputs": torch.from_numpy(clean.inputs), "noisy_inputs": torch.from_numpy(noisy.inputs),
                "poses": torch.from_numpy(clean.poses), "trajectory": torch.from_numpy(clean.trajectory)}

    # -- training -------------------------------------------------------------------------------------
    def _set_epoch_schedule(self) -> None:
        cfg = self.config
        progress = self.epoch / max(1, cfg.epochs - 1)
        momentum = cfg.bn_momentum_start * (cfg.bn_momentum_end / cfg.bn_momentum_start) ** progress
        self.pose.set_bn_momentum(momentum)
        self.trajectory.set_bn_momentum(momentum)
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr * cfg.lr_decay**self.epoch

    def train_epoch(self) -> dict:
        cfg = self.config
        self._set_epoch_schedule()
        self.pose.train()
        self.trajectory.train()
        use_unlabeled = (self.unlabeled is not None or self.real_unlabeled is not None) and cfg.semi_supervised \
            and self.epoch >= cfg.warmup_epochs
        sums = {"pose": 0.0, "trajectory": 0.0, "velocity": 0.0, "reprojection": 0.0, "bone": 0.0}
        batches = _BatchStream(self, seed=(cfg.seed, self.rank, self.epoch), with_unlabeled=use_unlabeled)
        loader = torch.utils.data.DataLoader(batches, batch_size=None, num_workers=1, prefetch_factor=4)
        bar = tqdm(loader, total=cfg.steps_per_epoch, desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
                   disable=self.rank != 0, mininterval=5.0, dynamic_ncols=True)
        started = time.time()
        for inputs, poses, trajectory, unlabeled in bar:
            if use_unlabeled:
                count = len(inputs)
                both = torch.cat([inputs, unlabeled])
                pose_all = self.pose_train(both)
                traj_all = self.trajectory_train(both)[:, :, 0]
                pose_pred, traj_pred = pose_all[:count], traj_all[:count]
                pose_u, traj_u = pose_all[count:], traj_all[count:]
            else:
                pose_pred = self.pose_train(inputs)
                traj_pred = self.trajectory_train(inputs)[:, :, 0]
            pose_loss = mpjpe(pose_pred, poses)
            traj_loss = weighted_trajectory_error(traj_pred, trajectory)
            loss = pose_loss + traj_loss
            sums["pose"] += pose_loss.item()
            sums["trajectory"] += traj_loss.item()
            if cfg.chunk > 1 and cfg.velocity_weight > 0:
                velocity = velocity_error(pose_pred, poses)
                loss = loss + cfg.velocity_weight * velocity
                sums["velocity"] += velocity.item()
            if use_unlabeled:
                targets = unlabeled[:, self.centre : self.centre + cfg.chunk]
                reprojection = reprojection_error(pose_u, traj_u, targets)
                bone = bone_length_error(pose_u, pose_pred)
                loss = loss + cfg.reprojection_weight * reprojection + cfg.bone_weight * bone
                sums["reprojection"] += reprojection.item()
                sums["bone"] += bone.item()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            for net, average in self.averages.items():
                average.update_parameters(getattr(self, net))
            self.windows_seen += len(inputs) * self.world
            bar.set_postfix(mpjpe_mm=f"{1000 * pose_loss.item():.1f}")
        self.train_seconds += time.time() - started
        self.epoch += 1
        return {k: v / cfg.steps_per_epoch for k, v in sums.items()}

    @torch.no_grad()
    def validate(self) -> dict:
        """Per validation source: MPJPE, P-MPJPE and trajectory error with ground-truth 2D and with detector
        errors, plus, with detector errors, MPJVE and the predicted / true joint speed ratio."""
        self.pose_eval.load_state_dict(self.published_state("pose"))
        self.trajectory_eval.load_state_dict(self.published_state("trajectory"))
        self.pose_eval.eval()
        self.trajectory_eval.eval()
        result = {}
        for source, v in self.validation.items():
            outputs = v["poses"].shape[1] - self.rf + 1
            target = v["poses"][:, self.centre : self.centre + outputs].numpy()
            truth = v["trajectory"][:, self.centre : self.centre + outputs].numpy()
            for name in ("clean", "noisy"):
                inputs = v[f"{name}_inputs"].split(64)
                pred = torch.cat([self.pose_eval(chunk) for chunk in inputs]).numpy()
                pred[..., 0, :] = 0
                traj = torch.cat([self.trajectory_eval(chunk)[:, :, 0] for chunk in inputs]).numpy()
                prefix = f"{source}_{name}"
                result[f"{prefix}_mpjpe_mm"] = 1000 * float(np.linalg.norm(pred - target, axis=-1).mean())
                result[f"{prefix}_p_mpjpe_mm"] = 1000 * p_mpjpe(pred.reshape(-1, 17, 3), target.reshape(-1, 17, 3))
                result[f"{prefix}_trajectory_mm"] = 1000 * float(np.linalg.norm(traj - truth, axis=-1).mean())
                if name == "noisy":
                    pred_speed = np.linalg.norm(np.diff(pred, axis=1), axis=-1)[..., 1:]
                    true_speed = np.linalg.norm(np.diff(target, axis=1), axis=-1)[..., 1:]
                    velocity = np.linalg.norm(np.diff(pred - target, axis=1), axis=-1)[..., 1:]
                    result[f"{prefix}_mpjve_mm"] = 1000 * float(velocity.mean())
                    result[f"{prefix}_speed_ratio"] = float(pred_speed.mean() / max(true_speed.mean(), 1e-9))
        # The first source's figures keep their old names, for logs and tests that predate several sources.
        first = next(iter(self.validation))
        for key in [k for k in result if k.startswith(first + "_")]:
            result[key[len(first) + 1:]] = result[key]
        return result

    # -- checkpoints ----------------------------------------------------------------------------------
    def save(self) -> None:
        if self.rank != 0:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        state = {
            "pose": self.pose.state_dict(), "trajectory": self.trajectory.state_dict(),
            "optimizer": self.optimizer.state_dict(), "epoch": self.epoch, "config": json.dumps(asdict(self.config)),
            "history": json.dumps(self.history),
            "torch_rng": torch.get_rng_state(),
            "windows_seen": self.windows_seen, "train_seconds": self.train_seconds,
        }
        for net, average in self.averages.items():
            state[f"{net}_ema"] = average.state_dict()  # the averaged module's weights and n_averaged
        tmp = self.out / "checkpoint.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(self.out / "checkpoint.pt")

    def load(self, path: Path) -> None:
        state = torch.load(path, weights_only=True)
        saved = json.loads(state["config"])
        for key in ("filter_widths", "channels", "causal"):
            if saved[key] != asdict(self.config)[key]:
                raise ValueError(f"checkpoint {path} has {key}={saved[key]}, this run asks {asdict(self.config)[key]}")
        self.pose.load_state_dict(state["pose"])
        self.trajectory.load_state_dict(state["trajectory"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.history = json.loads(state["history"])
        torch.set_rng_state(state["torch_rng"])
        self.windows_seen = int(state.get("windows_seen", 0))
        self.train_seconds = float(state.get("train_seconds", 0.0))
        for net, average in self.averages.items():
            if f"{net}_ema" in state:
                average.load_state_dict(state[f"{net}_ema"])
            else:  # a checkpoint from before averaging: the average starts from its weights
                average.module.load_state_dict(getattr(self, net).state_dict())
        logger.info("resumed from %s at epoch %d", path, self.epoch)

    def run(self) -> None:
        start = time.time()
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        while self.epoch < self.config.epochs:
            losses = self.train_epoch()
            record = {"epoch": self.epoch, **{f"train_{k}": v for k, v in losses.items()},
                      "lr": self.optimizer.param_groups[0]["lr"], "elapsed_s": round(time.time() - start, 1),
                      "windows_seen": self.windows_seen, "train_hours": round(self.train_seconds / 3600, 3)}
            if self.rank == 0:
                record.update(self.validate())
                self.history.append(record)
                with open(self.out / "log.jsonl", "a") as log:
                    log.write(json.dumps(record) + "\n")
                logger.info("epoch %d: %s", self.epoch, ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                                  for k, v in record.items()))
            self.save()
            if self.rank == 0 and self.config.keep_every and self.epoch % self.config.keep_every == 0:
                # Kept so that the evaluate CLI, not the trainer's windows, can choose the epoch to ship.
                export_checkpoint(self.out / "checkpoint.pt", self.out / "models" / f"epoch_{self.epoch:03d}.npz")
        if self.distributed:
            dist.destroy_process_group()


def train_to_completion(config: TrainConfig) -> Trainer:
    """Train a run to ``config.epochs``, continuing from its checkpoint where one exists (a finished run only
    loads). The experiments' runs are resumed this way across sessions."""
    trainer = Trainer(config)
    checkpoint = Path(config.out) / "checkpoint.pt"
    if checkpoint.exists():
        trainer.load(checkpoint)
    trainer.run()
    return trainer


def cumulative_training(metadata: dict) -> tuple[int, float]:
    """(windows, seconds) of training behind a model file; for files from before these totals were kept,
    the windows its recorded run drew (epochs x steps x batch) and that run's elapsed time."""
    training = metadata.get("training", {})
    if "cumulative" in training:
        return int(training["cumulative"]["windows"]), float(training["cumulative"]["hours"]) * 3600
    config = training.get("config", {})
    windows = int(training.get("epochs", 0)) * int(config.get("steps_per_epoch", 0)) * int(config.get("batch_size", 0))
    return windows, float(training.get("last_epoch_validation", {}).get("elapsed_s", 0.0))


def _dataset_shares(clips: list[Clip], config: TrainConfig) -> dict[str, float] | None:
    """Window shares per dataset: CMU gets ``cmu_share`` when both sources train, split by frames within."""
    sources = {source_of(c.dataset) for c in clips}
    if sources != {"bandai", "cmu"}:
        return None
    if not 0 < config.cmu_share < 1:
        raise ValueError(f"cmu share must be in (0, 1), got {config.cmu_share}")
    frames: dict[str, int] = {}
    for clip in clips:
        frames[clip.dataset] = frames.get(clip.dataset, 0) + clip.num_frames
    share = {"cmu": config.cmu_share, "bandai": 1 - config.cmu_share}
    total = {s: sum(n for d, n in frames.items() if source_of(d) == s) for s in share}
    return {d: share[source_of(d)] * n / total[source_of(d)] for d, n in frames.items()}


class _BatchStream(torch.utils.data.IterableDataset):
    """One epoch of synthetic batches, generated in a worker process while the models train.

    Seeded from (seed, rank, epoch), so a resumed run draws the same data it would have drawn.
    """

    def __init__(self, trainer: Trainer, seed: tuple[int, int, int], with_unlabeled: bool):
        super().__init__()
        cfg = trainer.config
        self.labeled, self.unlabeled, self.real = trainer.labeled, trainer.unlabeled, trainer.real_unlabeled
        self.steps, self.batch_size, self.centre = cfg.steps_per_epoch, cfg.batch_size, trainer.centre
        self.window, self.chunk = trainer.window, cfg.chunk
        self.seed, self.with_unlabeled = seed, with_unlabeled

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        generator = SyntheticGenerator(AugmentationConfig(), seed=int(rng.integers(2**31)))
        empty = torch.zeros(0)
        for _ in range(self.steps):
            joints, head = self.labeled.sample_windows(rng, self.batch_size, self.window)
            b = generator.batch(joints, head)
            unlabeled = self._unlabeled(rng, generator) if self.with_unlabeled else empty
            outputs = slice(self.centre, self.centre + self.chunk)
            yield (torch.from_numpy(b.inputs), torch.from_numpy(b.poses[:, outputs]),
                   torch.from_numpy(b.trajectory[:, outputs]), unlabeled)

    def _unlabeled(self, rng: np.random.Generator, generator: SyntheticGenerator) -> torch.Tensor:
        parts, size = [], self.batch_size
        if self.real is not None:
            real = size // 4 if self.unlabeled is not None else size
            parts.append(torch.from_numpy(self.real.sample_windows(rng, real, self.window)))
            size -= real
        if self.unlabeled is not None and size > 0:
            joints, head = self.unlabeled.sample_windows(rng, size, self.window)
            parts.append(torch.from_numpy(generator.batch(joints, head).inputs))
        return torch.cat(parts)


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, bool]:
    defaults = TrainConfig(out="")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="run folder (checkpoint.pt, log.jsonl)")
    parser.add_argument("--filter-widths", default=",".join(map(str, defaults.filter_widths)))
    for name in ("channels", "epochs", "steps_per_epoch", "batch_size", "seed", "warmup_epochs", "validation_windows", "threads",
                 "chunk", "keep_every"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("dropout", "lr", "lr_decay", "labeled_fraction", "reprojection_weight", "bone_weight", "cmu_share",
                 "velocity_weight", "ema_decay", "bn_momentum_start", "bn_momentum_end"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--semi-supervised", action="store_true")
    parser.add_argument("--unlabeled-keypoints", nargs="*", default=[], help="keypoint .npz files of real videos")
    parser.add_argument("--sources", default=",".join(SOURCES), help="mocap sources to train on (bandai,cmu)")
    parser.add_argument("--unlabeled-sources", default="", help="sources seen only as unlabeled 2D (with --semi-supervised)")
    parser.add_argument("--init", default="", help="model file (.npz) whose weights start the run")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if present")
    args = parser.parse_args(argv)
    try:
        widths = [int(w) for w in args.filter_widths.split(",")]
    except ValueError:
        parser.error(f"--filter-widths must be comma-separated integers, got {args.filter_widths!r}")
    values = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}
    values["filter_widths"] = widths
    values["sources"] = [v for v in args.sources.split(",") if v]
    values["unlabeled_sources"] = [v for v in args.unlabeled_sources.split(",") if v]
    return TrainConfig(**values), args.resume


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config, resume = parse_args(argv)
    trainer = Trainer(config)
    checkpoint = Path(config.out) / "checkpoint.pt"
    if resume and checkpoint.exists():
        trainer.load(checkpoint)
    elif checkpoint.exists() and trainer.rank == 0:
        raise SystemExit(f"{checkpoint} exists: pass --resume to continue it or choose another --out")
    trainer.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Training throughput of the bundled architecture, beside the machine's matmul rate, in one run.

For each case it times real training steps of ``training.train.Trainer`` (pose + trajectory networks,
forward, backward, Adam step) and prints windows/s, supervised output frames/s and the model's GFLOP/s:

* ``gen on``: the trainer's own loop, synthetic batches generated in its data worker while the models train
  (what a training run gets);
* ``gen off``: the same steps on one pre-generated batch (the model math alone); for the single-frame case
  also ``gen off, Conv1d``, the strided model as the Conv1d stack it was before it became matrix products;
* ``gen only``: synthetic batch generation alone, in this process;
* ``torchrun 2x1`` (single-frame case only): the long run's set-up, two data-parallel processes of one
  thread, each with its own generation worker, 256 windows each per step (512 together), timed from the
  run's log over its second epoch.

Cases: ``single`` is the trainer before chunking (one output frame per window, strided model, 512 windows per
step); ``chunk N`` trains N consecutive output frames per window with the dilated model. ``bf16`` runs the
model under CPU bf16 autocast. The matmul line is the lifter's widest layer shape (13824x768 by 768x256,
forward and weight gradient), fp32 and bf16.

Usage: ``.venv/bin/python benchmarks/training.py [--steps 20] [--threads N]``. Pause any training run first
(``kill -STOP``): figures measured beside one are noise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from blender_vp3d.core.training.synthetic import SyntheticGenerator  # noqa: E402
from blender_vp3d.core.training.train import TrainConfig, Trainer, _BatchStream  # noqa: E402

# (name, chunk, batch windows, bf16)
CASES = [
    ("single", 1, 512, False),
    ("chunk 16", 16, 128, False),
    ("chunk 32", 32, 64, False),
    ("chunk 64", 64, 32, False),
]
#: Measured once (2026-12-01): bf16 autocast ran the chunked steps at 4 GFLOP/s against 48 in fp32 (torch
#: 2.13's CPU convolutions fall back to slow kernels under autocast), so it is no default case.
OPTIONAL_CASES = [("chunk 32 bf16", 32, 64, True)]


def matmul_gflops(dtype: torch.dtype, repeats: int = 10) -> float:
    a = torch.randn(13824, 768)
    w = torch.randn(768, 256, requires_grad=True)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if dtype == torch.bfloat16 else contextlib.nullcontext()
    def step() -> None:
        with autocast:
            out = a @ w
        out.float().sum().backward()
    step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    seconds = (time.perf_counter() - start) / repeats
    return 2 * 2 * 13824 * 768 * 256 / seconds / 1e9  # forward + weight gradient


def model_flops_per_output(trainer: Trainer, chunk: int) -> float:
    """Multiply-adds x 2, forward only, of both networks per supervised output frame."""
    cfg = trainer.config
    c, widths = cfg.channels, cfg.filter_widths
    total, frames = 0.0, trainer.window if chunk > 1 else trainer.rf
    per_net = []
    for out_joints in (17, 1):
        macs, length = 0.0, frames
        length = length - widths[0] + 1 if chunk > 1 else length // widths[0]
        macs += length * 51 * widths[0] * c
        dilation = widths[0]
        for w in widths[1:]:
            length = length - (w - 1) * dilation if chunk > 1 else length // w
            macs += length * (c * c * w + c * c)
            dilation *= w
        macs += length * c * out_joints * 3
        per_net.append(macs)
    total = 2 * sum(per_net)
    return total / chunk


def time_case(name: str, chunk: int, batch: int, bf16: bool, steps: int, out: Path) -> list[str]:
    config = TrainConfig(out=str(out / name.replace(" ", "_")), chunk=chunk, batch_size=batch,
                         steps_per_epoch=steps, epochs=1, validation_windows=64)
    trainer = Trainer(config)
    flops = model_flops_per_output(trainer, chunk)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    rows = []
    # gen on: the trainer's loop (data worker + model)
    trainer.train_epoch()  # warm-up (threads, allocator, worker start)
    start = time.perf_counter()
    with autocast:
        trainer.train_epoch()
    seconds = time.perf_counter() - start
    rows.append((f"{name}, gen on", steps * batch / seconds, steps * batch * chunk / seconds))
    # gen off: one pre-generated batch
    stream = iter(_BatchStream(trainer, seed=(0, 0, 0), with_unlabeled=False))
    inputs, poses, trajectory, _ = next(stream)
    from blender_vp3d.core.training.losses import mpjpe, velocity_error, weighted_trajectory_error
    def step(pose_forward, trajectory_forward) -> None:
        with autocast:
            pose = pose_forward(inputs)
            traj = trajectory_forward(inputs)[:, :, 0]
        loss = mpjpe(pose.float(), poses) + weighted_trajectory_error(traj.float(), trajectory)
        if chunk > 1:
            loss = loss + velocity_error(pose.float(), poses)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
    forwards = [("gen off", trainer.pose, trainer.trajectory)]
    if chunk == 1:  # the strided model's reference form, as the trainer ran it before session 5
        forwards.append(("gen off, Conv1d", trainer.pose.forward_conv, trainer.trajectory.forward_conv))
    for label, pose_forward, trajectory_forward in forwards:
        step(pose_forward, trajectory_forward)
        start = time.perf_counter()
        for _ in range(steps):
            step(pose_forward, trajectory_forward)
        seconds = time.perf_counter() - start
        rows.append((f"{name}, {label}", steps * batch / seconds, steps * batch * chunk / seconds))
    # gen only
    rng = np.random.default_rng(0)
    generator = SyntheticGenerator(seed=1)
    start = time.perf_counter()
    for _ in range(max(3, steps // 4)):
        joints, head = trainer.labeled.sample_windows(rng, batch, trainer.window)
        generator.batch(joints, head)
    seconds = (time.perf_counter() - start) / max(3, steps // 4)
    rows.append((f"{name}, gen only", batch / seconds, batch * chunk / seconds))
    if chunk == 1 and not bf16:
        windows = torchrun_windows_per_second(steps, out / "torchrun")
        rows.append((f"{name}, torchrun 2x1", windows, windows))
    lines = []
    for label, windows, outputs in rows:
        gflops = 3 * flops * outputs / 1e9 if "gen only" not in label else float("nan")  # fwd + bwd ~ 3x fwd
        lines.append(f"{label:28s} {windows:10.0f} {outputs:14.0f} {gflops:10.1f}")
    return lines


def torchrun_windows_per_second(steps: int, out: Path, processes: int = 2) -> float:
    """Windows/s of ``train`` under torchrun (``processes`` x 1 thread, 512 windows a step in all), measured
    between the ends of its first and second epoch (start-up excluded)."""
    steps = max(steps, 10)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--master_port", "29561", "-m", "blender_vp3d.core.training.train", "--out", str(out),
               "--batch-size", str(512 // processes), "--steps-per-epoch", str(steps), "--epochs", "2",
               "--validation-windows", "64", "--threads", "1", "--keep-every", "0"]
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT, timeout=1800)
    first, second = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return (second["windows_seen"] - first["windows_seen"]) / (second["elapsed_s"] - first["elapsed_s"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per case")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cases", default="all", help="comma-separated case names, or all")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads")
    print(f"matmul 13824x768 @ 768x256, fwd + weight grad: fp32 {matmul_gflops(torch.float32):.0f} GFLOP/s, "
          f"bf16 autocast {matmul_gflops(torch.bfloat16):.0f} GFLOP/s")
    print(f"{'case':28s} {'windows/s':>10s} {'out frames/s':>14s} {'GFLOP/s':>10s}")
    chosen = CASES if args.cases == "all" else [c for c in CASES + OPTIONAL_CASES if c[0] in args.cases.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for case in chosen:
            for line in time_case(*case, steps=args.steps, out=Path(tmp)):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Small runs of equal length that choose the lifter's design: receptive field, width, data mix, Bandai's share.

    python -m blender_vp3d.core.training.design_experiment --out runs/design
    python -m blender_vp3d.core.training.design_experiment --out runs/design --runs base,rf243 --epochs 6

Every run starts from scratch with the same steps, batch and schedule; only the named setting differs:

* ``base``: the bundled architecture (filter widths 3,3,3,3: 81 frames; 256 channels), Bandai + CMU, half the
  windows from each;
* ``rf243``: five layers (3,3,3,3,3: 243 frames);
* ``c512``: 512 channels (four times the multiply-adds);
* ``cmu-only``: CMU alone (what a commercially usable model can be trained on), so ``base - cmu-only`` is what
  Bandai adds;
* ``share25``, ``share75``: a quarter or three quarters of the windows from CMU.

Scored on the trainer's fixed validation windows of both sources with the detector-error model. Finished runs
are skipped and unfinished ones resumed, so a longer ``--epochs`` continues the same runs in a later session.
The table gives seconds per step as measured (noise where the machine is shared) beside the scores; compare
designs at equal steps and at equal time with that column. Prints a markdown table and writes it, with the
raw figures, to ``OUT/results.md`` and ``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

from .train import TrainConfig, train_to_completion

#: name -> settings that differ from the base run
RUNS: dict[str, dict] = {
    "base": {},
    "rf243": {"filter_widths": [3, 3, 3, 3, 3]},
    "c512": {"channels": 512},
    "cmu-only": {"sources": ["cmu"]},
    "share25": {"cmu_share": 0.25},
    "share75": {"cmu_share": 0.75},
}


def base_config(epochs: int, steps: int, batch: int, threads: int) -> TrainConfig:
    return TrainConfig(out="", epochs=epochs, steps_per_epoch=steps, batch_size=batch, lr=1e-3, lr_decay=0.95,
                       validation_windows=2048, threads=threads)


def run_design(out: Path, names: list[str], base: TrainConfig) -> str:
    """Train (or resume, or skip when finished) each named run under ``out``; returns the markdown table."""
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        raise ValueError(f"unknown runs {unknown}; choose from {', '.join(RUNS)}")
    rows = []
    for name in names:
        config = replace(base, out=str(out / name), **RUNS[name])
        trainer = train_to_completion(config)
        last = trainer.history[-1]
        rows.append({"run": name, "receptive_field": trainer.rf, "channels": config.channels,
                     "sources": config.sources, "cmu_share": config.cmu_share,
                     "seconds_per_step": trainer.train_seconds / max(1, trainer.epoch * config.steps_per_epoch), **last})
    table = format_table(rows)
    (out / "results.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    return table


def format_table(rows: list[dict]) -> str:
    lines = ["| run | receptive field | channels | data | windows | s/step | CMU MPJPE | CMU P-MPJPE | CMU speed ratio "
             "| Bandai MPJPE | Bandai P-MPJPE |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        data = "CMU" if r["sources"] == ["cmu"] else f"Bandai + CMU ({r['cmu_share']:.0%} CMU)"
        lines.append(f"| {r['run']} | {r['receptive_field']} | {r['channels']} | {data} | {r['windows_seen']:,} "
                     f"| {r['seconds_per_step']:.2f} | {r['cmu_noisy_mpjpe_mm']:.1f} | {r['cmu_noisy_p_mpjpe_mm']:.1f} "
                     f"| {r['cmu_noisy_speed_ratio']:.2f} | {r['bandai_noisy_mpjpe_mm']:.1f} "
                     f"| {r['bandai_noisy_p_mpjpe_mm']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/design"))
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, from {', '.join(RUNS)}")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    base = base_config(args.epochs, args.steps_per_epoch, args.batch_size, args.threads)
    print(run_design(args.out, [n for n in args.runs.split(",") if n], base))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The paper's semi-supervised experiment on our data: supervised vs semi-supervised as labels shrink.

    python -m blender_vp3d.core.training.semi_experiment --out runs/semi-cross --setting cross-source
    python -m blender_vp3d.core.training.semi_experiment --out runs/semi --setting within-bandai

Trains small models (receptive field 27, 128 channels: the experiment compares training modes, not the
bundled model) on 100%, 10% and 1% of the Bandai training clips as labeled data.

* ``cross-source`` (the setting where the paper's claim should hold): the semi-supervised runs see the CMU
  training subjects as unlabeled 2D only; both modes are scored on the held-out CMU subjects (new people and
  new motion) and on the Bandai validation styles.
* ``within-bandai``: the unlabeled 2D is the remaining Bandai training clips; at 100% none is left, so only the
  supervised run exists.

Every run has the same number of steps. Finished runs are skipped, unfinished ones resumed. Prints a
markdown table of validation MPJPE with the detector-error model.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from .train import TrainConfig, train_to_completion

SETTINGS = {
    "cross-source": [(1.0, False), (1.0, True), (0.1, False), (0.1, True), (0.01, False), (0.01, True)],
    "within-bandai": [(1.0, False), (0.1, False), (0.1, True), (0.01, False), (0.01, True)],
}


def run_experiment(out: Path, epochs: int, steps: int, threads: int, setting: str = "cross-source") -> str:
    rows = []
    for fraction, semi in SETTINGS[setting]:
        name = f"{'semi' if semi else 'sup'}_{fraction:g}"
        config = TrainConfig(out=str(out / name), filter_widths=[3, 3, 3], channels=128, batch_size=256,
                             steps_per_epoch=steps, epochs=epochs, lr_decay=0.9, labeled_fraction=fraction,
                             semi_supervised=semi, warmup_epochs=2, validation_windows=2048, threads=threads,
                             sources=["bandai"],
                             unlabeled_sources=["cmu"] if (semi and setting == "cross-source") else [])
        trainer = train_to_completion(config)
        last = trainer.history[-1]
        rows.append((fraction, semi, last))
    lines = ["| labeled Bandai clips | mode | CMU subjects MPJPE (mm) | CMU P-MPJPE (mm) | Bandai styles MPJPE (mm) |",
             "| --- | --- | --- | --- | --- |"]
    for fraction, semi, last in rows:
        lines.append(f"| {fraction:.0%} | {'semi-supervised' if semi else 'supervised'} "
                     f"| {last['cmu_noisy_mpjpe_mm']:.1f} | {last['cmu_noisy_p_mpjpe_mm']:.1f} "
                     f"| {last['bandai_noisy_mpjpe_mm']:.1f} |")
    table = "\n".join(lines)
    (out / "results.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps([{"fraction": f, "semi": s, **r} for f, s, r in rows], indent=1))
    return table


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/semi"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="cross-source")
    args = parser.parse_args(argv)
    print(run_experiment(args.out, args.epochs, args.steps_per_epoch, args.threads, args.setting))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

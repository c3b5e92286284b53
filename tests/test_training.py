"""Training on the real Bandai clips, tiny: it learns, resumes, runs semi-supervised and under torchrun."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from blender_vp3d.core.training.train import TrainConfig, Trainer, split_labeled  # noqa: E402


def _tiny(out, **overrides) -> TrainConfig:
    values = dict(out=str(out), filter_widths=[3, 3], channels=48, batch_size=64, steps_per_epoch=25, epochs=2,
                  validation_windows=256, threads=1)
    values.update(overrides)
    return TrainConfig(**values)


def test_training_learns_and_resumes(tmp_path, bandai_split):
    trainer = Trainer(_tiny(tmp_path))
    before = trainer.validate()["clean_mpjpe_mm"]
    trainer.run()
    after = trainer.history[-1]["clean_mpjpe_mm"]
    assert after < 0.8 * before, (before, after)
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]

    resumed = Trainer(_tiny(tmp_path, epochs=3))
    resumed.load(tmp_path / "checkpoint.pt")
    assert resumed.epoch == 2
    for name, value in trainer.pose.state_dict().items():
        torch.testing.assert_close(resumed.pose.state_dict()[name], value)
    resumed.run()
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]


def test_moving_average_is_validated_exported_kept_and_resumed(tmp_path, bandai_split):
    from blender_vp3d.core import Lifter
    from blender_vp3d.core.lift.model_file import load_model_file

    trainer = Trainer(_tiny(tmp_path, epochs=2, steps_per_epoch=8, ema_decay=0.99))
    trainer.run()
    averaged, raw = trainer.published_state("pose"), trainer.pose.state_dict()
    assert not torch.allclose(averaged["expand_conv.weight"], raw["expand_conv.weight"])
    kept = sorted(p.name for p in (tmp_path / "models").iterdir() if p.suffix == ".npz")
    assert kept == ["epoch_001.npz", "epoch_002.npz"]
    weights, _ = load_model_file(tmp_path / "models" / "epoch_002.npz")
    for name, value in averaged.items():
        if not name.endswith("num_batches_tracked"):
            np.testing.assert_array_equal(weights[f"pose/{name}"], value.numpy())
    assert Lifter.load(tmp_path / "models" / "epoch_001.npz").metadata["training"]["epochs"] == 1
    # a kept epoch ships through the export command, with the evaluate figures stored in it
    (tmp_path / "metrics.json").write_text(json.dumps({"evaluate": {"note": "measured"}}))
    subprocess.run([sys.executable, "-m", "blender_vp3d.core.training.export", str(tmp_path / "models" / "epoch_001.npz"),
                    str(tmp_path / "shipped.npz"), "--metrics-json", str(tmp_path / "metrics.json")], check=True)
    shipped = Lifter.load(tmp_path / "shipped.npz").metadata
    assert shipped["metrics"] == {"evaluate": {"note": "measured"}} and shipped["training"]["epochs"] == 1

    resumed = Trainer(_tiny(tmp_path, epochs=3, steps_per_epoch=8, ema_decay=0.99))
    resumed.load(tmp_path / "checkpoint.pt")
    for name, value in averaged.items():
        torch.testing.assert_close(resumed.published_state("pose")[name], value)
    with pytest.raises(ValueError, match="ema decay"):
        Trainer(_tiny(tmp_path / "x", ema_decay=1.0))


def test_chunked_training_learns_motion_on_both_sources(tmp_path, bandai_split):
    trainer = Trainer(_tiny(tmp_path, chunk=8, batch_size=16, steps_per_epoch=60, epochs=1))
    assert {source for source in trainer.validation} == {"bandai", "cmu"}
    before = trainer.validate()
    trainer.run()
    after = trainer.history[-1]
    for source in ("bandai", "cmu"):
        assert after[f"{source}_noisy_mpjpe_mm"] < 0.8 * before[f"{source}_noisy_mpjpe_mm"], source
        assert after[f"{source}_noisy_speed_ratio"] > 0 and after[f"{source}_noisy_mpjve_mm"] > 0
    assert after["train_velocity"] > 0
    assert after["windows_seen"] == 60 * 16


def test_dataset_shares_set_how_often_each_source_is_drawn(bandai_split):
    from blender_vp3d.core.training.datasets import load_training_data
    from blender_vp3d.core.training.synthetic import ClipBank
    from blender_vp3d.core.training.train import _dataset_shares

    clips = load_training_data().train
    bank = ClipBank(clips, _dataset_shares(clips, _tiny("unused", cmu_share=0.3)))
    datasets = np.array([c.dataset for c in clips])
    np.testing.assert_allclose(bank.weights[datasets == "cmu"].sum(), 0.3)
    assert ClipBank(clips).weights[datasets == "cmu"].sum() < 0.3  # by frames CMU is the smaller source


def test_init_starts_from_a_model_file_and_carries_its_totals(tmp_path, bandai_split):
    from blender_vp3d.core.training.export import export_checkpoint

    first = Trainer(_tiny(tmp_path / "a", epochs=1, steps_per_epoch=3))
    first.run()
    model = export_checkpoint(tmp_path / "a" / "checkpoint.pt", tmp_path / "a.npz")
    second = Trainer(_tiny(tmp_path / "b", init=str(model), chunk=4))
    for name, value in first.published_state("pose").items():  # the moving average is what is exported
        if not name.endswith("num_batches_tracked"):
            torch.testing.assert_close(second.pose.state_dict()[name], value)
    assert second.windows_seen == first.windows_seen == 3 * 64
    with pytest.raises(ValueError, match="channels"):
        Trainer(_tiny(tmp_path / "c", init=str(model), channels=32))


def test_checkpoint_of_another_architecture_is_refused(tmp_path, bandai_split):
    trainer = Trainer(_tiny(tmp_path, epochs=1, steps_per_epoch=2))
    trainer.run()
    other = Trainer(_tiny(tmp_path, channels=32))
    with pytest.raises(ValueError, match="channels"):
        other.load(tmp_path / "checkpoint.pt")


def test_semi_supervised_terms_are_trained(tmp_path, bandai_split):
    trainer = Trainer(_tiny(tmp_path, epochs=1, steps_per_epoch=5, labeled_fraction=0.1, semi_supervised=True,
                            warmup_epochs=0))
    trainer.run()
    record = trainer.history[-1]
    assert record["train_reprojection"] > 0 and record["train_bone"] > 0


def test_unlabeled_sources_feed_only_the_semi_supervised_terms(tmp_path, bandai_split):
    trainer = Trainer(_tiny(tmp_path, epochs=1, steps_per_epoch=3, semi_supervised=True, warmup_epochs=0,
                            sources=["bandai"], unlabeled_sources=["cmu"]))
    assert {c.dataset for c in trainer.labeled_clips} == {"bandai-1", "bandai-2"}
    assert trainer.unlabeled is not None and trainer.unlabeled.num_frames > 100_000  # CMU's training takes
    trainer.run()
    assert trainer.history[-1]["train_reprojection"] > 0
    with pytest.raises(ValueError, match="not both"):
        Trainer(_tiny(tmp_path / "x", semi_supervised=True, sources=["bandai", "cmu"], unlabeled_sources=["cmu"]))


def test_labeled_split_is_deterministic_and_covers_both_datasets(bandai_split):
    train, _ = bandai_split
    labeled, unlabeled = split_labeled(train, 0.1)
    again, _ = split_labeled(train, 0.1)
    assert [c.name for c in labeled] == [c.name for c in again]
    assert {c.dataset for c in labeled} == {"bandai-1", "bandai-2"}
    assert not {c.name for c in labeled} & {c.name for c in unlabeled}
    assert abs(len(labeled) / len(train) - 0.1) < 0.01


def test_torchrun_data_parallel(tmp_path, bandai_split):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
               "-m", "blender_vp3d.core.training.train", "--out", str(out), "--filter-widths", "3,3",
               "--channels", "32", "--batch-size", "32", "--steps-per-epoch", "3", "--epochs", "1",
               "--validation-windows", "64", "--threads", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "checkpoint.pt").exists()
    assert len((out / "log.jsonl").read_text().splitlines()) == 1


def test_checkpoint_exports_to_a_lifter_and_evaluates(tmp_path, bandai_split):
    from blender_vp3d.core import Lifter
    from blender_vp3d.core.training.evaluate import evaluate_model, format_table
    from blender_vp3d.core.training.export import export_checkpoint

    trainer = Trainer(_tiny(tmp_path, epochs=1, steps_per_epoch=10))
    trainer.run()
    path = export_checkpoint(tmp_path / "checkpoint.pt", tmp_path / "model.npz", metrics={"note": "tiny"})
    lifter = Lifter.load(path)
    assert lifter.metadata["licence"].startswith("Weights trained on CC BY-NC 4.0")
    _, validation = bandai_split
    clips = [c for c in validation if c.dataset == "bandai-1"][:2] + [c for c in validation if c.dataset == "bandai-2"][:2]
    clean = evaluate_model(lifter, clips, detector_noise=False)
    noisy = evaluate_model(lifter, clips, detector_noise=True)
    assert set(clean) == {c.action for c in clips} | {"overall"}
    assert clean["overall"].frames == sum(c.num_frames for c in clips)
    # a barely trained model is poor but human-scale, and errors are finite
    assert 0.03 < clean["overall"].mpjpe < 0.5 and 0.03 < noisy["overall"].mpjpe < 0.5
    assert "| overall |" in format_table(clean)


def test_unlabeled_keypoint_files_fill_gaps_like_the_lifter(tmp_path):
    from blender_vp3d.core.training.keypoint_files import load_unlabeled_keypoints

    t = np.arange(60)
    keypoints = np.zeros((60, 17, 3))
    keypoints[..., 0] = 500 + 2 * t[:, None]
    keypoints[..., 1] = 400 + 10 * np.arange(17)[None]
    keypoints[..., 2] = 0.9
    keypoints[20:25, 9] = np.nan  # a wrist lost for five frames
    keypoints[40, :, 2] = 0.0     # a frame without detection
    path = tmp_path / "kp.npz"
    np.savez(path, keypoints=keypoints, image_size=np.array([1280, 720]), focal_px=np.array(1000.0),
             fps=np.array(30.0))
    sequence = load_unlabeled_keypoints([path]).sequences[0]
    assert np.isfinite(sequence).all()
    assert (sequence[20:25, 9, 2] == 0).all() and (sequence[40, :, 2] == 0).all()
    expected_x = (500 + 2 * t - 640) / 1000.0
    np.testing.assert_allclose(sequence[:, 9, 0], expected_x, atol=1e-9)  # linear motion: filling is exact


def test_design_experiment_trains_each_setting_once_and_tables_it(tmp_path, bandai_split):
    from blender_vp3d.core.training.design_experiment import run_design

    base = _tiny("", steps_per_epoch=5, epochs=1, batch_size=16)
    table = run_design(tmp_path, ["base", "cmu-only"], base)
    rows = {r["run"]: r for r in json.loads((tmp_path / "results.json").read_text())}
    assert rows["base"]["sources"] == ["bandai", "cmu"] and rows["cmu-only"]["sources"] == ["cmu"]
    assert rows["cmu-only"]["bandai_noisy_mpjpe_mm"] > 0  # measured on Bandai without training on it
    assert "| cmu-only | 9 | 48 | CMU |" in table
    # finished runs are skipped: a second call trains nothing more
    run_design(tmp_path, ["base"], base)
    assert json.loads((tmp_path / "results.json").read_text())[0]["windows_seen"] == 5 * 16
    with pytest.raises(ValueError, match="unknown runs"):
        run_design(tmp_path, ["wide"], base)

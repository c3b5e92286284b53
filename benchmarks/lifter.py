#!/usr/bin/env python3
"""Speed of the numpy inference engine against the torch reference, on the same weights and thread count.

Measures output frames per second of pose + trajectory networks on a 10,000-frame clip, with and without
test-time flip (flip runs the clip and its mirror image as a batch of two), for:

* ``numpy``: ``core.lift.inference.NumpyTemporalModel`` (what the add-on runs);
* ``torch``: ``training.model.TemporalModel`` in eval mode under ``torch.no_grad()``;
* ``lift``: the whole ``Lifter.lift`` from pixels (validation, filling, normalisation, padding, flip).

Weights: the bundled model if present, else a freshly initialised model with the shipping configuration
(filter widths 3,3,3,3, 256 channels; BatchNorm statistics randomised), exported to a temporary model file, so
both engines read the same file.

Threads: ``--threads N`` (default: all cores). torch gets ``torch.set_num_threads(N)``. numpy's BLAS is limited
by ``threadpoolctl`` when installed; otherwise OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS are set
to N *before numpy is first imported* (the imports below are deferred for that reason; if numpy is already
loaded, the benchmark re-runs itself in a fresh interpreter). The BLAS thread count actually in effect is
read back from OpenBLAS where possible and printed.

Usage: ``.venv/bin/python benchmarks/lifter.py [--threads N] [--frames 10000] [--repeats 3] [--model PATH]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for numpy and torch")
    parser.add_argument("--frames", type=int, default=10_000, help="output frames of the clip")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case; the fastest counts")
    parser.add_argument("--model", type=Path, default=None, help="model file (default: bundled, else random)")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.frames < 1 or args.repeats < 1:
        parser.error("--threads, --frames and --repeats must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    has_threadpoolctl = importlib.util.find_spec("threadpoolctl") is not None
    if not has_threadpoolctl and "numpy" in sys.modules:
        # Too late for environment variables in this interpreter.
        argv = sys.argv[1:] if argv is None else argv
        return subprocess.call([sys.executable, str(Path(__file__).resolve()), *argv])
    if not has_threadpoolctl:
        for name in THREAD_VARIABLES:
            os.environ[name] = str(args.threads)
    sys.path.insert(0, str(ROOT))
    return _run(args, has_threadpoolctl)


def _run(args: argparse.Namespace, has_threadpoolctl: bool) -> int:
    import numpy as np
    import torch

    from blender_vp3d.core import Lifter
    from blender_vp3d.core.lift.bundled import bundled_model_paths
    from blender_vp3d.core.skeleton import COCO17
    from blender_vp3d.core.training.export import export_models, load_torch_models
    from blender_vp3d.core.training.model import ModelConfig, TemporalModel, trajectory_config

    if has_threadpoolctl:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        how = "threadpoolctl"
    else:
        how = "env " + ",".join(THREAD_VARIABLES)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or next((p for p in bundled_model_paths() if p.is_file()), None)
        if path is None:
            torch.manual_seed(0)
            config = ModelConfig(filter_widths=[3, 3, 3, 3], channels=256)
            models = [TemporalModel(config), TemporalModel(trajectory_config(config))]
            for model in models:
                for module in model.modules():
                    if isinstance(module, torch.nn.BatchNorm1d):
                        with torch.no_grad():
                            module.running_mean.normal_(0, 0.3)
                            module.running_var.uniform_(0.5, 1.5)
            path = export_models(*models, Path(tmp) / "random.npz",
                                 {"training_data": "none (random weights)", "licence": "CC0"})
            source = "random weights, filter widths [3, 3, 3, 3], 256 channels"
        else:
            source = str(path)
        lifter = Lifter.load(path)
        torch_pose, torch_traj = load_torch_models(path)

    rf, frames = lifter.receptive_field, args.frames
    rng = np.random.default_rng(0)
    clip = rng.normal(0, 0.3, (frames + rf - 1, 17, 3)).astype(np.float32)
    clip[..., 2] = rng.random(clip.shape[:2])
    mirrored = clip[:, COCO17.flip_permutation()] * np.array([-1, 1, 1], np.float32)
    batches = {False: clip[None], True: np.stack([clip, mirrored])}

    def numpy_run(batch):
        return lambda: (lifter.pose(batch), lifter.trajectory(batch))

    def torch_run(batch):
        tensor = torch.from_numpy(np.ascontiguousarray(batch))

        def run():
            with torch.no_grad():
                return torch_pose(tensor), torch_traj(tensor)
        return run

    pixels = rng.uniform(200, 800, (frames, 17, 3))
    pixels[..., 2] = rng.uniform(0.3, 1.0, (frames, 17))
    cases = {}
    for flip in (False, True):
        cases["numpy", flip] = numpy_run(batches[flip])
        cases["torch", flip] = torch_run(batches[flip])
        cases["lift", flip] = lambda flip=flip: lifter.lift(pixels, image_size=(1920, 1080), flip=flip)
    # Round robin, fastest run counts: on a busy machine every case sees the same background load.
    best = {key: float("inf") for key in cases}
    for repeat in range(args.repeats + 1):
        for key, run in cases.items():
            start = time.perf_counter()
            run()
            if repeat > 0:  # the first round warms up
                best[key] = min(best[key], time.perf_counter() - start)
    results = {key: frames / seconds for key, seconds in best.items()}

    print(f"model: {source} (receptive field {rf})")
    print(f"clip: {frames} output frames; threads: {args.threads} (torch.set_num_threads, numpy via {how}; "
          f"OpenBLAS reports {_openblas_threads(np)}); torch {torch.__version__}, numpy {np.__version__}; "
          f"best of {args.repeats}")
    print(f"{'engine':<8}{'flip':<6}{'frames/s':>12}")
    for (engine, flip), fps in results.items():
        print(f"{engine:<8}{'yes' if flip else 'no':<6}{fps:>12,.0f}")
    for flip in (False, True):
        ratio = results["numpy", flip] / results["torch", flip]
        print(f"numpy/torch ratio, flip {'yes' if flip else 'no'}: {ratio:.2f}")
    return 0


def _openblas_threads(np) -> str:
    """Thread count of numpy's bundled OpenBLAS, read through ctypes; 'unknown' when that is not possible."""
    import ctypes

    libs = sorted((Path(np.__file__).resolve().parent.parent / "numpy.libs").glob("libopenblas*.so*"))
    for lib in libs:
        try:
            handle = ctypes.CDLL(str(lib))
        except OSError:
            continue
        for symbol in ("openblas_get_num_threads64_", "openblas_get_num_threads"):
            if hasattr(handle, symbol):
                return str(getattr(handle, symbol)())
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())

"""Loading a TFLite model into LiteRT, without the outputs we never read.

LiteRT runs every operator of a model whatever outputs are read. BlazePose's landmark model also predicts a
256x256 segmentation mask that pose detection does not use; its decoder works at full resolution and takes
about half of the model's time on a CPU (measured: 13.7 -> 7.1 ms a call on one core, other outputs
bit-identical). :func:`prune_outputs` rewrites the model in memory without those outputs and without every
operator that only they need, using the TFLite flatbuffer schema that ships with ``ai_edge_litert`` (its
``flatbuffers`` dependency comes along). The pruned model is kept in the user's cache folder, keyed by the
source model's hash, because rebuilding it cost a fifth of a second at every start. If pruning is impossible
the full model is used, only slower.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic import write_atomically

logger = logging.getLogger(__name__)


def prune_outputs(model: bytes, drop: Callable[[str, tuple[int, ...]], bool]) -> bytes:
    """``model`` without the outputs for which ``drop(name, shape)`` is true, nor the operators only they need."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    tree = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    if not tree.subgraphs or len(tree.subgraphs) != 1:
        raise ValueError("expected a model with one subgraph")
    graph = tree.subgraphs[0]
    kept = [int(i) for i in graph.outputs
            if not drop(graph.tensors[i].name.decode(), tuple(int(n) for n in graph.tensors[i].shape))]
    if len(kept) == len(graph.outputs):
        return model
    if tree.signatureDefs:
        raise ValueError("models with signatures are not pruned")  # their outputs would dangle
    producer = {int(t): k for k, op in enumerate(graph.operators) for t in op.outputs}
    needed: set[int] = set()
    pending = list(kept)
    while pending:
        op = producer.get(pending.pop())
        if op is not None and op not in needed:
            needed.add(op)
            pending.extend(int(t) for t in graph.operators[op].inputs if t >= 0)
    graph.operators = [op for k, op in enumerate(graph.operators) if k in needed]  # order kept: still topological
    graph.outputs = kept
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


PRUNE_FORMAT = 1  # part of the on-disk key: raise it when prune_outputs changes what it writes
_PRUNED: dict[tuple, tuple[bytes, Path]] = {}
_PRUNED_LOCK = threading.Lock()


def dropped_outputs(model: bytes, drop: Callable[[str, tuple[int, ...]], bool]) -> list[str]:
    """Names of the outputs of ``model`` that ``drop`` removes, read without unpacking the whole model (cheap)."""
    from ai_edge_litert import schema_py_generated as schema

    graph = schema.Model.GetRootAs(model, 0).Subgraphs(0)
    names = []
    for j in range(graph.OutputsLength()):
        tensor = graph.Tensors(graph.Outputs(j))
        name, shape = tensor.Name().decode(), tuple(int(n) for n in tensor.ShapeAsNumpy())
        if drop(name, shape):
            names.append(name)
    return names


def pruned_cache_dir() -> Path:
    """Where pruned models are kept between runs: ``models/`` in the detection cache's folder."""
    from .detection_cache import default_cache_dir

    return default_cache_dir() / "models"


def _pruned(path: Path, drop: Callable[[str, tuple[int, ...]], bool], cache_dir: Path | None
            ) -> tuple[bytes, Path]:
    """:func:`prune_outputs` of the file at ``path``, and where it is kept on disk.

    Remembered per file version in memory (every detector of a parallel pool and every capture of a batch loads
    the same model) and on disk under ``cache_dir``: pruning unpacks and repacks the whole flatbuffer, 0.2-0.3 s
    of a capture's start-up, against about 10 ms to hash the source and read the cached copy. The disk copy is named by the SHA-256 of the source model, the names of
    the dropped outputs and :data:`PRUNE_FORMAT`, so an edited model or another choice of outputs never reads
    a stale one; a cached copy that no longer loads is rebuilt by the caller (see :func:`load_interpreter`)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, drop)
    with _PRUNED_LOCK:
        if key in _PRUNED:
            return _PRUNED[key]
        model = path.read_bytes()
        digest = hashlib.sha256(model)
        digest.update(f"\0{PRUNE_FORMAT}\0".encode() + "\0".join(dropped_outputs(model, drop)).encode())
        folder = pruned_cache_dir() if cache_dir is None else cache_dir
        cached = folder / f"{path.stem}-pruned-{digest.hexdigest()[:32]}.tflite"
        try:
            content = cached.read_bytes()
        except OSError:
            content = prune_outputs(model, drop)
            try:
                write_atomically(cached, lambda f: f.write(content))
            except OSError as exc:  # a read-only cache folder costs speed only
                logger.info("cannot keep the pruned %s in %s (%s)", path.name, folder, exc)
        _PRUNED[key] = content, cached
        return _PRUNED[key]


def _forget(path: Path, cached: Path) -> None:
    """Drop a pruned copy of ``path`` that did not load, from memory and from disk: it is rebuilt next time."""
    with _PRUNED_LOCK:
        for key in [k for k in _PRUNED if k[0] == str(path.resolve())]:
            del _PRUNED[key]
    cached.unlink(missing_ok=True)


def _ready(interpreter_class: Any, content: bytes, num_threads: int) -> Any:
    interpreter = interpreter_class(model_content=content, num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def load_interpreter(
    path: Path,
    *,
    num_threads: int,
    input_shape: tuple[int, ...],
    drop: Callable[[str, tuple[int, ...]], bool] | None = None,
    cache_dir: Path | None = None,
) -> Any:
    """A ready ``ai_edge_litert`` interpreter for the model file at ``path``.

    drop:      outputs never read (see :func:`prune_outputs`); the model runs without them when it can.
    cache_dir: where the pruned model is kept between runs (default: :func:`pruned_cache_dir`).

    Raises FileNotFoundError (missing file), ValueError (not a usable model, or input shape other than
    ``input_shape``), ImportError (no ai-edge-litert); each message names the file.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == "ai_edge_litert":
            raise ImportError("BlazePose needs the ai-edge-litert package (pip install ai-edge-litert==2.3.0)") from exc
        # Installed but broken, e.g. the wheel for another Python (undefined symbol ...): say so, not "missing".
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        raise ImportError(f"ai-edge-litert is installed but does not load in Python {python}: "
                          f"{' '.join(str(exc).split())}") from exc
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path} (in a source checkout: run python3 build.py env)")
    interpreter = None
    if drop is not None:
        try:
            pruned, cached = _pruned(path, drop, cache_dir)
        except Exception as exc:  # any parse failure: the full model still works (or fails clearly below)
            logger.info("cannot prune unused outputs of %s (%s); running the full model", path.name, exc)
        else:
            try:
                interpreter = _ready(Interpreter, pruned, num_threads)
            except (ValueError, RuntimeError) as exc:
                logger.info("the pruned %s does not load (%s); running the full model", path.name, exc)
                _forget(path, cached)
    if interpreter is None:
        try:
            interpreter = _ready(Interpreter, path.read_bytes(), num_threads)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"model file {path} is not a usable TFLite model ({exc})") from exc
    shape = tuple(int(n) for n in interpreter.get_input_details()[0]["shape"])
    if shape != input_shape:
        raise ValueError(f"model file {path} has input shape {shape}, expected {input_shape}: wrong model?")
    return interpreter


def output_index(interpreter: Any, shape: tuple[int, ...], path: Path) -> int:
    """Index of the model output with ``shape``; ValueError naming the file if there is none."""
    for detail in interpreter.get_output_details():
        if tuple(int(n) for n in detail["shape"]) == shape:
            return int(detail["index"])
    found = [tuple(int(n) for n in d["shape"]) for d in interpreter.get_output_details()]
    raise ValueError(f"model file {path} has no output of shape {shape} (outputs: {found}): wrong model?")

"""Loading a TFLite model into LiteRT, without the outputs we never read.

LiteRT runs every operator of a model whatever outputs are read. BlazePose's landmark model also predicts a
256x256 segmentation mask that pose detection does not use; its decoder works at full resolution and takes
about half of the model's time on a CPU (measured: 13.7 -> 7.1 ms a call on one core, other outputs
bit-identical). :func:`prune_outputs` rewrites the model in memory without those outputs and without every
operator that only they need, using the TFLite flatbuffer schema that ships with ``ai_edge_litert`` (its
``flatbuffers`` dependency comes along). If pruning is impossible the full model is used, only slower.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


_PRUNED: dict[tuple, bytes] = {}
_PRUNED_LOCK = threading.Lock()


def _pruned(path: Path, model: bytes, drop: Callable[[str, tuple[int, ...]], bool]) -> bytes:
    """:func:`prune_outputs`, remembered per file version: it takes about 0.3 s, and every detector of a
    parallel pool (and every capture in a batch) loads the same model."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, drop)
    with _PRUNED_LOCK:
        if key not in _PRUNED:
            _PRUNED[key] = prune_outputs(model, drop)
        return _PRUNED[key]


def load_interpreter(
    path: Path,
    *,
    num_threads: int,
    input_shape: tuple[int, ...],
    drop: Callable[[str, tuple[int, ...]], bool] | None = None,
) -> Any:
    """A ready ``ai_edge_litert`` interpreter for the model file at ``path``.

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
    model = path.read_bytes()
    candidates = [model]
    if drop is not None:
        try:
            candidates.insert(0, _pruned(path, model, drop))
        except Exception as exc:  # any parse failure: the full model still works (or fails clearly below)
            logger.info("cannot prune unused outputs of %s (%s); running the full model", path.name, exc)
    error: Exception | None = None
    for content in candidates:
        try:
            interpreter = Interpreter(model_content=content, num_threads=num_threads)
            interpreter.allocate_tensors()
            break
        except (ValueError, RuntimeError) as exc:
            error = exc
    else:
        raise ValueError(f"model file {path} is not a usable TFLite model ({error})") from error
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

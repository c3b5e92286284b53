"""Batch API for scripts inside Blender: video -> action on an armature, the same path the add-on's button takes.

    import bpy
    from bl_ext.user_default.blender_vp3d import api        # installed extension
    # from blender_vp3d import api                            # source checkout on sys.path

    rig = bpy.data.objects["metarig"]
    action = api.capture("/videos/walk.mp4", rig, smoothing="one_euro", height_m=1.75)
    actions = api.capture_folder("/videos", rig, pattern="*.mp4")       # one action per clip
    actions = api.retarget("/videos/walk.npz", [rig, other_rig])          # no detection re-run

Detection and lifting run in a child process (``python -m blender_vp3d capture ... --settings FILE.json
--json-progress``, see :class:`CaptureJob` and :mod:`.child_process`), so Blender's own interpreter never loads
OpenCV or LiteRT and a crash there cannot take Blender down (:func:`keep_capture_process_ready` keeps one
loaded and waiting, so a capture starts without the child's start-up); the settings go to it as one JSON
document and its summary (tracks, coverage, timings) comes back as its last JSON line. The keys are written
here, on the calling (main) thread. Any failure raises :class:`CaptureError` (a ``ValueError``;
:class:`CaptureCancelled` when cancelled) or ``RetargetError`` and leaves the file as it was: no new action, no
changed pose.

Settings (keyword arguments):

- capture: the fields of :class:`blender_vp3d.core.settings.CaptureSettings` (``start``, ``end`` (video
  frames), ``stride``, ``detector``, ``smoothing``, ``foot_lock``, ``in_place``, ``height_m``, ``focal_px``,
  ``focal_mm``, ``sensor_mm``, ``refine``, ``rigid_bones``, ``face_viewer``, ``track_id``, ``workers``,
  ``use_cache``, ``model`` (a bundled model's name, ``"default"`` or ``"cmu"`` where it ships, or a model
  file; :func:`bundled_models` lists them with their licences), ``detectron2_config``, ``detectron2_weights``);
- retargeting (:class:`RetargetOptions`): ``mapping`` (a ``BoneMapping``, a preset key such as
  ``"rigify_metarig"``, a mapping ``.json`` file, or None to detect), ``action_name``, ``frame_start`` (the scene
  frame of the first key); :func:`retarget` also takes ``in_place``.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import child_process
from .child_process import (PACKAGE_DIR, capture_command, child_environment, extension_site_packages,  # noqa: F401
                            runtime_problem)
from .core.capture import CaptureSummary, ProgressEvent
from .core.lift.bundled import bundled_models, is_bundled_name  # noqa: F401 (bundled_models: part of the API)
from .core.settings import DETECTORS, CaptureSettings

if TYPE_CHECKING:
    import bpy

    from .retarget import BoneMapping

logger = logging.getLogger(__name__)

class CaptureError(ValueError):
    """A capture failed; the message is one line meant for the user."""


class CaptureCancelled(CaptureError):
    """The capture was cancelled before it finished."""


@dataclass(frozen=True)
class RetargetOptions:
    """How a motion goes onto a rig (see :func:`blender_vp3d.retarget.apply_motion`).

    mapping:     a ``BoneMapping``, a preset key such as ``"rigify_metarig"``, a mapping ``.json`` file, or None
                 to detect the preset from the bone names.
    in_place:    no root motion (for a motion file captured with it; a capture's own ``in_place`` setting
                 already keeps the pelvis in place).
    frame_start: the scene frame of the motion's first frame (the video's frame range is the capture's
                 ``start``/``end``).
    """

    mapping: Any = None
    in_place: bool = False
    action_name: str | None = None
    frame_start: int = 1


RETARGET_OPTIONS = tuple(f.name for f in fields(RetargetOptions))


class CaptureJob:
    """One capture of ``video`` onto ``armature``: the child process, then the keys. Never blocks the caller.

    Made, it has checked the video and that the mapping fits the rig (before any slow work). ``start()``
    launches the child, ``poll()`` returns the progress events that arrived since the last call (read by a
    thread, so a slow child never stalls Blender's UI), ``finished`` says the child ended, ``apply()`` keys the
    motion into a new action (the scene is left as it was when that fails), ``cancel()`` kills the child and
    ``close()`` removes the temporary folder. ``summary`` holds what the child reported once it finished.
    """

    def __init__(self, video: str | os.PathLike, armature: bpy.types.Object, settings: CaptureSettings,
                 options: RetargetOptions | None = None, prepare_next: bool | None = None):
        self.video = Path(video)
        if not self.video.is_file():
            raise CaptureError(f"video not found: {video}")
        self.armature_name = armature.name
        options = options or RetargetOptions()
        # Resolved once here: a wrong rig fails now, not after the detector ran.
        self.options = replace(options, mapping=resolve_target(armature, options.mapping),
                               action_name=options.action_name or self.video.stem)
        self.settings = _absolute_paths(settings)
        self._tmp = Path(tempfile.mkdtemp(prefix="vp3d_capture_"))
        self.motion_path = self._tmp / f"{self.video.stem}.npz"
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stderr: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []
        self.cancelled = False
        self.ready_child = False  # the child was one kept ready (see keep_capture_process_ready)
        # Start the next waiting child as this one ends (None: as keep_capture_process_ready says).
        self.prepare_next = prepare_next
        self.summary: CaptureSummary | None = None

    def start(self) -> CaptureJob:
        problem = runtime_problem(self.settings.detector)
        if problem is not None:
            raise CaptureError(f"cannot capture {self.video.name}: {problem}")
        settings_file = self._tmp / "settings.json"
        settings_file.write_text(self.settings.to_json(), encoding="utf-8")
        command = capture_command(self.video, self.motion_path, settings_file)
        self._process, self.ready_child = child_process.start_capture(command)
        logger.info("capture (%s child): %s with %s", "ready" if self.ready_child else "new", " ".join(command),
                    self.settings.to_json())
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            try:
                self._events.put(json.loads(line))
            except json.JSONDecodeError:
                logger.debug("capture child: %s", line.rstrip())

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line.rstrip())

    def poll(self) -> list[ProgressEvent]:
        """Progress events received since the last call (the final ``result`` line becomes ``summary``)."""
        events = []
        while True:
            try:
                data = self._events.get_nowait()
            except queue.Empty:
                break
            if data.get("stage") == "result":
                self.summary = CaptureSummary.from_dict(data)
                continue
            if data.get("stage") == "ready":  # a ready child's first line, from before it got this capture
                continue
            events.append(ProgressEvent(str(data.get("stage", "")), int(data.get("done", 0)),
                                        int(data.get("total", 1)), str(data.get("message", "")), data.get("eta_s")))
        return events

    @property
    def finished(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    def result_path(self) -> Path:
        """The motion file once the child ended well; CaptureError (one line from the child) otherwise."""
        if self.cancelled:
            raise CaptureCancelled("capture cancelled")
        if self._process is None or self._process.poll() is None:
            raise CaptureError("capture still running")
        if self._wants_next():  # the next child loads while this capture's keys are written
            child_process.keep_ready()
        for thread in self._threads:
            thread.join(timeout=5)
        self.poll()
        code = self._process.returncode
        if code != 0 or not self.motion_path.is_file():
            errors = [line for line in self._stderr if line.startswith("error:") or ": error:" in line]
            detail = (errors or self._stderr or [f"exit code {code}"])[-1]
            detail = detail.split("error:", 1)[-1].strip() if "error:" in detail else detail
            raise CaptureError(f"capture of {self.video.name} failed: {detail}")
        return self.motion_path

    def wait(self, progress: Callable[[ProgressEvent], None] | None = None,
             should_cancel: Callable[[], bool] | None = None, interval_s: float = 0.05) -> Path:
        """Block until the child ends (blocking mode, scripts); ``should_cancel()`` returning True cancels."""
        while not self.finished:
            for event in self.poll():
                if progress is not None:
                    progress(event)
            if should_cancel is not None and should_cancel():
                self.cancel()
                break
            time.sleep(interval_s)
        for event in self.poll():
            if progress is not None:
                progress(event)
        return self.result_path()

    def apply(self) -> bpy.types.Action:
        """Key the finished capture onto the armature as a new action (returned); raises CaptureError or
        RetargetError, the scene then unchanged."""
        import bpy

        armature = bpy.data.objects.get(self.armature_name)
        if armature is None:
            raise CaptureError(f"the armature {self.armature_name!r} is gone")
        return apply_file(self.result_path(), armature, self.options)

    def run(self, progress: Callable[[ProgressEvent], None] | None = None,
            should_cancel: Callable[[], bool] | None = None,
            motion_out: str | os.PathLike | None = None) -> bpy.types.Action:
        """The whole job, blocking: start, wait, keep the motion file at ``motion_out`` if given, apply, close."""
        try:
            self.start()
            path = self.wait(progress, should_cancel)
            if motion_out is not None:
                shutil.copyfile(path, motion_out)
            return self.apply()
        finally:
            self.close()

    def cancel(self) -> None:
        """Kill the child (terminate, then kill after 3 s); the motion file is never read."""
        self.cancelled = True
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=3)

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self.cancel()
        if self._process is not None and self._wants_next():  # also after a cancel or a failure
            child_process.keep_ready()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _wants_next(self) -> bool:
        return child_process.keeping_ready() if self.prepare_next is None else self.prepare_next


def keep_capture_process_ready(enabled: bool = True) -> None:
    """Keep a child process loaded and waiting for the next capture (on: start one now and a new one as each
    capture ends; off: stop the waiting one). A capture then skips the child's start-up, for 150-200 MB of
    memory while it waits (figures in :mod:`.child_process`). The add-on turns this on in an interactive
    Blender (its preferences can turn it off)."""
    child_process.set_keep_ready(enabled)


def _absolute_paths(settings: CaptureSettings) -> CaptureSettings:
    """The settings with their file paths made absolute: the child runs in another folder."""
    paths = {name: str(Path(value).resolve()) for name in ("model", "detectron2_config", "detectron2_weights")
             if (value := getattr(settings, name)) is not None and not (name == "model" and is_bundled_name(value))}
    if settings.detector not in DETECTORS:
        paths["detector"] = str(Path(settings.detector).resolve())
    return replace(settings, **paths)


# --------------------------------------------------------------------------------------------------------------
# Settings and retargeting


def split_settings(settings: dict[str, Any]) -> tuple[CaptureSettings, RetargetOptions]:
    """Keyword settings -> (CaptureSettings, RetargetOptions); TypeError naming an unknown one, CaptureError for
    a bad value. ``in_place`` is the capture's (the world alignment keeps the pelvis in place)."""
    capture_fields = [f.name for f in fields(CaptureSettings)]
    unknown = sorted(set(settings) - set(capture_fields) - set(RETARGET_OPTIONS))
    if unknown:
        raise TypeError(f"unknown capture setting(s): {', '.join(unknown)}; known: "
                        f"{', '.join(capture_fields + [o for o in RETARGET_OPTIONS if o != 'in_place'])}")
    try:
        capture_settings = CaptureSettings(**{k: v for k, v in settings.items() if k in capture_fields})
    except ValueError as exc:
        raise CaptureError(str(exc)) from None
    options = RetargetOptions(**{k: v for k, v in settings.items() if k in RETARGET_OPTIONS and k != "in_place"})
    return capture_settings, options


def resolve_target(armature: bpy.types.Object | None, mapping: BoneMapping | str | os.PathLike | None = None
                   ) -> BoneMapping:
    """Check up front that ``armature`` is an armature the mapping fits (before any slow work)."""
    from .retarget import PRESETS, load_mapping_json
    from .retarget.apply import resolve_mapping
    from .retarget.presets import preset_for

    if isinstance(mapping, str) and mapping in PRESETS:
        names = [b.name for b in getattr(getattr(armature, "data", None), "bones", ())]
        mapping = preset_for(mapping, names)
    elif isinstance(mapping, (str, os.PathLike)):
        mapping = load_mapping_json(mapping)
    return resolve_mapping(armature, mapping)  # type: ignore[arg-type]


def apply_file(motion_path: str | os.PathLike, armature: bpy.types.Object,
               options: RetargetOptions | None = None) -> bpy.types.Action:
    """Load a motion file and key it onto ``armature``; on failure the new action and the pose are undone."""
    import bpy

    from .core.output.motion import Motion
    from .retarget import apply_motion

    options = options or RetargetOptions()
    bone_map = resolve_target(armature, options.mapping)
    motion = Motion.load(motion_path)
    before = set(bpy.data.actions)
    anim = armature.animation_data
    old_action = anim.action if anim is not None else None
    pose = {b.name: b.matrix_basis.copy() for b in armature.pose.bones}
    try:
        return apply_motion(armature, motion, mapping=bone_map, in_place=options.in_place,
                            action_name=options.action_name, frame_start=options.frame_start)
    except BaseException:
        for action in set(bpy.data.actions) - before:
            bpy.data.actions.remove(action)
        if armature.animation_data is not None:
            armature.animation_data.action = old_action
        for name, matrix in pose.items():
            armature.pose.bones[name].matrix_basis = matrix
        raise


# --------------------------------------------------------------------------------------------------------------
# Public batch functions


def capture(video: str | os.PathLike, armature: bpy.types.Object, *,
            progress: Callable[[ProgressEvent], None] | None = None,
            should_cancel: Callable[[], bool] | None = None,
            motion_out: str | os.PathLike | None = None, **settings: Any) -> bpy.types.Action:
    """Capture the person in ``video`` and key the motion onto ``armature`` as a new action (returned).

    progress:      called with each :class:`ProgressEvent` of the child process.
    should_cancel: polled while the child runs; returning True kills it and raises :class:`CaptureCancelled`.
    motion_out:    also keep the motion file (``.npz``) there, for :func:`retarget` later.
    settings:      see the module docstring. Raises CaptureError / RetargetError; the file is then unchanged.
    """
    return CaptureJob(video, armature, *split_settings(settings)).run(progress, should_cancel, motion_out)


def capture_folder(folder: str | os.PathLike, armature: bpy.types.Object, pattern: str = "*.mp4",
                   **settings: Any) -> list[bpy.types.Action]:
    """:func:`capture` for every file in ``folder`` matching ``pattern`` (sorted by name): one action per clip.

    The armature keeps the last clip's action assigned; every action gets a fake user so none is lost on save.
    Stops at the first clip that fails (CaptureError naming it); the actions made until then stay.
    """
    clips = sorted(p for p in Path(folder).glob(pattern) if p.is_file())
    if not clips:
        raise CaptureError(f"no files matching {pattern!r} in {folder}")
    capture_settings, options = split_settings(settings)
    actions = []
    for k, clip in enumerate(clips):
        # Each next clip's child loads while this one's keys are written.
        job = CaptureJob(clip, armature, capture_settings, options, prepare_next=True if k + 1 < len(clips) else None)
        action = job.run()
        action.use_fake_user = True
        actions.append(action)
    return actions


def retarget(motion_path: str | os.PathLike, armatures: Iterable[bpy.types.Object] | bpy.types.Object,
             **options: Any) -> list[bpy.types.Action]:
    """Key an existing motion file (from :func:`capture` ``motion_out`` or the CLI) onto each armature.

    No detection or lifting runs. ``options``: ``mapping``, ``in_place``, ``action_name``, ``frame_start``.
    Every armature is checked before any is keyed, so a bad one leaves all of them unchanged.
    """
    targets: Sequence[Any] = [armatures] if hasattr(armatures, "type") else list(armatures)  # type: ignore[list-item]
    if not Path(motion_path).is_file():
        raise CaptureError(f"motion file not found: {motion_path}")
    unknown = sorted(set(options) - set(RETARGET_OPTIONS))
    if unknown:
        raise TypeError(f"unknown retarget option(s): {', '.join(unknown)}; known: {', '.join(RETARGET_OPTIONS)}")
    retarget_options = RetargetOptions(**options)
    for armature in targets:
        resolve_target(armature, retarget_options.mapping)
    return [apply_file(motion_path, armature, retarget_options) for armature in targets]

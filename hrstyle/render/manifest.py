"""The resume manifest, ``hrstyle-manifest.json``: what a render into one folder is made with,
and how far it got, merged under a lock when several processes render into one folder."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from ..errors import (
    ImageReadError,
    OutputError,
)
from ..io.atomic import locked, write_bytes_atomic
from ..io.sequence import FrameRef
from ..look.meta import file_sha256

MANIFEST_NAME = "hrstyle-manifest.json"


MANIFEST_LOCK_NAME = ".hrstyle-manifest.lock"  # held while a process merges its frames into the manifest


MANIFEST_VERSION = 1


_MANIFEST_EVERY_S = 1.0  # a kill loses at most this much bookkeeping; those frames are re-rendered


def _stat(path: Path) -> dict[str, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


class Manifest:
    """``hrstyle-manifest.json``: what a render into one folder is made with, and how far it got.

    ``key`` holds the look's SHA-256, the shot and the options that change
    pixels; a later run resumes only with an equal key. ``frames`` maps each
    frame number (a string, for JSON) to ``{"status": "done", "output": name,
    "bytes", "mtime_ns", "sha256", "input": {"bytes", "mtime_ns"}}`` or
    ``{"status": "bad", "error": message}``.

    Several processes may render into one folder at once (a farm's chunks),
    each with its own `Manifest`: `save` merges what this one recorded into
    what the others saved, so no process drops another's frames.
    """

    def __init__(self, path: Path, key: dict[str, Any], frames: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = path
        self.key = key
        self.frames = frames if frames is not None else {}
        self.on_disk = frames is not None
        self._recorded: dict[str, dict[str, Any]] = {}  # this object's entries: they win over the disk's on save
        self._saved_at = -math.inf

    @classmethod
    def open(cls, out_dir: Path, key: dict[str, Any], *, force: bool = False) -> Manifest:
        """The folder's manifest if it matches ``key``; a fresh one if there is none or ``force``.

        Raises:
            OutputError: the folder holds a render with another look, shot or options, or an unreadable manifest.
        """
        path = out_dir / MANIFEST_NAME
        if force or not path.exists():
            return cls(path, key)
        redo = "choose a new folder with -o, or pass --force to render it again from scratch"
        try:
            data = json.loads(path.read_text())
            saved = {name: data[name] for name in key}
            frames = data["frames"]
            if not isinstance(frames, dict):
                raise TypeError
        except (OSError, ValueError, KeyError, TypeError):
            raise OutputError(f"{path}: not a readable hrstyle manifest; {redo}") from None
        if saved["look_sha256"] != key["look_sha256"]:
            raise OutputError(f"{out_dir}: holds a render of another look; {redo}")
        if saved["shot"] != key["shot"]:
            raise OutputError(f"{out_dir}: holds a render of another shot ({saved['shot']}); {redo}")
        if saved["options"] != key["options"]:
            old = saved["options"] if isinstance(saved["options"], dict) else {}
            new = key["options"]
            changed = ", ".join(
                f"{name} {_shown(old.get(name))} -> {_shown(new.get(name))}"
                for name in {**old, **new}
                if old.get(name) != new.get(name)
            )
            raise OutputError(f"{out_dir}: holds a render with other options ({changed}); {redo}")
        return cls(path, key, frames)

    def is_done(self, ref: FrameRef, output: Path) -> bool:
        """Whether ``output`` is this frame, rendered from its current input file."""
        entry = self.frames.get(str(ref.number))
        if not entry or entry.get("status") != "done" or entry.get("output") != output.name:
            return False
        if entry.get("input") != _stat(ref.path):
            return False
        now = _stat(output)
        if now is None or now["bytes"] != entry.get("bytes"):
            return False
        # Same size and time: ours. A copy keeps the bytes but not always the time.
        return now["mtime_ns"] == entry.get("mtime_ns") or file_sha256(output) == entry.get("sha256")

    def mark_done(self, refs: list[FrameRef], output: Path) -> None:
        """Record ``refs`` as finished in the file ``output`` (one frame, or all of a video)."""
        written = {"status": "done", "output": output.name, **_stat(output), "sha256": file_sha256(output)}
        for ref in refs:
            self._record(ref, {**written, "input": _stat(ref.path)})

    def mark_bad(self, ref: FrameRef, error: ImageReadError) -> None:
        self._record(ref, {"status": "bad", "error": str(error)})

    def _record(self, ref: FrameRef, entry: dict[str, Any]) -> None:
        self.frames[str(ref.number)] = self._recorded[str(ref.number)] = entry

    def save(self, *, throttle: bool = False) -> None:
        """Write atomically, merged under a lock with the frames other processes saved
        meanwhile (this object's own entries win); with ``throttle``, only if the last
        save is a while ago."""
        if throttle and time.monotonic() - self._saved_at < _MANIFEST_EVERY_S:
            return
        with locked(self.path.with_name(MANIFEST_LOCK_NAME)):
            on_disk = self._frames_on_disk()
            if on_disk is not None:
                self.frames = {**on_disk, **self._recorded}
            frames = dict(sorted(self.frames.items(), key=lambda item: int(item[0])))
            data = {"format": "hrstyle-manifest", "version": MANIFEST_VERSION, **self.key, "frames": frames}
            write_bytes_atomic(self.path, json.dumps(data, indent=1).encode())
        self._saved_at = time.monotonic()
        self.on_disk = True

    def _frames_on_disk(self) -> dict[str, dict[str, Any]] | None:
        """The frames of the manifest on disk if it is a render with this key; None if
        there is none, it is unreadable, or another render (--force) replaces it."""
        try:
            data = json.loads(self.path.read_text())
            frames = data["frames"]
            same = all(data[name] == value for name, value in self.key.items())
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return frames if same and isinstance(frames, dict) else None


def _shown(value: Any) -> str:
    return "default" if value is None else str(value)

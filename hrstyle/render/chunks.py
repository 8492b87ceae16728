"""A shot in frame-range chunks for any render farm (OpenCue, Deadline, Tractor, Ray).

Each chunk is one farm task running ``hrstyle apply SHOT --look FILE --frames A-B -o OUT``
into the shared output folder; with temporal smoothing, each also names the frames it warms
up on. A frame's output does not depend on the chunk it is rendered in, so chunks stitch
byte-identically and the manifest merges every chunk's frames (manifest.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..io.sequence import format_frame_range
from ..io.shot import Shot
from .run import with_warmup


@dataclass(frozen=True)
class Chunk:
    """One farm task: the frames it renders and writes, and those it grades first only to warm up the smoother."""

    index: int
    frames: tuple[int, ...]
    warmup: tuple[int, ...]

    @property
    def frame_range(self) -> str:
        """The frames as ``hrstyle apply --frames`` takes them, e.g. ``1001-1050``."""
        return format_frame_range(list(self.frames))

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "frames": self.frame_range,
            "first": self.frames[0],
            "last": self.frames[-1],
            "count": len(self.frames),
            "warmup": list(self.warmup),
        }


def plan_chunks(shot: Shot, size: int, smooth: bool = False) -> list[Chunk]:
    """``shot``'s frames in order, in chunks of ``size`` (the last may be shorter).

    With ``smooth``, each chunk lists the frames it warms up on, as `render_shot`
    picks them: the frame before its first one, and before any frame that follows
    a gap in the selection.

    Raises:
        InputError: ``size`` is below 1.
    """
    if size < 1:
        raise InputError(f"chunk size {size}: expected at least 1 frame")
    chunks = []
    for index, start in enumerate(range(0, len(shot.frames), size)):
        refs = shot.frames[start : start + size]
        warmup = sorted(with_warmup(shot, refs)[1]) if smooth else []
        chunks.append(Chunk(index, tuple(ref.number for ref in refs), tuple(warmup)))
    return chunks


def chunk_frames(shot: Shot, chunk: Chunk) -> Shot:
    """The frames of ``shot`` that ``chunk`` renders."""
    wanted = set(chunk.frames)
    return shot.subset([ref for ref in shot.frames if ref.number in wanted])

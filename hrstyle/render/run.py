"""Render a whole shot: stream its frames through a `Grade` into an output folder.

`render_shot` reads frames on a decode thread and writes them on an encode
thread, each behind a small bounded queue (pipeline.py), so disk and device
stay busy at once while memory stays flat however long the shot. Frames are
graded and written in shot order, which temporal smoothing needs.

A render is resumable: ``hrstyle-manifest.json`` in the output folder
(manifest.py) records the grade's hash, the options that change pixels and
every finished frame's size and SHA-256. A re-run skips frames whose output
still matches, renders the rest, and refuses to mix in frames made with another
look or other options. Renders of different frame ranges can share a folder at
once (farm chunks): each save merges into the manifest on disk under a lock.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ImageReadError
from ..grade.config import RenderCfg
from ..grade.protocol import Grade
from ..grade.steps import MAX_AUTO_BATCH, auto_batch_size, grade_frames
from ..grade.temporal import CoefficientSmoother
from ..io.atomic import make_folder, remove_stale_temps
from ..io.colour import working_encoding
from ..io.sequence import FrameRef
from ..io.shot import Shot
from ..io.stills import FrameSpec, Image, write_image
from ..io.tensors import to_pixels, to_tensor
from ..io.video import VideoWriter
from .config import OutputCfg
from .manifest import Manifest
from .output import pixel_options, plan_outputs, refuse_foreign_files
from .pipeline import Consumer, Prefetch, deferred_interrupt

DEFAULT_FPS = 24  # for a video made from a sequence whose frames carry no frame rate


@dataclass(frozen=True)
class RenderProgress:
    done: int  # frames written or recorded as bad by this run
    total: int  # frames this run has to do
    seconds: float  # since the render started

    @property
    def fps(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class RenderReport:
    out_dir: Path
    manifest: Path
    outputs: list[Path]  # written by this run; with dry_run, those it would write
    frames_written: int
    skipped: int  # finished by an earlier run and still matching the manifest
    bad: list[int]  # unreadable frames left out (skip_bad_frames)
    seconds: float
    dry_run: bool = False

    @property
    def fps(self) -> float:
        return self.frames_written / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "manifest": str(self.manifest),
            "outputs": [str(p) for p in self.outputs],
            "frames_written": self.frames_written,
            "skipped": self.skipped,
            "bad": self.bad,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 3),
            "dry_run": self.dry_run,
        }


ProgressCallback = Callable[[RenderProgress], None]


def render_shot(
    shot: Shot,
    grade: Grade,
    out_dir: str | Path,
    cfg: RenderCfg = RenderCfg(),
    output: OutputCfg = OutputCfg(),
    *,
    on_progress: ProgressCallback | None = None,
) -> RenderReport:
    """Grade every frame of ``shot`` with a look or a 3D LUT into ``out_dir``.

    Outputs keep each input's file name, format, bit depth, alpha and metadata;
    ``output.ext`` and ``output.bit_depth`` override them. A video shot becomes a
    ProRes ``.mov`` of the same frame rate, or a sequence with an image ``ext``.
    Each file is written atomically.

    Re-running resumes: frames whose output matches the manifest are skipped. A
    video output is one file, so an unfinished one is rendered again whole.
    Ctrl-C finishes the frames in flight, saves the manifest and re-raises
    KeyboardInterrupt. ``on_progress`` is called once before the first frame and
    then after each, from the writer thread.

    Raises:
        OutputError: ``out_dir`` is the shot's folder or would overwrite an input;
            it holds a render of another look, shot or options, or files not
            made by hrstyle (unless ``output.force``); or a write failed.
        ImageReadError: an unreadable frame (unless ``output.skip_bad_frames``).
        ShapeError: frames of different sizes.
        DeviceMemoryError: one frame does not fit on the GPU.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    outputs = plan_outputs(shot, out_dir, output)
    grade = grade.prepare(cfg)
    key = {
        "look_sha256": grade.sha256,
        "shot": str(Path(shot.pattern or shot.source).resolve()),
        "options": pixel_options(grade, cfg, output),
    }
    manifest = Manifest.open(out_dir, key, force=output.force)
    if not manifest.on_disk and not output.force:
        refuse_foreign_files(out_dir, outputs)
    todo = [ref for ref in shot.frames if not manifest.is_done(ref, outputs.paths[ref.number])]
    if outputs.video is not None and todo:
        todo = shot.frames  # a video cannot be appended to: write it whole
    if output.dry_run or not todo:
        planned = outputs.files([ref.number for ref in todo]) if output.dry_run else []
        return RenderReport(
            out_dir, manifest.path, planned, 0, len(shot) - len(todo), [], time.perf_counter() - start, output.dry_run
        )

    make_folder(out_dir)
    remove_stale_temps(out_dir)  # half-written files of a run that was killed
    manifest.save()
    if outputs.video is not None:
        sink: _FileSink | _VideoSink = _VideoSink(outputs.video, manifest)
    else:
        sink = _FileSink(outputs.paths, manifest, output.bit_depth)
    frames, warmup = with_warmup(shot, todo) if cfg.smooth.strength > 0 else (todo, frozenset())
    run = _Run(grade, cfg, sink, manifest, on_progress, warmup)
    run.stream(shot.subset(frames), output.skip_bad_frames)
    return RenderReport(
        out_dir,
        manifest.path,
        outputs.files(run.written),
        len(run.written),
        len(shot) - len(todo),
        run.bad,
        time.perf_counter() - start,
    )


def with_warmup(shot: Shot, todo: list[FrameRef]) -> tuple[list[FrameRef], frozenset[int]]:
    """``todo`` with each frame's predecessor put before it where that is not rendered
    itself, so smoothing at the start of a range, a resumed run or a farm chunk sees
    exactly what a whole run would (the smoother looks one frame back). Returns the
    frames to grade, in order, and the numbers of those graded only to warm up."""
    wanted = {ref.number for ref in todo}
    frames: list[FrameRef] = []
    warmup: set[int] = set()
    for ref in todo:
        prev = _predecessor(shot, ref)
        if prev is not None and prev.number not in wanted and (not frames or frames[-1].number != prev.number):
            frames.append(prev)
            warmup.add(prev.number)
        frames.append(ref)
    return frames, frozenset(warmup)


def _predecessor(shot: Shot, ref: FrameRef) -> FrameRef | None:
    """The frame just before ``ref`` in the shot, if it exists: across a gap in the
    numbering there is none, so smoothing never blends frames that are not neighbours."""
    prev = shot.previous(ref)
    return prev if prev is not None and prev.number == ref.number - 1 else None


def _number(ref: FrameRef | None) -> int | None:
    return None if ref is None else ref.number


@dataclass(frozen=True)
class _Graded:
    ref: FrameRef
    pixels: np.ndarray  # (H, W, 3) float32
    alpha: np.ndarray | None
    spec: FrameSpec


@dataclass(frozen=True)
class _Bad:
    ref: FrameRef
    error: ImageReadError


def _decoded(shot: Shot, skip_bad_frames: bool) -> Generator[tuple[FrameRef, Image] | _Bad, None, None]:
    """The shot's frames in order, with each skipped unreadable one as a `_Bad` in its place."""
    bad: list[_Bad] = []
    for item in shot.iter(skip_bad_frames=skip_bad_frames, on_skip=lambda ref, e: bad.append(_Bad(ref, e))):
        yield from bad
        bad.clear()
        yield item
    yield from bad


class _FileSink:
    """One image file per frame (at ``bit_depth`` if given), recorded in the
    manifest as soon as it is in place."""

    def __init__(self, paths: dict[int, Path], manifest: Manifest, bit_depth: str | None) -> None:
        self.paths, self.manifest, self.bit_depth = paths, manifest, bit_depth

    def write(self, item: _Graded) -> None:
        path = self.paths[item.ref.number]
        spec = replace(item.spec, bit_depth=self.bit_depth) if self.bit_depth else item.spec
        write_image(path, item.pixels, spec, item.alpha)
        self.manifest.mark_done([item.ref], path)

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        pass  # every finished frame is already a complete file


class _VideoSink:
    """All frames into one video, at the first frame's rate and timecode; it appears
    (and enters the manifest) only when complete."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path, self.manifest = path, manifest
        self._video: VideoWriter | None = None
        self._refs: list[FrameRef] = []

    def write(self, item: _Graded) -> None:
        if self._video is None:
            attributes = item.spec.attributes
            self._video = VideoWriter(
                self.path, fps=attributes.get("FramesPerSecond", DEFAULT_FPS), timecode=attributes.get("smpte:TimeCode")
            )
        self._video.write(item.pixels)
        self._refs.append(item.ref)

    def finish(self) -> None:
        if self._video is not None:
            self._video.close()
            self.manifest.mark_done(self._refs, self.path)

    def abort(self) -> None:
        if self._video is not None:
            self._video.abort()


class _Run:
    """One render's moving parts: decode thread -> grading here -> writer thread."""

    def __init__(
        self,
        grade: Grade,
        cfg: RenderCfg,
        sink: _FileSink | _VideoSink,
        manifest: Manifest,
        on_progress: ProgressCallback | None,
        warmup: frozenset[int] = frozenset(),
    ) -> None:
        self.grade, self.cfg, self.sink, self.manifest, self.on_progress = grade, cfg, sink, manifest, on_progress
        self.warmup = warmup  # frames graded only to prime the smoother, never written
        self.smoother = CoefficientSmoother(cfg.smooth) if cfg.smooth.strength > 0 else None
        self.device = grade.device
        # Deep enough for one batch in flight and the next filling.
        self.depth = 2 * (cfg.batch_size or (MAX_AUTO_BATCH if self.device.type == "cuda" else 1))
        self.written: list[int] = []
        self.bad: list[int] = []
        self.total = 0
        self.start = time.perf_counter()

    def stream(self, shot: Shot, skip_bad_frames: bool) -> None:
        """Grade and write every frame of ``shot``; the manifest is saved however it ends."""
        self.total, self.start = len(shot) - len(self.warmup), time.perf_counter()
        self.shot = shot
        self._report()
        reader = Prefetch(_decoded(shot, skip_bad_frames), self.depth, "hrstyle-decode")
        writer = Consumer(self._write, self.depth, "hrstyle-encode")
        try:
            with deferred_interrupt() as interrupted:
                self._grade(reader, writer, interrupted)
            reader.close()
            writer.close()
            self.sink.finish()
        except BaseException:
            reader.close()
            with contextlib.suppress(BaseException):  # already failing: the first error is the one to show
                writer.close()  # still writes the frames already graded
            self.sink.abort()
            raise
        finally:
            self.manifest.save()

    def _grade(self, reader: Prefetch, writer: Consumer, interrupted: Callable[[], bool]) -> None:
        batch_size = self.cfg.batch_size
        pending: list[tuple[FrameRef, Image]] = []
        for item in reader:
            if isinstance(item, _Bad):
                writer.put(item)
                continue
            pending.append(item)
            if batch_size is None:
                batch_size = auto_batch_size(self.device, *item[1].pixels.shape[:2])
            if len(pending) >= batch_size:
                batch_size = self._grade_pending(pending, batch_size, writer)
                pending = []
            if interrupted():
                raise KeyboardInterrupt
        if pending:
            self._grade_pending(pending, batch_size, writer)

    def _grade_pending(self, pending: list[tuple[FrameRef, Image]], batch_size: int, writer: Consumer) -> int:
        for ref, image in pending:
            self.grade.check_frame(ref.path, *image.pixels.shape[:2])
        encodings = [working_encoding(self.cfg.colorspace, image.spec.bit_depth) for _, image in pending]
        frames = torch.cat([to_tensor(enc.to_working(image.pixels)) for enc, (_, image) in zip(encodings, pending)])
        links = [(_number(_predecessor(self.shot, ref)), ref.number) for ref, _ in pending]
        graded, batch_size = grade_frames(self.grade, frames, self.cfg, batch_size, self.smoother, links)
        for (ref, image), enc, out in zip(pending, encodings, graded):
            if ref.number not in self.warmup:
                writer.put(_Graded(ref, enc.from_working(to_pixels(out)), image.alpha, image.spec))
        return batch_size

    def _write(self, item: _Graded | _Bad) -> None:
        if isinstance(item, _Bad):
            self.manifest.mark_bad(item.ref, item.error)
            self.bad.append(item.ref.number)
        else:
            self.sink.write(item)
            self.written.append(item.ref.number)
        self.manifest.save(throttle=True)
        self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            done = len(self.written) + len(self.bad)
            self.on_progress(RenderProgress(done, self.total, time.perf_counter() - self.start))

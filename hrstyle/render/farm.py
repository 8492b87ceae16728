"""A shot rendered on Ray, one task per frame-range chunk (chunks.py), all into one output folder.

`render_on_ray` (``hrstyle farm``) runs the same chunks on Ray: one Ray task
per chunk, each calling `render.render_shot` on its frame range. Tasks, not
Ray Data's ``map_batches`` over an actor pool, because

* a task runs exactly the render path of ``hrstyle apply`` (decode thread,
  batching, smoothing with its warm-up, atomic writes, the manifest), which is
  what makes a Ray render byte-identical to a single run, and lets a retried
  chunk resume from the frames its dead attempt finished;
* smoothing needs every frame after its predecessor, in one process; a
  dataset would split a shot into blocks and reorder them;
* farms split by frame range anyway: a chunk is the unit of scheduling, of
  retry and of progress, on Ray as on OpenCue.

A chunk's task holds ``gpus_per_task`` GPUs (Ray sets CUDA_VISIBLE_DEVICES) and
``cpus_per_task`` cores, which is also its number of torch threads, and loads
the look onto its device. Ray re-runs a task whose worker died (``max_retries``);
an error the render raised, such as a corrupt frame, is not retried but raised
here as itself. Each task reports its frames done to a Ray queue, and the
driver sums them into one progress figure.

Ray is imported only when a render starts (``pip install 'hrstyle[farm]'``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from ..errors import FarmError, InputError
from ..grade.config import RenderCfg
from ..grade.protocol import Grade
from ..io.shot import Shot
from ..io.video import VIDEO_EXTENSIONS
from .chunks import Chunk, chunk_frames, plan_chunks
from .config import FarmCfg, OutputCfg
from .manifest import MANIFEST_NAME
from .run import (
    ProgressCallback,
    RenderProgress,
    RenderReport,
    render_shot,
)

_POLL_S = 0.1
_CANCEL_WAIT_S = 30  # after a failure, how long the other chunks get to finish their frames in flight


# --- planning, for any farm ------------------------------------------------------------


# --- the Ray backend ------------------------------------------------------------------


@dataclass(frozen=True)
class FarmReport:
    render: RenderReport  # the chunks' reports together; skipped includes frames a dead attempt had finished
    chunks: int
    retried: dict[str, int]  # frame range of each chunk Ray re-ran after its worker died -> re-runs

    def to_dict(self) -> dict[str, Any]:
        return {**self.render.to_dict(), "chunks": self.chunks, "retried": self.retried}


@dataclass(frozen=True)
class _Job:
    """What every chunk's task renders with, besides its frames."""

    out_dir: Path
    cfg: RenderCfg
    output: OutputCfg
    threads: int


def render_on_ray(
    shot: Shot,
    grade: Grade,
    out_dir: str | Path,
    cfg: RenderCfg = RenderCfg(),
    farm: FarmCfg = FarmCfg(),
    output: OutputCfg = OutputCfg(),
    *,
    on_progress: ProgressCallback | None = None,
) -> FarmReport:
    """`render.render_shot` spread over Ray: one task per chunk of ``farm.chunk``
    frames, all writing into ``out_dir``, which every node must see at the same
    path, as it must the shot. The outputs and manifest are those of a single
    `render_shot` (byte for byte on the CPU), and a re-run resumes the same way.
    With ``output.force``, a chunk Ray re-runs renders its frames again instead of
    resuming. ``on_progress`` is called in this thread about ten times a second
    with the frames done across all chunks.

    Raises:
        What `render_shot` raises, from the first chunk that raised it; the
            chunks still running are cancelled and finish their frames in flight.
        InputError: a video output (chunks cannot share one file), or more
            GPUs per task than the cluster has.
        FarmError: Ray is missing, cannot start or cannot be reached, or a
            chunk's worker died on every try.
    """
    start = time.perf_counter()
    suffix = output.suffix_for(shot)
    if suffix in VIDEO_EXTENSIONS:
        raise InputError(
            f"video output ({suffix}): chunks cannot share one video file; render an image "
            "sequence on the farm (e.g. --ext exr) and encode it afterwards"
        )
    chunks = plan_chunks(shot, farm.chunk, cfg.smooth.strength > 0)
    local_cpus = farm.workers * farm.cpus_per_task if farm.workers and farm.address is None else None
    with ray_session(farm.address, local_cpus) as ray:
        gpus = _gpus_per_task(ray, farm)
        if gpus == 0 and cfg.device == "auto":
            cfg = replace(cfg, device="cpu")  # a task that holds no GPU must not take one Ray gave another
        job = _Job(Path(out_dir), cfg, output, farm.cpus_per_task)
        finished = _finished_chunks(shot, grade, job, chunks)
        todo = [chunk for chunk in chunks if chunk.index not in finished]
        ran, tally = _run_chunks(ray, shot, grade, job, todo, farm, gpus, on_progress) if todo else ([], _Tally([]))
    by_index = {**finished, **{chunk.index: report for chunk, report in zip(todo, ran)}}
    reports = [by_index[chunk.index] for chunk in chunks]
    render = RenderReport(
        Path(out_dir),
        Path(out_dir) / MANIFEST_NAME,
        [path for r in reports for path in r.outputs],
        sum(r.frames_written for r in reports),
        sum(r.skipped for r in reports),
        [n for r in reports for n in r.bad],
        time.perf_counter() - start,
    )
    retried = {
        chunk.frame_range: tally.attempts[chunk.index] - 1 for chunk in chunks if tally.attempts[chunk.index] > 1
    }
    return FarmReport(render, len(chunks), retried)


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[ModuleType]:
    """The ``ray`` module, connected for the block: to the Ray this process is already
    connected to (left connected), else to the cluster at ``address``, else to a
    local instance started here with ``num_cpus`` CPUs (default all) and the GPUs
    Ray finds, listening on loopback only, and stopped after the block. Usage
    statistics are off, and Ray logs only errors.

    Raises:
        FarmError: Ray is not installed, or does not start or connect.
    """
    ray = _import_ray(local=address is None)
    if ray.is_initialized():
        yield ray
        return
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise FarmError(f"cannot start or reach {where}: {_first_line(exc)}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _import_ray(local: bool) -> ModuleType:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if local:
        # Ray's own switch for a single-machine instance on 127.0.0.1 (its default on
        # macOS and Windows); Ray reads it on import, so it holds if nothing imported Ray before.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        import ray
    except ImportError:
        raise FarmError("hrstyle farm needs Ray: pip install 'hrstyle[farm]'") from None
    return ray


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _gpus_per_task(ray: ModuleType, farm: FarmCfg) -> float:
    available = ray.cluster_resources().get("GPU", 0)
    gpus = farm.gpus_per_task if farm.gpus_per_task is not None else (1 if available >= 1 else 0)
    if gpus > available:
        raise InputError(
            f"--gpus-per-task {gpus:g}: the Ray cluster has {available:g} GPU(s); "
            "ask for fewer, or 0 to render on the CPU"
        )
    return gpus


class _Tally:
    """Progress across chunks, from what their tasks report: frames done per chunk, and attempts."""

    def __init__(self, chunks: list[Chunk]) -> None:
        self.size = {chunk.index: len(chunk.frames) for chunk in chunks}
        self.done: dict[int, int] = {}
        self.before: dict[int, int] = {}  # frames a chunk had done when first heard of: an earlier render's
        self.attempts: Counter[int] = Counter()
        self.start = time.perf_counter()

    def take(self, events: list[tuple[int, int | None]]) -> None:
        for index, done in events:
            if done is None:
                self.attempts[index] += 1
            else:
                self.before.setdefault(index, done)
                self.done[index] = done

    def finished(self, index: int, report: RenderReport) -> None:
        """A chunk's task returned: all its frames are done, ``report.skipped`` of them before."""
        self.before.setdefault(index, report.skipped)
        self.done[index] = self.size[index]

    def progress(self) -> RenderProgress:
        before = sum(self.before.values())
        return RenderProgress(
            sum(self.done.values()) - before, sum(self.size.values()) - before, time.perf_counter() - self.start
        )


def _finished_chunks(shot: Shot, grade: Grade, job: _Job, chunks: list[Chunk]) -> dict[int, RenderReport]:
    """The chunks whose every frame the output folder's manifest lists as done, by index, each
    with its dry run's report: they are not submitted, so a resumed farm render starts no worker
    for them. None with ``force``, without a manifest, or on a GPU, where the driver cannot
    tell the precision the tasks' manifest key will name; their tasks then skip the frames.

    Raises:
        What a dry `render_shot` raises: the folder holds another render (as each task would).
    """
    if job.output.force or job.cfg.device != "cpu" or not (job.out_dir / MANIFEST_NAME).exists():
        return {}
    finished = {}
    for chunk in chunks:
        plan = render_shot(chunk_frames(shot, chunk), grade, job.out_dir, job.cfg, replace(job.output, dry_run=True))
        if plan.skipped == len(chunk.frames):
            finished[chunk.index] = plan
    return finished


def _slots(ray: ModuleType, cpus: int, gpus: float) -> int:
    """Tasks of ``cpus`` CPUs and ``gpus`` GPUs the cluster runs at once (at least 1)."""
    resources = ray.cluster_resources()
    fits = resources.get("CPU", 0) // cpus
    if gpus > 0:
        fits = min(fits, resources.get("GPU", 0) // gpus)
    return max(1, int(fits))


def _run_chunks(
    ray: ModuleType,
    shot: Shot,
    grade: Grade,
    job: _Job,
    chunks: list[Chunk],
    farm: FarmCfg,
    gpus: float,
    on_progress: ProgressCallback | None,
) -> tuple[list[RenderReport], _Tally]:
    """Submit the chunks, at most ``farm.workers`` at a time, and collect their reports in chunk order."""
    from ray.util.queue import Queue

    events = Queue(actor_options={"num_cpus": 0})
    task = ray.remote(_render_chunk)
    options = {"num_cpus": job.threads, "num_gpus": gpus, "max_retries": farm.max_retries, "retry_exceptions": False}
    shot_ref, grade_ref = ray.put(shot), ray.put(grade)  # sent once, not once per task
    # No more tasks in flight than the cluster runs at once: a queued task makes Ray start
    # a worker process for it (another torch import, seconds of CPU the running chunks
    # lose), where it would otherwise reuse the warm worker of a finished chunk.
    slots = farm.workers or _slots(ray, job.threads, gpus)
    waiting = list(reversed(chunks))
    running: dict[Any, Chunk] = {}
    reports: dict[int, RenderReport] = {}
    tally = _Tally(chunks)
    try:
        while waiting or running:
            while waiting and len(running) < slots:
                chunk = waiting.pop()
                named = task.options(name=f"hrstyle chunk {chunk.frame_range}", **options)  # shown by ps
                ref = named.remote(shot_ref, grade_ref, job, chunk, events)
                running[ref] = chunk
            done, _ = ray.wait(list(running), num_returns=1, timeout=_POLL_S)
            tally.take(events.get_nowait_batch(events.qsize()))
            for ref in done:
                chunk = running.pop(ref)
                reports[chunk.index] = _result(ray, ref, chunk, farm.max_retries)
                tally.finished(chunk.index, reports[chunk.index])
            if on_progress is not None:
                on_progress(tally.progress())
        tally.take(events.get_nowait_batch(events.qsize()))
    except BaseException:
        _cancel(ray, list(running))
        raise
    finally:
        events.shutdown(force=True)  # its actor would otherwise live as long as the Ray session
    return [reports[chunk.index] for chunk in chunks], tally


def _result(ray: ModuleType, ref: Any, chunk: Chunk, retries: int) -> RenderReport:
    """A finished chunk's report, or the error its render raised, unwrapped from Ray's."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, BaseException):
            raise exc.cause from None  # e.g. ImageReadError naming the frame, as hrstyle apply raises it
        raise FarmError(f"chunk {chunk.frame_range}: {_first_line(exc)}") from None
    except ray.exceptions.RayError as exc:
        raise FarmError(
            f"chunk {chunk.frame_range}: {type(exc).__name__} after {retries} retries (see the Ray "
            "logs); the frames done are kept, run the same command again to resume"
        ) from None


def _cancel(ray: ModuleType, refs: list[Any]) -> None:
    """Stop the chunks still running, letting each finish its frames in flight and save the manifest."""
    with contextlib.suppress(Exception):  # already failing: the first error is the one to show
        for ref in refs:
            ray.cancel(ref)
        ray.wait(refs, num_returns=len(refs), timeout=_CANCEL_WAIT_S)


def _render_chunk(shot: Shot, grade: Grade, job: _Job, chunk: Chunk, events: Any) -> RenderReport:
    """One chunk, in a Ray worker: `render_shot` on its frames, reporting progress to ``events``."""
    torch.set_num_threads(job.threads)
    events.put((chunk.index, None))  # an attempt starts: a second one means Ray re-ran the chunk
    frames = chunk_frames(shot, chunk)

    def report(p: RenderProgress) -> None:
        # This chunk's frames done, by this attempt or before it.
        events.put((chunk.index, len(chunk.frames) - (p.total - p.done)))

    return render_shot(frames, grade, job.out_dir, job.cfg, job.output, on_progress=report)

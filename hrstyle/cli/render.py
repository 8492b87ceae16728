"""hrstyle apply, farm and chunks: a look over a whole shot, here, on Ray, or planned for any farm."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.table import Table

from ..render.config import FarmCfg
from .app import FARM, OUTPUT, command, err, out
from .options import FramesOpt, RenderOptions, ShotArg, SmoothOpt, render_options
from .progress import rendering

if TYPE_CHECKING:
    from ..render.run import RenderReport


@command()
@render_options
def apply(
    opts: RenderOptions,
    dry_run: Annotated[
        bool,
        typer.Option(
            "-n", "--dry-run", help="List the files that would be written, and write nothing.", rich_help_panel=OUTPUT
        ),
    ] = False,
) -> None:
    """Apply a look (or a .cube LUT) to every frame of SHOT. Re-run the same command to resume an interrupted render.

    Without --look or --lut, the look is the one *.look.safetensors in the shot's folder (or beside a video or a
    pattern), where hrstyle tune writes it beside a keyframe.
    """
    from ..render.run import render_shot

    source, grade, target = opts.open()
    with rendering("apply") as on_progress:
        report = render_shot(
            source, grade, target, opts.render_cfg(), opts.output_cfg(dry_run), on_progress=on_progress
        )
    _report_render(report, report.to_dict() if opts.as_json else None)


@command()
@render_options
def farm(
    opts: RenderOptions,
    chunk: Annotated[
        int,
        typer.Option(
            "--chunk",
            min=1,
            help="Frames per Ray task: the unit of scheduling, retry and progress.",
            rich_help_panel=FARM,
        ),
    ] = FarmCfg.chunk,
    address: Annotated[
        Optional[str],
        typer.Option(
            "--address",
            rich_help_panel=FARM,
            help="The Ray cluster: auto (the one this machine is part of) or HOST:PORT of its head. Default: start Ray "
            "on this machine, on loopback only.",
        ),
    ] = None,
    workers: Annotated[
        Optional[int],
        typer.Option(
            "--workers",
            min=1,
            rich_help_panel=FARM,
            help="Chunks rendered at once. Default: as many as the cluster's CPUs, or GPUs, allow.",
        ),
    ] = None,
    gpus_per_task: Annotated[
        Optional[float],
        typer.Option(
            "--gpus-per-task",
            min=0.0,
            rich_help_panel=FARM,
            help="GPUs each task holds (a fraction shares one). Default: 1 where the cluster has GPUs, else 0: render "
            "on the CPU.",
        ),
    ] = None,
    cpus_per_task: Annotated[
        int,
        typer.Option(
            "--cpus-per-task", min=1, help="CPU cores each task holds; also its torch threads.", rich_help_panel=FARM
        ),
    ] = FarmCfg.cpus_per_task,
    retries: Annotated[
        int,
        typer.Option(
            "--retries",
            min=0,
            rich_help_panel=FARM,
            help="Times Ray re-runs a chunk whose worker died; a re-run resumes from the frames already written.",
        ),
    ] = FarmCfg.max_retries,
) -> None:
    """Apply a look to SHOT on Ray, one task per chunk of frames, all writing into one output folder.

    The result is the same as hrstyle apply's, and so is resuming: re-run the same command. On a cluster, every node
    must see the shot and the output folder at the same paths.
    """
    from ..render.farm import render_on_ray

    farm_cfg = FarmCfg(
        chunk=chunk,
        address=address,
        workers=workers,
        gpus_per_task=gpus_per_task,
        cpus_per_task=cpus_per_task,
        max_retries=retries,
    )
    source, grade, target = opts.open()
    with rendering("farm") as on_progress:
        result = render_on_ray(
            source, grade, target, opts.render_cfg(), farm_cfg, opts.output_cfg(), on_progress=on_progress
        )
    if result.retried:
        err.print(
            f"Ray re-ran {len(result.retried)} chunk(s) whose worker died: {', '.join(result.retried)}", markup=False
        )
    _report_render(result.render, result.to_dict() if opts.as_json else None)


@command()
def chunks(
    shot: ShotArg,
    size: Annotated[int, typer.Option("--size", min=1, help="Frames per chunk.")] = FarmCfg.chunk,
    frames: FramesOpt = None,
    smooth: SmoothOpt = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the chunks as JSON on stdout.")] = False,
) -> None:
    """Split SHOT into frame ranges for a render farm, one task each (hrstyle apply SHOT --frames RANGE -o OUT).

    With --smooth, each chunk also lists the frames it warms up on: read and graded before its range, never
    written, so that chunks stitch seamlessly.
    """
    from ..io.sequence import format_frame_range
    from ..io.shot import open_shot
    from ..render.chunks import plan_chunks

    source = open_shot(shot, frames)
    plan = plan_chunks(source, size, smooth > 0)
    name = str(source.pattern or source.source)
    if as_json:
        print(
            json.dumps(
                {
                    "shot": name,
                    "frames": len(source),
                    "size": size,
                    "smooth": smooth > 0,
                    "chunks": [c.to_dict() for c in plan],
                },
                indent=2,
            )
        )
        return
    task = f"hrstyle apply {shlex.quote(shot)} --look FILE --frames RANGE -o OUT" + (
        f" --smooth {smooth:g}" if smooth else ""
    )
    table = Table(
        title=f"{name}: {len(source)} frames in {len(plan)} chunk(s) of up to {size}",
        caption=f"one farm task per chunk: {task}",
    )
    for column in ("chunk", "frames", "count", "warm-up"):
        table.add_column(column, justify="right" if column != "frames" else "left")
    for c in plan:
        table.add_row(str(c.index), c.frame_range, str(len(c.frames)), format_frame_range(list(c.warmup)) or "—")
    out.print(table)


def _report_render(report: RenderReport, summary: dict[str, Any] | None) -> None:
    """What a render did, on stderr, with the output folder on stdout, or ``summary`` as JSON on stdout."""
    from ..io.sequence import format_frame_range

    if report.bad:
        err.print(f"warning: skipped {len(report.bad)} unreadable frame(s): {format_frame_range(report.bad)}")
    if summary is not None:
        print(json.dumps(summary, indent=2))
    elif report.dry_run:
        err.print(
            f"dry run: would write {len(report.outputs)} file(s) into {report.out_dir} "
            f"({report.skipped} frame(s) already done)",
            markup=False,
        )
        for path in report.outputs:
            out.print(str(path), markup=False)
    else:
        err.print(
            f"wrote {report.frames_written} frame(s), {report.skipped} already done, in {report.seconds:.1f} s "
            f"({report.fps:.2f} fps)",
            markup=False,
        )
        out.print(str(report.out_dir), markup=False)

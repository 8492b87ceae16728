"""Progress on stderr: a Rich bar in a terminal, a plain line every 10% anywhere else.

A log, CI or a render farm's task output shows no bar at all: Rich draws nothing
when stderr is not a terminal. There each bar prints one line per tenth of the
work instead, so a long tune or render says how far it got wherever it runs.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .app import EXIT_INTERRUPTED, err, fail, interrupt_pending

if TYPE_CHECKING:
    from torch import Tensor

    from ..look.sweep import SweepCell, SweepProgress
    from ..look.tune import StepStats
    from ..render.run import RenderProgress

PLAIN_STEPS = 10  # plain lines per run: one each tenth


class Bar:
    """A progress bar on stderr that appears with the first update, so errors found before
    any work print alone, and goes when the block ends (unless ``transient`` is off).

    ``plain`` formats the line printed in place of the bar when stderr is not a terminal,
    from ``completed``, ``total`` and the fields of each update.
    """

    def __init__(self, *columns: Any, plain: str, transient: bool = True):
        self.progress = Progress(*columns, console=err, transient=transient)
        self.plain = plain
        self.task: int | None = None
        self._tenths = -1

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, total: int, completed: int, **fields: Any) -> None:
        if interrupt_pending():
            raise KeyboardInterrupt
        if not err.is_terminal:
            self._plain_line(total, completed, fields)
            return
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("", total=total, **fields)
        self.progress.update(self.task, total=total, completed=completed, **fields)  # a farm's total shrinks

    def note(self, text: str) -> None:
        """A line above the bar (or among the plain lines)."""
        self.progress.console.print(text, markup=False)

    def _plain_line(self, total: int, completed: int, fields: dict[str, Any]) -> None:
        tenths = PLAIN_STEPS * completed // max(total, 1)
        if completed == 0 or tenths <= self._tenths:
            return
        self._tenths = tenths
        line = self.plain.format(completed=completed, total=total, percent=completed / max(total, 1), **fields)
        err.print(line, markup=False)


class TuneBar(Bar):
    """Progress of a tune (step, losses, it/s), plus previews."""

    def __init__(self, steps: int, preview: Path | None = None, preview_every: int = 25):
        figures = (
            "loss {loss:.3f} · content {content:.3f} · style {style:.3f} · steady {steady:.3f} · "
            "structure {structure:.3f} · residual {residual:.3f}"
        )
        super().__init__(
            TextColumn("[bold]tune"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(figures.replace("{", "{task.fields[").replace(":.3f}", "]:.3f}")),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            plain="tune {completed}/{total} ({percent:.0%}) · " + figures + " · {rate}",
        )
        self.steps, self.preview, self.preview_every = steps, preview, preview_every

    def __call__(self, stats: StepStats, image: Tensor) -> None:
        self.update(
            self.steps,
            stats.step,
            loss=stats.total,
            content=stats.content,
            style=stats.style,
            steady=stats.steady,
            structure=stats.structure_ssim,
            residual=stats.affine_residual,
            rate=f"{stats.step / max(stats.seconds, 1e-9):.2f} it/s",
        )
        if self.preview is not None and (stats.step % self.preview_every == 0 or stats.step == 1):
            from ..io.tensors import write_preview

            write_preview(self.preview, image)


class RenderBar(Bar):
    """Progress of a render: frames done/total, fps, time left."""

    def __init__(self, label: str = "apply") -> None:
        super().__init__(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]}"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            plain=label + " {completed}/{total} frames ({percent:.0%}) · {fps}",
        )

    def __call__(self, p: RenderProgress) -> None:
        self.update(p.total, p.done, fps=f"{p.fps:.2f} fps")


class SweepBar(Bar):
    """One bar over every step of every cell of a sweep, and a line per finished cell."""

    def __init__(self) -> None:
        super().__init__(
            TextColumn("[bold]sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[cell]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            plain="sweep {completed}/{total} steps ({percent:.0%}) · {cell}",
            transient=False,
        )
        self.steps = self.done = 0

    def step(self, p: SweepProgress) -> None:
        self.steps = p.steps
        self.update(
            p.total,
            p.completed,
            cell=f"cell {p.cell + 1}/{p.cells}: content {p.content_weight:g}, style {p.style_weight:g}",
        )

    def cell(self, cell: SweepCell) -> None:
        self.done += 1  # a cell that stopped early on a plateau still counts its full steps
        if self.task is not None:
            self.progress.update(self.task, completed=self.done * self.steps)
        s = cell.score
        self.note(
            f"{cell.title}: style gap {s.style_gap:.3f} · structure {s.structure_ssim:.3f} · "
            f"affine {s.affine_residual:.3f} ({cell.seconds:.0f} s)"
        )


@contextlib.contextmanager
def rendering(label: str) -> Iterator[RenderBar]:
    """A render's progress bar; Ctrl-C ends the render with a hint to resume it."""
    with RenderBar(label) as bar:
        try:
            yield bar
        except KeyboardInterrupt:
            bar.progress.stop()
            fail("interrupted; the finished frames are kept, run the same command again to resume", EXIT_INTERRUPTED)

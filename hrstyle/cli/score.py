"""hrstyle score: the quality figures of a graded result (docs/metrics.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from .app import command, err, out


def figures_table(title: str) -> Table:
    """A table of measured figures: name, value, and how to read it."""
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("reading")
    return table


@command()
def score(
    content: Annotated[
        Path,
        typer.Option(
            "--content", help="The ungraded shot or image (folder, pattern, video or still).", show_default=False
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", help="The graded shot or image, with the same frame numbers.", show_default=False),
    ],
    look: Annotated[
        Path, typer.Option("--look", help="The reference still the look was tuned towards.", show_default=False)
    ],
    truth: Annotated[
        Optional[Path],
        typer.Option(
            "--truth",
            show_default=False,
            help="The right answer, where it is known (the content through a known grade), with the same frame "
            "numbers: adds ΔE2000 to it and the share of the grade recovered.",
        ),
    ] = None,
    every: Annotated[
        int, typer.Option(min=1, help="Compute the still figures on every Nth frame (temporal figures use all).")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON on stdout.")] = False,
) -> None:
    """Measure a graded result: style gap, structure, photorealism, flicker, and ΔE2000 to a known truth.

    Each figure is defined in docs/metrics.md.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from ..io.shot import open_shot
    from ..io.stills import read_image
    from ..score.metrics import score_shots

    content_shot, output_shot = open_shot(content), open_shot(output)
    truth_shot = open_shot(truth) if truth is not None else None
    look_pixels = read_image(look).pixels
    with Progress(
        TextColumn("[bold]score"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    ) as progress:
        task = progress.add_task("score", total=len(content_shot))
        result = score_shots(
            content_shot,
            output_shot,
            look_pixels,
            truth=truth_shot,
            every=every,
            on_frame=lambda n: progress.advance(task),
        )
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    m = result.mean
    table = figures_table(f"{output} against {content} ({result.frames} frames, {len(result.scored_frames)} scored)")
    table.add_row("style_gap", f"{m.style_gap:.3f}", "1 = unchanged, 0 = matched the look")
    for layer, value in m.style_per_layer.items():
        table.add_row(f"  {layer}", f"{value:.3f}", "colour" if layer in ("relu1_1", "relu2_1") else "texture")
    table.add_row("structure_ssim", f"{m.structure_ssim:.3f}", "1 = identical structure")
    table.add_row("affine_residual", f"{m.affine_residual:.3f}", "≈0.03-0.06 photoreal, ≥0.2 painterly")
    table.add_row("colour_incoherence", f"{m.colour_incoherence:.2f}", "spread of one colour's treatment (ΔE)")
    if m.delta_e is not None:
        table.add_row("ΔE2000 to the truth", f"{m.delta_e:.2f}", f"95th percentile {m.delta_e_p95:.2f}; 2-3 is a match")
        table.add_row("  untouched", f"{m.delta_e_untouched:.2f}", "the content's own ΔE2000 to the truth")
        table.add_row("  share recovered", f"{m.share_recovered:.0%}", "1 = the truth, 0 = no closer than untouched")
    if m.temporal_ratio is not None:
        table.add_row("warp_error", f"{m.warp_error:.5f}", "")
        table.add_row("temporal ratio", f"{m.temporal_ratio:.3f}", "1 = no added flicker (a contrast gain raises it)")
        table.add_row("grade_flicker", f"{m.grade_flicker:.3f}", "1 = changes as a steady grade would, >1 flicker")
    out.print(table)

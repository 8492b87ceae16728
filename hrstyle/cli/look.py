"""hrstyle info and bake: what a look file holds, and a look baked into a .cube LUT."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from ..grade.config import DEFAULT_SMOOTHNESS, BakeCfg
from .app import OUTPUT, command, err, fail, out
from .options import StyleWeightOpt
from .score import figures_table

if TYPE_CHECKING:
    from ..grade.bake import BakeResult


@command()
def info(
    look_file: Annotated[Path, typer.Argument(help="A look file written by hrstyle tune.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metadata as JSON.")] = False,
) -> None:
    """Print a look file's metadata: settings, provenance and final losses."""
    from ..look.meta import read_look_header

    header = read_look_header(look_file)  # the header alone: no weights, no torch
    meta = {**header.meta.to_dict(), "sha256": header.sha256, "parameters": header.parameters}
    if as_json:
        print(json.dumps(meta, indent=2, sort_keys=True))
        return
    table = Table(title=str(look_file), show_header=False)
    for key, value in meta.items():
        table.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    out.print(table)


@command()
def bake(
    look_file: Annotated[Path, typer.Argument(help="The look file to bake, from hrstyle tune.", show_default=False)],
    sources: Annotated[
        list[Path],
        typer.Option(
            "--from",
            metavar="FRAME",
            show_default=False,
            help="A frame to run the look over; repeat for more. Frames that together show the shot's colours give "
            "a LUT that holds across it.",
        ),
    ],
    output: Annotated[
        Optional[Path],
        typer.Option(
            "-o",
            "--output",
            help="The .cube file to write. Default: <look>.cube beside the look file.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    size: Annotated[
        int,
        typer.Option(
            "--size", help="Lattice points per axis: 33 (what grading apps usually load) or 65 (finer, 8x the file)."
        ),
    ] = BakeCfg.size,
    look_image: Annotated[
        Optional[Path],
        typer.Option(
            "--look-image",
            show_default=False,
            help="The reference still the look was tuned towards: adds the network's and the LUT's style gap to the "
            "report.",
        ),
    ] = None,
    interpolation: Annotated[
        str,
        typer.Option(
            "--interpolation",
            help="The interpolation the LUT is fitted for and measured with: tetrahedral, or trilinear (the default "
            "of OCIO and Resolve).",
        ),
    ] = BakeCfg.method,
    smoothness: Annotated[
        float,
        typer.Option(
            "--smoothness",
            help="How smooth the table is where colours are sparse; higher gives up fidelity for smoothness.",
            rich_help_panel="Fitting",
        ),
    ] = DEFAULT_SMOOTHNESS,
    samples: Annotated[
        int,
        typer.Option(
            "--samples", min=1, help="Random pixels per frame the LUT is fitted to.", rich_help_panel="Fitting"
        ),
    ] = BakeCfg.samples_per_frame,
    seed: Annotated[
        int,
        typer.Option(
            help="Which pixels are sampled; the same seed and frames give the same LUT.", rich_help_panel="Fitting"
        ),
    ] = BakeCfg.seed,
    device: Annotated[str, typer.Option(help="Where the look runs: auto, cpu, cuda or mps.")] = "auto",
    style_weight: StyleWeightOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing .cube file.", rich_help_panel=OUTPUT)
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the capture figures and the path as JSON on stdout.", rich_help_panel=OUTPUT
        ),
    ] = False,
) -> None:
    """Bake a look into a 3D LUT (.cube) for Resolve, Baselight, Nuke or OCIO; says how much of the look it carries.

    The look runs over the --from frames as hrstyle apply runs it; the LUT is fitted to what it does to their
    colours. A look that treats one colour differently in different places has local parts no LUT can carry: the
    report says how much that is.
    """
    from ..grade.bake import bake_files
    from ..grade.config import RenderCfg

    if size not in (33, 65):
        fail(f"--size {size}: expected 33 or 65", 2)
    cfg = BakeCfg(size=size, smoothness=smoothness, method=interpolation, samples_per_frame=samples, seed=seed)
    result = bake_files(
        look_file,
        sources,
        output,
        cfg,
        RenderCfg(device=device, style_weight=style_weight),
        look_image=look_image,
        overwrite=force,
    )
    if as_json:
        print(
            json.dumps(
                {
                    "path": str(result.path),
                    "size": size,
                    "interpolation": interpolation,
                    "seconds": round(result.seconds, 3),
                    **result.capture.to_dict(),
                },
                indent=2,
            )
        )
        return
    _report_bake(result)
    out.print(str(result.path), markup=False)


def _report_bake(result: BakeResult) -> None:
    c = result.capture
    table = figures_table(
        f"{result.cfg.size}³ LUT from {c.frames} frame(s), {result.cfg.method}, {result.seconds:.1f} s"
    )
    table.add_row("captured", f"{c.captured:.1%}", "share of the look's change the LUT reproduces")
    table.add_row("rmse", f"{c.rmse * 255:.2f}", "LUT vs network, in 8-bit code values")
    table.add_row("max abs diff", f"{c.max_abs * 255:.1f}", "the worst pixel, in 8-bit code values")
    table.add_row("psnr", f"{c.psnr:.1f} dB", "LUT vs network")
    table.add_row("look rmse", f"{c.look_rmse * 255:.2f}", "how far the look moves pixels, for scale")
    if c.style_gap_network is not None:
        table.add_row("style gap, network", f"{c.style_gap_network:.3f}", "1 = unchanged, 0 = matched the look image")
        table.add_row("style gap, LUT", f"{c.style_gap_lut:.3f}", "")
    err.print(table)
    err.print(c.verdict(), markup=False)

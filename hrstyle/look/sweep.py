"""Content/style weight sweeps: one small look per pair of weights, side by side.

The balance between keeping the keyframe (content weight) and taking on the
look (style weight) is the colorist's main decision. `run_sweep` tunes one
look per cell of a grid of weights and shows them together: a contact sheet
(rows = content weight, columns = style weight) and ``sweep.json`` with each
cell's style_gap, structure_ssim and affine_residual (docs/metrics.md).

With ``SweepCfg.one_look`` the grid takes the route of a conditional look: one
tune covers every cell's style/content ratio (tune --trade-off) and each cell
is that look rendered at its ratio, so the grid costs one tune instead of one
per cell (bench/trade_off.py compares the two).

The keyframe's and the look's VGG targets are made once, at the work size, and
shared by every cell; every cell also starts from the same network (one
seed), so cells differ only by their weights. A cell's preview is the keyframe
graded exactly as `hrstyle apply` grades a frame (`render.grade_batch`), and its
figures are measured on that preview.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from ..errors import OutputError
from ..grade.config import RenderCfg
from ..grade.steps import grade_batch
from ..io.atomic import check_writable, describe_os_error, write_bytes_atomic
from ..io.imaging import resize_long_side
from ..io.stills import read_image
from ..io.tensors import to_pixels, to_tensor, write_preview
from ..score.metrics import Score, StillScorer
from ..score.sheet import contact_sheet
from .config import SweepCfg, TuneCfg
from .correspond import Matches
from .file import Look, save_look
from .meta import LOOK_SUFFIX
from .perceptual import PerceptualTargets, VGGFeatures
from .tune import (
    StepCallback,
    StepStats,
    TuneResult,
    initial_net,
    look_meta,
    prepare,
    tune,
    tune_matches,
    tune_targets,
    working_pixels,
)

SHEET_NAME = "sweep.png"
JSON_NAME = "sweep.json"
JSON_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)  # eq=False: cells hold arrays; two cells are equal only when they are one
class SweepCell:
    """One tuned look of the grid, its graded keyframe and its figures."""

    row: int
    col: int
    content_weight: float
    style_weight: float
    look: Look  # in memory; ``look.sha256`` is empty unless the look was saved
    preview: np.ndarray  # (H,W,3) RGB [0,1]: the keyframe as `hrstyle apply` grades it, at preview size
    score: Score  # docs/metrics.md figures of ``preview`` against the keyframe and the look
    seconds: float  # tuning and grading this cell
    look_path: Path | None = None  # where the look was saved (SweepCfg.keep)

    @property
    def name(self) -> str:
        """The stem of this cell's files, e.g. ``cell_c0.5_s2``."""
        return f"cell_c{self.content_weight:g}_s{self.style_weight:g}"

    @property
    def preview_file(self) -> str:
        return f"{self.name}.png"

    @property
    def look_file(self) -> str:
        return f"{self.name}{LOOK_SUFFIX}"

    @property
    def title(self) -> str:
        return f"content {self.content_weight:g}  style {self.style_weight:g}"

    @property
    def label(self) -> str:
        """The caption on the contact sheet: the weights, then the figures."""
        s = self.score
        return (
            f"{self.title}\nstyle gap {s.style_gap:.3f}  structure {s.structure_ssim:.3f}\n"
            f"affine {s.affine_residual:.3f}"
        )

    def to_dict(self) -> dict[str, Any]:
        meta = self.look.meta
        return {
            "row": self.row,
            "col": self.col,
            "content_weight": self.content_weight,
            "style_weight": self.style_weight,
            "style_gap": self.score.style_gap,
            "style_per_layer": self.score.style_per_layer,
            "structure_ssim": self.score.structure_ssim,
            "affine_residual": self.score.affine_residual,
            "steps_done": meta.steps_done,
            "stopped": meta.stopped,
            "final_losses": meta.final_losses,
            "seconds": round(self.seconds, 3),
            "preview": self.preview_file,
            "look_file": self.look_path.name if self.look_path else None,
            # a one-look sweep's cell is its look at this point: hrstyle apply --style-weight
            **({"apply_style_weight": self.style_weight / self.content_weight} if self.look.meta.conditional else {}),
        }


@dataclass
class SweepResult:
    """A finished sweep: its cells and where its contact sheet and figures were written."""

    cfg: SweepCfg
    keyframe: Path
    look_image: Path
    cells: list[SweepCell]  # row-major: all style weights of the first content weight, then the next
    sheet_path: Path
    json_path: Path
    device: str
    seconds: float

    @property
    def rows(self) -> list[list[SweepCell]]:
        """The cells as the contact sheet shows them: one list per content weight."""
        cols = self.cfg.shape[1]
        return [self.cells[i : i + cols] for i in range(0, len(self.cells), cols)]

    def to_dict(self) -> dict[str, Any]:
        settings = {k: v for k, v in asdict(self.cfg.tune).items() if k not in ("content_weight", "style_weight")}
        return {
            "format": "hrstyle-sweep",
            "version": JSON_FORMAT_VERSION,
            "keyframe": str(self.keyframe),
            "look_image": str(self.look_image),
            "one_look": self.cfg.one_look,
            "tunes": 1 if self.cfg.one_look else len(self.cells),
            "rows": "content_weight",
            "columns": "style_weight",
            "content_weights": list(self.cfg.content_weights),
            "style_weights": list(self.cfg.style_weights),
            "tune": settings,
            "work_size": self.cells[0].look.meta.work_size,
            "preview_size": list(self.cells[0].preview.shape[:2]),
            "device": self.device,
            "seconds": round(self.seconds, 3),
            "sheet": self.sheet_path.name,
            "cells": [c.to_dict() for c in self.cells],
        }


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep is: passed to ``on_step`` after every tuning step of every cell."""

    cell: int  # 0-based, row-major
    cells: int
    content_weight: float
    style_weight: float
    steps: int  # steps per cell; a cell may stop earlier on a plateau
    stats: StepStats

    @property
    def completed(self) -> int:
        """Steps of the whole grid done, counting earlier cells as full."""
        return self.cell * self.steps + self.stats.step

    @property
    def total(self) -> int:
        return self.cells * self.steps


def save_cell_look(cell: SweepCell, path: str | Path) -> Look:
    """Save ``cell``'s look file (atomically) for `hrstyle apply`; returns it with its SHA-256."""
    return replace(cell.look, sha256=save_look(path, cell.look.net, cell.look.meta))


@dataclass
class _Shared:
    """What every cell of one sweep uses, made once."""

    keyframe: Path
    look_image: Path
    out_dir: Path
    cfg: SweepCfg
    device: torch.device
    vgg: VGGFeatures
    targets: PerceptualTargets
    matches: Matches | None  # the keyframe's in the look, made once for every tune of the sweep
    key_t: Tensor  # (1,3,H,W) in the working encoding, as `hrstyle tune` reads it
    look_t: Tensor
    preview_in: Tensor  # the keyframe at preview size
    scorer: StillScorer


def _prepare(
    keyframe: Path,
    look_image: Path,
    key_t: Tensor,
    look_t: Tensor,
    out_dir: Path,
    cfg: SweepCfg,
    device: torch.device,
    vgg_weights: str | Path | None,
) -> _Shared:
    vgg = VGGFeatures(weights=vgg_weights).to(device)
    content, look = prepare(key_t, cfg.tune.size, device), prepare(look_t, cfg.tune.size, device)
    matches = tune_matches(vgg, key_t, look_t, cfg.tune)
    start = initial_net(content, look, cfg.tune, matches)
    targets = tune_targets(vgg, key_t, look_t, start.to(device), cfg.tune)
    preview_in = resize_long_side(key_t, cfg.preview_size)
    # docs/metrics.md defines the figures on display-referred [0,1] pixels; working
    # values outside that (EXR highlights) are clipped for scoring only.
    scorer = StillScorer(to_pixels(preview_in).clip(0, 1), to_pixels(look_t).clip(0, 1), vgg)
    return _Shared(keyframe, look_image, out_dir, cfg, device, vgg, targets, matches, key_t, look_t, preview_in, scorer)


ONE_LOOK_NAME = f"trade_off{LOOK_SUFFIX}"


def _tune(
    shared: _Shared, cfg: TuneCfg, on_step: StepCallback | None, targets: PerceptualTargets | None = None
) -> TuneResult:
    """One tune of the sweep's pair, sharing its VGG and matches; Ctrl-C stops the whole sweep."""
    result = tune(
        shared.key_t,
        shared.look_t,
        cfg,
        device=shared.device,
        vgg=shared.vgg,
        targets=targets,
        matches=shared.matches,
        on_step=on_step,
    )
    if result.stopped == "interrupted":
        raise KeyboardInterrupt
    return result


def _tune_one_look(shared: _Shared, on_step: Callable[[SweepProgress], None] | None) -> tuple[Look, Path]:
    """The conditional look of a ``one_look`` sweep, saved in the sweep's folder."""
    tune_cfg = shared.cfg.one_look_tune()
    report = (
        None
        if on_step is None
        else (lambda stats, _image: on_step(SweepProgress(0, 1, 1.0, tune_cfg.style_weight, tune_cfg.steps, stats)))
    )
    result = _tune(shared, tune_cfg, report)
    meta = look_meta(result, shared.keyframe, shared.look_image, shared.vgg.weights_id)
    path = shared.out_dir / ONE_LOOK_NAME
    return Look(result.net, meta, save_look(path, result.net, meta)), path


def _grade_cell(shared: _Shared, row: int, col: int, look: Look, render: RenderCfg) -> SweepCell:
    """A cell from its look: the keyframe graded at preview size with ``render`` and scored."""
    graded = grade_batch(look.prepare(render), shared.preview_in, render).clamp(0, 1)
    preview = to_pixels(graded)
    cw, sw = shared.cfg.content_weights[row], shared.cfg.style_weights[col]
    cell = SweepCell(row, col, cw, sw, look, preview, shared.scorer(preview), seconds=0.0)
    write_preview(shared.out_dir / cell.preview_file, graded)
    return cell


def _run_cell(shared: _Shared, index: int, on_step: Callable[[SweepProgress], None] | None) -> SweepCell:
    start = time.perf_counter()
    cfg = shared.cfg
    rows, cols = cfg.shape
    row, col = divmod(index, cols)
    cw, sw = cfg.content_weights[row], cfg.style_weights[col]
    tune_cfg = replace(cfg.tune, content_weight=cw, style_weight=sw)
    report = (
        None
        if on_step is None
        else (lambda stats, _image: on_step(SweepProgress(index, rows * cols, cw, sw, tune_cfg.steps, stats)))
    )
    result = _tune(shared, tune_cfg, report, shared.targets)
    look = Look(result.net, look_meta(result, shared.keyframe, shared.look_image, shared.vgg.weights_id), sha256="")
    cell = _grade_cell(shared, row, col, look, RenderCfg(device=str(shared.device)))
    if cfg.keep:
        path = shared.out_dir / cell.look_file
        cell = replace(cell, look=save_cell_look(cell, path), look_path=path)
    return replace(cell, seconds=time.perf_counter() - start)


def run_sweep(
    keyframe: str | Path,
    look_image: str | Path,
    out_dir: str | Path,
    cfg: SweepCfg = SweepCfg(),
    *,
    device: torch.device | str = "cpu",
    vgg_weights: str | Path | None = None,
    overwrite: bool = False,
    on_step: Callable[[SweepProgress], None] | None = None,
    on_cell: Callable[[SweepCell], None] | None = None,
) -> SweepResult:
    """Tune one look per (content weight, style weight) cell of ``cfg`` and write the results to ``out_dir``.

    Writes ``cell_c<content>_s<style>.png`` (each cell's graded keyframe at
    preview size), with ``cfg.keep`` ``cell_c<content>_s<style>.look.safetensors``,
    then ``sweep.png`` (the labelled contact sheet) and last ``sweep.json``
    (every cell's figures), whose presence marks a finished sweep. Refuses a
    folder that holds one unless ``overwrite``. ``on_step`` is called after every
    tuning step, ``on_cell`` after every cell. Ctrl-C stops the sweep (looks
    already kept stay) and re-raises KeyboardInterrupt.

    Each cell's look is the one `hrstyle tune` makes from the same files and settings.

    Raises:
        ImageReadError: an unreadable keyframe or look image.
        ShapeError: a keyframe or look image too small to tune on.
        OutputError: ``out_dir`` holds a sweep, or cannot be written.
    """
    start = time.perf_counter()
    keyframe, look_image, out_dir, device = Path(keyframe), Path(look_image), Path(out_dir), torch.device(device)
    json_path, sheet_path = out_dir / JSON_NAME, out_dir / SHEET_NAME
    if json_path.exists() and not overwrite:
        raise OutputError(
            f"{out_dir}: holds a sweep already; pass --force to overwrite it or -o to choose another folder"
        )
    key_t, look_t = (to_tensor(working_pixels(read_image(path))) for path in (keyframe, look_image))
    # Checks the images' sizes before the folder is made, so a refused sweep leaves nothing behind.
    shared = _prepare(keyframe, look_image, key_t, look_t, out_dir, cfg, device, vgg_weights)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(describe_os_error(json_path, exc)) from None
    check_writable(json_path)

    # Cells run one after another. On the CPU torch already spreads one tune
    # over all cores, so cells side by side would only share them. On a GPU
    # small tunes could overlap, but tune() seeds the global RNG and catches
    # Ctrl-C, both process-wide, so concurrent cells would no longer each be
    # exactly the look `hrstyle tune` makes with the same settings.
    cells: list[SweepCell] = []
    one_look = _tune_one_look(shared, on_step) if cfg.one_look else None
    for index in range(cfg.shape[0] * cfg.shape[1]):
        if one_look is None:
            cells.append(_run_cell(shared, index, on_step))
        else:
            cell_start = time.perf_counter()
            row, col = divmod(index, cfg.shape[1])
            ratio = cfg.style_weights[col] / cfg.content_weights[row]
            cell = _grade_cell(shared, row, col, one_look[0], RenderCfg(style_weight=ratio, device=str(shared.device)))
            cells.append(replace(cell, look_path=one_look[1], seconds=time.perf_counter() - cell_start))
        if on_cell is not None:
            on_cell(cells[-1])

    result = SweepResult(
        cfg, keyframe, look_image, cells, sheet_path, json_path, str(device), time.perf_counter() - start
    )
    sheet = contact_sheet(
        [[c.preview for c in row] for row in result.rows],
        [[c.label for c in row] for row in result.rows],
        cfg.cell_width,
    )
    write_preview(sheet_path, to_tensor(sheet))
    write_bytes_atomic(json_path, json.dumps(result.to_dict(), indent=2).encode())
    return result

"""The cost of one slider move in the trade-off notebook (issue 17): ≤ 0.25 s on two CPU cores.

A move re-grades the sample keyframe at preview size (512 px) with `LookPreview`:
a conditional look (tune --trade-off) at a new style weight and mix. Its peer in
the same run is the same re-grade with a plain look of the same size, i.e. what
`hrstyle apply` spends on one preview frame, so the ratio is what conditioning
costs. Looks of the default network at two work sizes: 256 px (the notebook's
and the sweep's kind of look) and 512 px (a default `hrstyle tune`). The weights
are random: a move's cost does not depend on what the look learnt.

    python bench/slider.py            # ~1 min on 2 cores

Writes <out>/slider.{json,md}; a run into bench/results also updates BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

from common import Table, add_run_options, parse_run_options, write_benchmarks_md, write_results  # isort: skip  (hrstyle before torch)
import torch

from hrstyle.demo import samples_dir
from hrstyle.io.stills import read_image
from hrstyle.io.tensors import to_tensor
from hrstyle.look.config import DEFAULT_TRADE_OFF, FILM_WIDTH, NET_PRESETS, TuneCfg, log_between
from hrstyle.look.file import Look
from hrstyle.look.meta import LookMeta
from hrstyle.look.net import HRNet
from hrstyle.look.preview import LookPreview
from hrstyle.look.tune import working_pixels

BUDGET_S = 0.25


def _look(work_size: tuple[int, int], conditional: bool) -> Look:
    cfg = TuneCfg(trade_off=DEFAULT_TRADE_OFF if conditional else None)
    torch.manual_seed(0)
    net = HRNet(replace(NET_PRESETS[cfg.net], film=FILM_WIDTH if conditional else 0))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    meta = LookMeta(
        net.cfg.to_dict(),
        cfg.to_dict(),
        0,
        list(work_size),
        "",
        "",
        "",
        {},
        "completed",
        style_weights=list(cfg.style_weights),
    )
    return Look(net.eval().requires_grad_(False), meta, "")


def time_moves(previews: dict[bool, LookPreview], moves: int) -> dict[bool, list[float]]:
    """Seconds of each move, the conditional and the plain look's taken in turn so that a
    busy spell on the machine falls on both."""
    generator = torch.Generator().manual_seed(0)
    seconds: dict[bool, list[float]] = {conditional: [] for conditional in previews}
    for preview in previews.values():
        preview()  # the first call warms oneDNN's kernels
    for _ in range(moves):
        u, mix = torch.rand(2, generator=generator).tolist()
        for conditional, preview in previews.items():
            weight = log_between(*preview.look.meta.style_weights, u) if conditional else None
            start = time.perf_counter()
            preview(weight, mix)
            seconds[conditional].append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=40, help="slider moves timed per look")
    parser.add_argument("--preview", type=int, default=512, help="preview long side (px)")
    add_run_options(parser)
    args = parse_run_options(parser, argv)
    keyframe = to_tensor(working_pixels(read_image(samples_dir() / "keyframe.png")))
    rows, data = [], {"settings": vars(args), "looks": []}
    for side in (256, 512):
        h, w = keyframe.shape[-2:]
        work = (round(h * side / max(h, w)), round(w * side / max(h, w)))
        previews = {c: LookPreview(_look(work, c), keyframe, args.preview, device="cpu") for c in (True, False)}
        seconds = time_moves(previews, args.moves)
        medians = {conditional: statistics.median(moves) for conditional, moves in seconds.items()}
        data["looks"] += [{"work_size": work, "conditional": c, "seconds": moves} for c, moves in seconds.items()]
        ratio = medians[True] / medians[False]
        rows.append(
            [
                f"{work[1]}x{work[0]}",
                medians[True] * 1e3,
                medians[False] * 1e3,
                ratio,
                "yes" if medians[True] <= BUDGET_S else "no",
            ]
        )
    table = Table(
        f"One slider move: the keyframe re-graded at {args.preview} px (median of {args.moves} moves)",
        [
            "look's work size",
            "conditional look, ms",
            "plain look, ms",
            "conditional ÷ plain",
            f"≤ {BUDGET_S * 1e3:.0f} ms",
        ],
        rows,
    )
    print(write_results("slider", data, [table], args.out))
    write_benchmarks_md(args.out, "slider")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One conditional look against a separate tune per trade-off point (issue 17).

On each development pair of bench/pairs.py, one tune with ``trade_off`` covering
the ratios, and one plain tune at each ratio, all with the same steps and
settings: all of the style and the keyframe start (``unmatched_style=1``,
``unmatched_carry=0``), since the development pairs' references show other
content than their keyframes and a default tune would carry a tenth of their
style (docs/tune.md). Each look grades the content at full resolution as `hrstyle apply`
does (the conditional one at each ratio through ``RenderCfg.style_weight``),
and each output is scored (docs/metrics.md): style_gap, structure_ssim,
colour_incoherence.

Targets: at every ratio, the conditional look's style_gap ≤ 1.05× the separate
tune's, structure_ssim within 0.01 and colour_incoherence within 10% (medians
over the pairs; the per-pair share is reported too); the conditional tune costs
≤ 1.3× one plain tune; and on every pair, style_gap and structure_ssim both fall
as the ratio rises.

    python bench/trade_off.py                      # 12 pairs, ratios 0.25,1,4, 128 px, 100 steps: ~15 min on 2 cores
    python bench/trade_off.py --limit 2 --steps 20 # smoke run

Writes <out>/trade_off.{json,md}; a run into bench/results also updates BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pairs
from common import Table, add_run_options, parse_run_options, write_benchmarks_md, write_results

from hrstyle.grade.config import RenderCfg
from hrstyle.grade.steps import grade_frames, prepare_look
from hrstyle.io.tensors import to_pixels, to_tensor
from hrstyle.look.config import DEFAULT_TRADE_OFF, TuneCfg
from hrstyle.look.file import Look
from hrstyle.look.meta import LookMeta
from hrstyle.look.perceptual import VGGFeatures
from hrstyle.look.tune import TuneResult, tune
from hrstyle.score.metrics import StillScorer
from hrstyle.score.truth import colour_incoherence

GAP_RATIO, SSIM_DELTA, INCOHERENCE_RATIO, COST_RATIO = 1.05, 0.01, 1.10, 1.3


@dataclass
class Point:
    pair: str
    ratio: float
    method: str  # conditional | separate
    style_gap: float
    structure_ssim: float
    colour_incoherence: float


def _look(result: TuneResult) -> Look:
    cfg = result.cfg
    meta = LookMeta(
        result.net.cfg.to_dict(),
        cfg.to_dict(),
        result.steps_done,
        list(result.work_size),
        "",
        "",
        "",
        {},
        "completed",
        style_weights=list(cfg.style_weights),
    )
    return Look(result.net, meta, "")


def _score(look: Look, content: np.ndarray, ratio: float, scorer: StillScorer) -> tuple[float, float, float]:
    cfg = RenderCfg(style_weight=ratio)
    graded, _ = grade_frames(prepare_look(look, cfg), to_tensor(content), cfg, 1)
    out = np.clip(to_pixels(graded), 0, 1)
    score = scorer(out)
    return score.style_gap, score.structure_ssim, colour_incoherence(content, out)


def run_pair(
    pair: pairs.Pair, ratios: list[float], base: TuneCfg, vgg: VGGFeatures, earlier: dict | None
) -> tuple[list[Point], dict]:
    """Both kinds of tune on ``pair``; the separate ones are taken from ``earlier`` (a previous run's
    JSON with the same settings) where given, since they do not change while the conditional tune is
    worked on."""
    content, look_image = pair.images()
    key_t, look_t = to_tensor(content), to_tensor(look_image)
    scorer = StillScorer(content, look_image, vgg)
    start = time.perf_counter()
    conditional = _look(tune(key_t, look_t, replace(base, trade_off=(ratios[0], ratios[-1])), vgg=vgg))
    seconds = {"conditional": time.perf_counter() - start, "separate": []}
    points = [Point(pair.name, r, "conditional", *_score(conditional, content, r, scorer)) for r in ratios]
    if earlier is not None:
        names = list(dict.fromkeys(p["pair"] for p in earlier["points"]))
        seconds["separate"] = earlier["seconds"][names.index(pair.name)]["separate"]
        return points + [
            Point(**p) for p in earlier["points"] if p["pair"] == pair.name and p["method"] == "separate"
        ], seconds
    for ratio in ratios:
        start = time.perf_counter()
        separate = _look(tune(key_t, look_t, replace(base, style_weight=ratio), vgg=vgg))
        seconds["separate"].append(time.perf_counter() - start)
        points.append(Point(pair.name, ratio, "separate", *_score(separate, content, ratio, scorer)))
    return points, seconds


def _get(points: list[Point], pair: str, ratio: float, method: str) -> Point:
    return next(p for p in points if p.pair == pair and p.ratio == ratio and p.method == method)


def report(points: list[Point], seconds: list[dict], ratios: list[float], args: argparse.Namespace) -> str:
    names = list(dict.fromkeys(p.pair for p in points))
    rows, per_ratio = [], []
    for ratio in ratios:
        cond = [_get(points, n, ratio, "conditional") for n in names]
        sep = [_get(points, n, ratio, "separate") for n in names]
        gap = statistics.median(c.style_gap for c in cond) / statistics.median(s.style_gap for s in sep)
        ssim = statistics.median(c.structure_ssim for c in cond) - statistics.median(s.structure_ssim for s in sep)
        incoh = statistics.median(c.colour_incoherence for c in cond) / max(
            statistics.median(s.colour_incoherence for s in sep), 1e-9
        )
        shares = [
            sum(c.style_gap <= GAP_RATIO * s.style_gap for c, s in zip(cond, sep)),
            sum(abs(c.structure_ssim - s.structure_ssim) <= SSIM_DELTA for c, s in zip(cond, sep)),
            sum(c.colour_incoherence <= INCOHERENCE_RATIO * s.colour_incoherence for c, s in zip(cond, sep)),
        ]
        ok = gap <= GAP_RATIO and abs(ssim) <= SSIM_DELTA and incoh <= INCOHERENCE_RATIO
        per_ratio.append({"ratio": ratio, "gap_ratio": gap, "ssim_delta": ssim, "incoherence_ratio": incoh, "ok": ok})
        rows.append([f"{ratio:g}", gap, ssim, incoh, *(f"{n}/{len(names)}" for n in shares), "yes" if ok else "no"])
    cost = statistics.median(s["conditional"] / statistics.mean(s["separate"]) for s in seconds)
    monotone = []
    for n in names:
        cond = [_get(points, n, r, "conditional") for r in ratios]
        falls = all(a.style_gap > b.style_gap for a, b in zip(cond, cond[1:]))
        kept = all(a.structure_ssim >= b.structure_ssim for a, b in zip(cond, cond[1:]))
        monotone.append(
            [n, *(f"{c.style_gap:.3f} / {c.structure_ssim:.3f}" for c in cond), "yes" if falls and kept else "no"]
        )
    targets = Table(
        "Conditional look vs a separate tune per ratio (medians over the pairs)",
        [
            "ratio",
            "style_gap ×",
            "structure_ssim Δ",
            "colour_incoherence ×",
            "gap ≤1.05×",
            "ssim ±0.01",
            "incoh ≤1.1×",
            "target",
        ],
        rows,
    )
    slider = Table(
        "The slider does what it says: the conditional look's style_gap / structure_ssim by ratio",
        ["pair", *(f"ratio {r:g}" for r in ratios), "both fall"],
        monotone,
    )
    cost_table = Table(
        "Cost: the conditional tune against one plain tune, same steps (median over pairs of the ratio)",
        ["conditional ÷ plain", "target"],
        [[cost, "≤ 1.3"]],
    )
    data: dict[str, Any] = {
        "settings": vars(args),
        "points": [p.__dict__ for p in points],
        "seconds": seconds,
        "per_ratio": per_ratio,
        "cost_ratio": cost,
        "monotone_pairs": sum(r[-1] == "yes" for r in monotone),
    }
    note = (
        f"Each look tuned {args.steps} steps at {args.size} px (judge size {args.judge_size}), every other setting "
        "TuneCfg's default; outputs graded at the pair's full resolution as hrstyle apply does."
    )
    return write_results("trade_off", data, [targets, slider, cost_table], args.out, [note])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ratios", default=",".join(f"{r:g}" for r in (DEFAULT_TRADE_OFF[0], 1.0, DEFAULT_TRADE_OFF[1]))
    )
    parser.add_argument("--size", type=int, default=128, help="tune work size")
    parser.add_argument("--steps", type=int, default=100, help="tune steps, the same for every tune")
    parser.add_argument("--judge-size", type=int, default=0, help="TuneCfg.judge_size (0: at the work size)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N pairs")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first N pairs (runs in parts)")
    parser.add_argument(
        "--separate-from",
        type=Path,
        help="take the separate tunes from this earlier trade_off.json (same ratios, size, steps, judge size)",
    )
    add_run_options(parser)
    args = parse_run_options(parser, argv)
    ratios = sorted(float(r) for r in args.ratios.split(","))
    # The development pairs are strong looks from unrelated photos, where the trade-off is the
    # paper's style transfer: all of the style and the keyframe start, as the committed figures had.
    base = TuneCfg(
        steps=args.steps,
        size=args.size,
        judge_size=args.judge_size,
        patience=args.steps,
        style_weight=1.0,  # the conditional look's default point, in the middle of any range
        unmatched_style=1.0,
        unmatched_carry=0.0,
    )
    earlier = None
    if args.separate_from is not None:
        earlier = json.loads(args.separate_from.read_text())
        same = ("ratios", "size", "steps", "judge_size")
        if any(earlier["settings"][k] != vars(args)[k] for k in same):
            parser.error(f"{args.separate_from} was run with other {', '.join(same)}")
    vgg = VGGFeatures()
    points, seconds = [], []
    for pair in pairs.PAIRS[args.skip :][: args.limit or None]:
        got, spent = run_pair(pair, ratios, base, vgg, earlier)
        points += got
        seconds.append(spent)
        print(
            f"{pair.name}: {spent['conditional']:.0f} s conditional, {sum(spent['separate']):.0f} s separate",
            flush=True,
        )
    print(report(points, seconds, ratios, args))
    write_benchmarks_md(args.out, "trade_off")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ground-truth look benchmark (issue 16): looks made by a known grade, so the right answer is known.

Every pair is a content image X, a reference G(Y) and the truth G(X), with G a
grade of bench/grades.py and X, Y scikit-image photos, crops of them, or frames
of sample_frames/shot. The pairs come in three scored tiers:

* same: Y is another frame or framing of X's scene (another frame of the sample
  shot, an overlapping crop, the other motorcycle of the stereo pair);
* similar: a different view of the same kind of scene under similar light (the
  other half of the same photo, or two warm interior close-ups);
* unrelated: different content under similar light (indoor photos), the sample
  pair among them, where leaving the frame alone may be the honest best.

Relighting cases, a reference under other light (the rocket at dusk for an
interior, or the other way), are shown and given the style figures only: a
grade's truth cannot judge whether the light itself should be carried over.

Rows, in the same run: untouched (X itself), the truth G(X) (its style figures:
the right answer is not style gap 0), MKL (color-matcher), Reinhard, and
hrstyle (tune on X towards G(Y) at --size for --steps, then apply to X at full
resolution, as bench/pairs.py does). Figures at 512 px (../shared/METRICS.md):
ΔE2000 to the truth (mean, p95), the share of the grade recovered
1 − ΔE(out)/ΔE(X), style_gap, structure_ssim, affine_residual, colour_incoherence.

The sample shot: the truth of every frame is make_sample.grade_look of it (the
grade that made look.jpg). Per method, ΔE2000 across the 24 frames and
grade_flicker, hrstyle without and with --smooth.

    python bench/truth.py --no-hrstyle               # cheap rows, every tier and the shot: ~11 min on 2 busy cores
    python bench/truth.py --no-hrstyle --no-style    # the same without VGG (style_gap): ~3 min
    python bench/truth.py --no-hrstyle --no-style --carry 0.15,0.3,0.5 --out /tmp/carry   # the share carried at trust 0
    python bench/truth.py --variant 'hrstyle:judge_size=0'    # BENCHMARKS.md's run: ~30 min on 2 quiet cores
    python bench/truth.py --tiers same,shot --variant 'w12:steady_weight=12.0' --variant 'nomatch:colour_match="none"'

Judged at the work size (``judge_size=0``), a 128 px / 60-step tune costs about 20 s a pair on
2 quiet cores; judged at 512 px, the default, about 5 min a pair on 2 busy ones. The default
tune itself (512 px, 300 steps) takes 10-15 min a pair on 2 CPU cores, 8-11 hours in all: a GPU's job.

Writes <out>/truth.{json,md} and a contact sheet per tier, truth_<tier>.jpg (content,
reference, truth, MKL, hrstyle): beside them, or for a run into bench/results, into
bench/figures/ and BENCHMARKS.md. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import grades
import numpy as np
import pairs
import torch
from common import RESULTS, ROOT, Table, is_committed, write_benchmarks_md, write_results

import hrstyle  # noqa: F401  before torch: it sets OMP_WAIT_POLICY, read when torch loads OpenMP
from hrstyle.grade.config import RenderCfg, SmoothCfg
from hrstyle.grade.temporal import compute_flow
from hrstyle.io.shot import open_shot
from hrstyle.io.stills import read_image
from hrstyle.io.tensors import to_tensor
from hrstyle.look.config import TuneCfg
from hrstyle.look.perceptual import VGGFeatures
from hrstyle.look.tune import tune_files, unmatched_transfer
from hrstyle.render.config import OutputCfg
from hrstyle.render.run import render_shot
from hrstyle.score.flicker import GradeFlickerMeter
from hrstyle.score.metrics import StillScorer, affine_residual, structure_ssim
from hrstyle.score.sheet import contact_sheet
from hrstyle.score.truth import colour_incoherence, delta_e2000, share_recovered

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sample_frames"))
from make_sample import grade_look  # noqa: E402  the grade that made look.jpg

SAMPLES = ROOT / "sample_frames"
KEYFRAME = 1012
SCORED_TIERS = ("same", "similar", "unrelated")
TIERS = (*SCORED_TIERS, "relight")
CHEAP = ("untouched", "truth", "MKL", "Reinhard")
SSIM_FLOOR, RESIDUAL_CEILING = 0.90, 0.06


# ---------------------------------------------------------------- images and pairs


@dataclass(frozen=True)
class View:
    """A photo (a name of skimage.data, or ``shot.NNNN``, a frame of the sample shot) or a crop of one.

    ``box`` = (x0, y0, x1, y1) as fractions of the width and height; ``tag`` names the crop.
    """

    source: str
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    tag: str = ""

    @property
    def name(self) -> str:
        return f"{self.source} {self.tag}" if self.tag else self.source

    def pixels(self) -> np.ndarray:
        """(H,W,3) float32 RGB [0,1] at the source's own resolution."""
        if self.source.startswith("shot."):
            image = read_image(SAMPLES / "shot" / f"{self.source}.png").pixels
        else:
            image = pairs._photo(self.source)
        h, w = image.shape[:2]
        x0, y0, x1, y1 = self.box
        return np.ascontiguousarray(image[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w)])


def left(source: str, share: float) -> View:
    return View(source, (0.0, 0.0, share, 1.0), f"L{share:.0%}")


def right(source: str, share: float) -> View:
    return View(source, (1.0 - share, 0.0, 1.0, 1.0), f"R{share:.0%}")


def top(source: str, share: float) -> View:
    return View(source, (0.0, 0.0, 1.0, share), f"T{share:.0%}")


def bottom(source: str, share: float) -> View:
    return View(source, (0.0, 1.0 - share, 1.0, 1.0), f"B{share:.0%}")


def quantise(rgb: np.ndarray) -> np.ndarray:
    """As if written to an 8-bit file: a reference comes as one."""
    return (np.rint(np.clip(rgb, 0, 1) * 255) / 255).astype(np.float32)


@dataclass(frozen=True)
class TruthPair:
    tier: str
    content: View
    reference: View
    grade: str  # a key of grades.GRADES

    @property
    def name(self) -> str:
        return f"{self.content.name} ← {self.reference.name} ({self.grade})"

    def images(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(content X, reference G(Y) 8-bit quantised, truth G(X)), each (H,W,3) float32 RGB [0,1]."""
        x = self.content.pixels()
        return x, quantise(grades.apply(self.grade, self.reference.pixels())), grades.apply(self.grade, x)


def _tier(tier: str, *specs: tuple[View | str, View | str, str]) -> tuple[TruthPair, ...]:
    as_view = lambda v: v if isinstance(v, View) else View(v)  # noqa: E731
    return tuple(TruthPair(tier, as_view(c), as_view(r), g) for c, r, g in specs)


# Each scored tier uses every grade once, except skies_bluer: only the rocket has a sky, and the
# rocket at dusk is under other light than the indoor photos, so the unrelated tier takes the
# sample look (teal_orange) twice instead. The sample's own two cases are there: frame 1001 ←
# frame 1024 (same) and the keyframe ← the astronaut (unrelated), both through teal_orange.
PAIRS: dict[str, tuple[TruthPair, ...]] = {
    "same": _tier(
        "same",
        ("shot.1001", "shot.1024", "teal_orange"),
        ("shot.1024", "shot.1001", "vignette"),
        ("shot.1012", "shot.1001", "relight_falloff"),
        ("motorcycle_left", "motorcycle_right", "cross_process"),
        ("motorcycle_right", "motorcycle_left", "shadows_keyed"),
        (left("coffee", 0.7), right("coffee", 0.7), "white_balance"),
        (top("coffee", 0.75), bottom("coffee", 0.75), "day_for_night"),
        (left("astronaut", 0.7), right("astronaut", 0.7), "skin_warmer"),
        (bottom("astronaut", 0.7), top("astronaut", 0.7), "bleach_bypass"),
        (left("chelsea", 0.7), right("chelsea", 0.7), "faded_film"),
        (right("chelsea", 0.7), left("chelsea", 0.7), "graduated_filter"),
        (left("rocket", 0.7), right("rocket", 0.7), "skies_bluer"),
        (left("motorcycle_left", 0.7), right("motorcycle_left", 0.7), "exposure_contrast"),
    ),
    "similar": _tier(
        "similar",
        (left("coffee", 0.5), right("coffee", 0.5), "bleach_bypass"),
        (left("astronaut", 0.5), right("astronaut", 0.5), "teal_orange"),
        (top("astronaut", 0.5), bottom("astronaut", 0.5), "vignette"),
        (left("chelsea", 0.5), right("chelsea", 0.5), "exposure_contrast"),
        (left("motorcycle_left", 0.45), right("motorcycle_left", 0.45), "skin_warmer"),
        (top("motorcycle_right", 0.5), bottom("motorcycle_right", 0.5), "shadows_keyed"),
        (left("rocket", 0.5), right("rocket", 0.5), "skies_bluer"),
        ("coffee", "chelsea", "cross_process"),
        ("chelsea", "coffee", "relight_falloff"),
        ("shot.1001", "chelsea", "faded_film"),
        ("chelsea", "shot.1024", "day_for_night"),
        (top("coffee", 0.5), bottom("coffee", 0.5), "graduated_filter"),
        (top("chelsea", 0.5), bottom("chelsea", 0.5), "white_balance"),
    ),
    "unrelated": _tier(
        "unrelated",
        ("shot.1012", "astronaut", "teal_orange"),
        ("coffee", "astronaut", "faded_film"),
        ("astronaut", "coffee", "white_balance"),
        ("astronaut", "motorcycle_left", "relight_falloff"),
        ("motorcycle_left", "astronaut", "bleach_bypass"),
        ("chelsea", "astronaut", "cross_process"),
        ("astronaut", "chelsea", "day_for_night"),
        ("motorcycle_right", "chelsea", "vignette"),
        ("chelsea", "motorcycle_right", "skin_warmer"),
        ("coffee", "motorcycle_left", "shadows_keyed"),
        ("motorcycle_left", "coffee", "graduated_filter"),
        ("shot.1024", "motorcycle_right", "exposure_contrast"),
        ("motorcycle_right", "shot.1001", "teal_orange"),
    ),
    "relight": _tier(
        "relight",
        ("coffee", "rocket", "teal_orange"),
        ("astronaut", "rocket", "white_balance"),
        ("motorcycle_left", "rocket", "faded_film"),
        ("shot.1012", "rocket", "vignette"),
        ("rocket", "coffee", "exposure_contrast"),
    ),
}


# ---------------------------------------------------------------- scoring


@dataclass
class Row:
    """One method's output for one pair, and its figures (NaN where not computed)."""

    method: str
    tier: str
    pair: str
    grade: str
    de_mean: float = float("nan")
    de_p95: float = float("nan")
    share: float = float("nan")
    style_gap: float = float("nan")
    structure_ssim: float = float("nan")
    affine_residual: float = float("nan")
    colour_incoherence: float = float("nan")
    seconds: float = 0.0

    FIGURES = ("de_mean", "de_p95", "share", "style_gap", "structure_ssim", "affine_residual", "colour_incoherence")

    def figures(self) -> list[float]:
        return [getattr(self, k) for k in self.FIGURES]


def _score(
    row: Row,
    content: np.ndarray,
    output: np.ndarray,
    truth: np.ndarray | None,
    untouched_de: float,
    scorer: StillScorer | None,
) -> Row:
    if truth is not None:
        row.de_mean, row.de_p95 = delta_e2000(output, truth)
        row.share = share_recovered(row.de_mean, untouched_de)
    if scorer is not None:
        # The untouched frame's gap is 1 by definition: no VGG pass for it.
        row.style_gap = 1.0 if row.method == "untouched" else scorer.style_gap(output).value
    row.structure_ssim = structure_ssim(content, output)
    row.affine_residual = affine_residual(content, output)
    row.colour_incoherence = colour_incoherence(content, output)
    return row


@dataclass
class Variant:
    name: str
    tune: dict[str, Any]
    render: dict[str, Any]


def _methods(args: argparse.Namespace) -> tuple[list[str], list[Variant]]:
    cheap = [m for m in CHEAP if m.lower() in args.methods] + [_carry_name(share) for share in args.carry]
    variants = (
        []
        if args.no_hrstyle or "hrstyle" not in args.methods
        else [Variant(*pairs.parse_variant(v)) for v in (args.variant or ["hrstyle:"])]
    )
    return cheap, variants


def _carry_name(share: float) -> str:
    return f"MKL×{share:g}"


def _carried(share: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The tune's start where nothing matches, at ``share`` of hrstyle's own MKL map."""
    cfg = TuneCfg(unmatched_carry=share)

    def transfer(content: np.ndarray, reference: np.ndarray) -> np.ndarray:
        A, b = unmatched_transfer(to_tensor(content), to_tensor(reference), cfg)
        return content @ A.numpy().T + b.numpy()

    return transfer


def _transfers(args: argparse.Namespace) -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    return {"MKL": pairs.mkl, "Reinhard": pairs.reinhard, **{_carry_name(a): _carried(a) for a in args.carry}}


def run_pairs(
    tier: str,
    args: argparse.Namespace,
    vgg: VGGFeatures | None,
    work: Path,
    sheet_rows: list[tuple[list[np.ndarray], list[str]]],
) -> list[Row]:
    cheap, variants = _methods(args)
    chosen = PAIRS[tier][args.skip :][: args.limit or None]
    scored = tier in SCORED_TIERS
    rows: list[Row] = []
    for pair in chosen:
        content, reference, truth = pair.images()
        scorer = StillScorer(content, reference, vgg) if vgg is not None else None
        untouched_de = delta_e2000(content, truth).mean if scored else float("nan")
        outputs: list[tuple[str, np.ndarray, float]] = []
        for method in cheap:
            start = time.perf_counter()
            if method == "untouched":
                output = content
            elif method == "truth":
                output = truth
            else:
                output = np.clip(_transfers(args)[method](content, reference), 0, 1).astype(np.float32)
            outputs.append((method, output, time.perf_counter() - start))
        for v in variants:
            cfg = TuneCfg(**{"size": args.size, "steps": args.steps, **v.tune})
            outputs.append(
                (v.name, *pairs._hrstyle(content, reference, cfg, RenderCfg(**v.render), work, device=args.device))
            )
        for method, output, seconds in outputs:
            row = _score(
                Row(method, tier, pair.name, pair.grade, seconds=seconds),
                content,
                output,
                truth if scored else None,
                untouched_de,
                scorer,
            )
            rows.append(row)
            print(
                f"  {tier:9s} {pair.name:58s} {method:10s} ΔE {row.de_mean:5.2f} share {row.share:+.2f} "
                f"gap {row.style_gap:.3f} ssim {row.structure_ssim:.3f} res {row.affine_residual:.3f} "
                f"incoh {row.colour_incoherence:5.2f} {seconds:6.1f} s",
                flush=True,
            )
        by_method = {m: o for m, o, _ in outputs}
        shown = [m for m in ("MKL", *(v.name for v in variants[:1])) if m in by_method]
        de = {r.method: r.de_mean for r in rows[-len(outputs) :]}
        cells = [content, reference, truth] + [by_method[m] for m in shown]
        labels = [
            f"content: {pair.content.name}",
            f"reference: {pair.reference.name}\n{pair.grade}",
            "truth G(X)" + (f"\nuntouched dE {untouched_de:.1f}" if scored else " (not the answer)"),
        ]
        labels += [m + (f"\ndE {de[m]:.1f}" if scored else "") for m in shown]
        sheet_rows.append((cells, labels))
    return rows


# ---------------------------------------------------------------- the sample shot


class CachedFlow:
    """compute_flow, remembered per frame pair: every method of the shot shares the inputs' flow."""

    def __init__(self) -> None:
        self._cache: dict[tuple[bytes, bytes], np.ndarray] = {}

    def __call__(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        key = (hashlib.blake2b(src.tobytes()).digest(), hashlib.blake2b(dst.tobytes()).digest())
        if key not in self._cache:
            self._cache[key] = compute_flow(src, dst)
        return self._cache[key]


@dataclass
class ShotRow:
    method: str
    de_mean: float
    de_p95: float
    de_worst: float
    share: float
    grade_flicker: float
    colour_incoherence: float
    seconds_per_frame: float
    per_frame_de: dict[int, float] = field(default_factory=dict)

    FIGURES = ("de_mean", "de_p95", "de_worst", "share", "grade_flicker", "colour_incoherence", "seconds_per_frame")


def _shot_truth(pixels: np.ndarray) -> np.ndarray:
    return grade_look(np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8)).astype(np.float32) / 255


def _score_shot(
    method: str,
    frames: Iterator[tuple[int, np.ndarray, np.ndarray]],
    untouched: dict[int, float] | None,
    flow: CachedFlow,
    seconds: float,
    shown: dict[str, np.ndarray],
    show_frame: int,
) -> ShotRow:
    meter, per_frame, p95, incoherence = GradeFlickerMeter(flow), {}, [], []
    for number, frame_in, frame_out in frames:
        de = delta_e2000(frame_out, _shot_truth(frame_in))
        per_frame[number] = de.mean
        p95.append(de.p95)
        incoherence.append(colour_incoherence(frame_in, frame_out))
        meter.update(frame_in, frame_out)
        if number == show_frame:
            shown[method] = frame_out
    mean = float(np.mean(list(per_frame.values())))
    base = float(np.mean(list(untouched.values()))) if untouched else mean
    row = ShotRow(
        method,
        mean,
        float(np.mean(p95)),
        max(per_frame.values()),
        share_recovered(mean, base),
        meter.value,
        float(np.mean(incoherence)),
        seconds / max(1, len(per_frame)),
        per_frame,
    )
    print(
        f"  shot      {method:40s} ΔE {row.de_mean:5.2f} share {row.share:+.2f} flicker {row.grade_flicker:.3f} "
        f"incoh {row.colour_incoherence:5.2f}",
        flush=True,
    )
    return row


def run_shot(args: argparse.Namespace, work: Path) -> tuple[list[ShotRow], list[np.ndarray], list[str]]:
    cheap, variants = _methods(args)
    shot = open_shot(SAMPLES / "shot")
    look = read_image(SAMPLES / "look.jpg").pixels
    show_frame = shot.frames[0].number  # the frame farthest from the keyframe
    flow, shown, rows = CachedFlow(), {}, []

    def inputs() -> Iterator[tuple[int, np.ndarray]]:
        for ref, image in shot:
            yield ref.number, image.pixels

    untouched = None
    for method in ["untouched", *(m for m in cheap if m != "untouched")]:  # untouched first: its ΔE is the base
        timing = [0.0]

        def outputs() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
            for number, px in inputs():
                start = time.perf_counter()
                if method == "untouched":
                    out = px
                elif method == "truth":
                    out = _shot_truth(px)
                else:
                    out = np.clip(_transfers(args)[method](px, look), 0, 1).astype(np.float32)
                timing[0] += time.perf_counter() - start
                yield number, px, out

        rows.append(_score_shot(method, outputs(), untouched, flow, 0.0, shown, show_frame))
        rows[-1].seconds_per_frame = timing[0] / len(shot)
        if method == "untouched":
            untouched = rows[-1].per_frame_de
    for v in variants:
        cfg = TuneCfg(**{"size": args.size, "steps": args.steps, **v.tune})
        start = time.perf_counter()
        _, tuned = tune_files(
            SAMPLES / "keyframe.png",
            SAMPLES / "look.jpg",
            work / f"{v.name}.look.safetensors",
            cfg,
            device=args.device,
            overwrite=True,
        )
        print(f"  shot      {v.name}: tuned in {time.perf_counter() - start:.0f} s", flush=True)
        smooth = SmoothCfg(strength=args.smooth)
        for label, render in (
            (v.name, RenderCfg(**v.render)),
            (f"{v.name} --smooth {args.smooth:g}", RenderCfg(**{**v.render, "smooth": smooth})),
        ):
            out_dir = work / f"shot-{len(rows)}"
            report = render_shot(shot, tuned, out_dir, render, OutputCfg(force=True))
            graded = open_shot(out_dir)

            def outputs() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
                for (ref, image), (_, out) in zip(shot, graded):
                    yield ref.number, image.pixels, out.pixels

            rows.append(_score_shot(label, outputs(), untouched, flow, report.seconds, shown, show_frame))
            shutil.rmtree(out_dir, ignore_errors=True)
    cells = [read_image(SAMPLES / "keyframe.png").pixels, look, _shot_truth(shot.read(shot.frames[0]).pixels)]
    labels = [f"keyframe {KEYFRAME}", "reference look.jpg", f"truth of frame {show_frame}"]
    for r in rows:
        if r.method in shown and r.method not in ("truth",):
            cells.append(shown[r.method])
            labels.append(f"{r.method}\nframe {show_frame}: dE {r.per_frame_de[show_frame]:.1f}")
    return rows, cells, labels


# ---------------------------------------------------------------- report


def _na(row: list[Any]) -> list[Any]:
    """NaN (a figure not computed, e.g. ΔE of a relighting case) shown as n/a."""
    return ["n/a" if isinstance(v, float) and np.isnan(v) else v for v in row]


def _median(values: list[float]) -> float:
    values = [v for v in values if not np.isnan(v)]
    return float(np.median(values)) if values else float("nan")


def _write_sheet(rows: list[tuple[list[np.ndarray], list[str]]], path: Path, cell_width: int = 240) -> Path:
    sheet = contact_sheet([c for c, _ in rows], [lab for _, lab in rows], cell_width=cell_width)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Quality 75: a tier's sheet is committed with BENCHMARKS.md, and at write_image's 95 it is 2 MB.
    pixels = cv2.cvtColor(np.rint(np.clip(sheet, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), pixels, [cv2.IMWRITE_JPEG_QUALITY, 75]):
        raise OSError(f"could not write {path}")
    return path


def _tier_medians(rows: list[Row], tier: str, methods: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for m in methods:
        mine = [r for r in rows if r.tier == tier and r.method == m]
        if mine:
            out[m] = {k: _median([getattr(r, k) for r in mine]) for k in Row.FIGURES}
            out[m]["seconds"] = _median([r.seconds for r in mine])
            out[m]["pairs"] = len(mine)
    return out


def _wins(rows: list[Row], tier: str, method: str, reference: str = "MKL") -> list[bool]:
    ref = {r.pair: r.de_mean for r in rows if r.tier == tier and r.method == reference}
    return [r.de_mean < ref[r.pair] for r in rows if r.tier == tier and r.method == method and r.pair in ref]


def _targets(
    rows: list[Row],
    medians: dict[str, dict[str, dict[str, float]]],
    shot_rows: list[ShotRow],
    variants: list[str],
    smooth: float,
) -> list[list[Any]]:
    out: list[list[Any]] = []

    def check(method: str, target: str, measured: str, ok: bool) -> None:
        out.append([method, target, measured, "PASS" if ok else "FAIL"])

    shot = {r.method: r for r in shot_rows}
    for m in variants:
        for tier, factor in (("same", 0.6), ("similar", 0.8)):
            if m in medians.get(tier, {}) and "MKL" in medians[tier]:
                ratio = medians[tier][m]["de_mean"] / medians[tier]["MKL"]["de_mean"]
                check(m, f"{tier}: median ΔE ≤ {factor} × MKL's", f"{ratio:.3f} × MKL", ratio <= factor)
        if "same" in medians and "MKL" in medians["same"] and m in medians["same"]:
            wins = _wins(rows, "same", m)
            check(m, "same: better than MKL on ≥ 90% of pairs", f"{sum(wins)}/{len(wins)}", np.mean(wins) >= 0.9)
        for tier in SCORED_TIERS:
            if m in medians.get(tier, {}) and "untouched" in medians[tier]:
                mine, base = medians[tier][m]["de_mean"], medians[tier]["untouched"]["de_mean"]
                check(m, f"{tier}: median ΔE below the untouched frame's", f"{mine:.2f} vs {base:.2f}", mine < base)
        if m in shot and "MKL" in shot:
            ratio = shot[m].de_mean / shot["MKL"].de_mean
            check(m, "shot: mean ΔE ≤ 0.6 × MKL's", f"{ratio:.3f} × MKL", ratio <= 0.6)
        smoothed = f"{m} --smooth {smooth:g}"
        if smoothed in shot:
            check(
                m,
                f"shot: grade_flicker ≤ 1.05 with --smooth {smooth:g}",
                f"{shot[smoothed].grade_flicker:.3f}",
                shot[smoothed].grade_flicker <= 1.05,
            )
            check(
                m,
                "shot: grade_flicker ≤ 1.10 without smoothing",
                f"{shot[m].grade_flicker:.3f}",
                shot[m].grade_flicker <= 1.10,
            )
        mine = [r for r in rows if r.method == m and r.tier in SCORED_TIERS]
        if mine:
            ssim, res = _median([r.structure_ssim for r in mine]), _median([r.affine_residual for r in mine])
            check(m, f"median structure_ssim ≥ {SSIM_FLOOR} (scored tiers)", f"{ssim:.3f}", ssim >= SSIM_FLOOR)
            check(
                m, f"median affine_residual ≤ {RESIDUAL_CEILING} (scored tiers)", f"{res:.3f}", res <= RESIDUAL_CEILING
            )
    return out


HEADERS = [
    "ΔE mean",
    "ΔE p95",
    "share recovered",
    "style_gap",
    "structure_ssim",
    "affine_residual",
    "colour_incoherence",
]


def report(
    rows: list[Row], shot_rows: list[ShotRow], sheets: dict[str, Path], args: argparse.Namespace, seconds: float
) -> str:
    cheap, variants = _methods(args)
    methods = [*cheap, *(v.name for v in variants)]
    tiers = [t for t in TIERS if any(r.tier == t for r in rows)]
    medians = {t: _tier_medians(rows, t, methods) for t in tiers}
    tables = []
    summary = []
    for t in tiers:
        for m, fig in medians[t].items():
            wins = _wins(rows, t, m) if t in SCORED_TIERS and m not in ("MKL", "truth") else []
            summary.append(
                _na(
                    [
                        t,
                        m,
                        fig["pairs"],
                        *(fig[k] for k in Row.FIGURES),
                        f"{sum(wins)}/{len(wins)}" if wins else "",
                        fig["seconds"],
                    ]
                )
            )
    if summary:
        tables.append(
            Table(
                "Medians per tier (ΔE2000 to the truth at 512 px; relight: no truth, style figures only)",
                ["tier", "method", "pairs", *HEADERS, "ΔE below MKL's", "seconds"],
                summary,
            )
        )
    if shot_rows:
        tables.append(
            Table(
                "The sample shot (24 frames, 960×540): truth = make_sample.grade_look of every frame",
                [
                    "method",
                    "ΔE mean",
                    "ΔE p95",
                    "ΔE worst frame",
                    "share recovered",
                    "grade_flicker",
                    "colour_incoherence",
                    "s/frame",
                ],
                [[r.method, *(getattr(r, k) for k in ShotRow.FIGURES)] for r in shot_rows],
            )
        )
    target_rows = _targets(rows, medians, shot_rows, [v.name for v in variants], args.smooth)
    if target_rows:
        tables.append(Table("Targets (issue 16)", ["method", "target", "measured", "verdict"], target_rows))
    if rows:
        tables.append(
            Table(
                "Per pair",
                ["tier", "pair", "method", *HEADERS, "seconds"],
                [_na([r.tier, r.pair, r.method, *r.figures(), r.seconds]) for r in rows],
            )
        )
    notes = [
        f"Pairs from bench/truth.py, grades from bench/grades.py; content at its own resolution, the reference "
        f"8-bit quantised. hrstyle: `tune_files` at {args.size} px for {args.steps} steps on X towards G(Y), then "
        f"the apply path at full resolution (bench/pairs.py's `_hrstyle`); its seconds are tune + apply. "
        f"share recovered = 1 − ΔE(out)/ΔE(X) per pair, its median shown. 'ΔE below MKL's' counts pairs. "
        f"Variants: {'; '.join(args.variant or ['hrstyle: the defaults']) if variants else 'none (hrstyle not run)'}. "
        f"Shot rows: ΔE and colour_incoherence averaged over the frames; grade_flicker over all frame pairs; "
        f"--smooth {args.smooth:g} for the smoothed row. Whole run {seconds / 60:.1f} min.",
        *(f"![{t}]({p.relative_to(ROOT) if is_committed(args.out) else p.name})" for t, p in sheets.items()),
    ]
    data = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "medians": medians,
        "shot": [{k: v for k, v in vars(r).items()} for r in shot_rows],
        "pairs": [vars(r) for r in rows],
    }
    for r in data["shot"]:
        r["per_frame_de"] = {str(k): v for k, v in r["per_frame_de"].items()}
    markdown = write_results("truth", data, tables, args.out, notes)
    write_benchmarks_md(args.out, "truth")
    return markdown


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tiers",
        default="same,similar,unrelated,relight,shot",
        help="comma-separated: same, similar, unrelated, relight, shot",
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N pairs of each tier (smoke runs)")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first N pairs of each tier (runs in parts)")
    parser.add_argument(
        "--methods",
        default="untouched,truth,mkl,reinhard,hrstyle",
        help="comma-separated rows: untouched, truth, mkl, reinhard, hrstyle",
    )
    parser.add_argument("--no-hrstyle", action="store_true", help="only the cheap rows")
    parser.add_argument(
        "--carry",
        default="",
        help="comma-separated shares of the MKL map: a cheap row each, the tune's start where nothing matches",
    )
    parser.add_argument(
        "--no-style", action="store_true", help="skip style_gap (VGG at 512 px: ~1.5 s an output on 2 cores)"
    )
    parser.add_argument("--size", type=int, default=128, help="tune work size")
    parser.add_argument("--steps", type=int, default=60, help="tune steps")
    parser.add_argument(
        "--variant",
        action="append",
        help="an hrstyle row 'NAME:field=value;…' of TuneCfg/RenderCfg overrides (repeatable)",
    )
    parser.add_argument("--smooth", type=float, default=0.5, help="smoothing strength of the shot's smoothed row")
    parser.add_argument("--device", default="cpu", help="where to tune (cpu, cuda); rendering follows RenderCfg")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's own choice)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    args.tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    args.methods = [m.strip().lower() for m in args.methods.split(",") if m.strip()]
    args.carry = [float(a) for a in args.carry.split(",") if a.strip()]
    unknown = sorted(set(args.tiers) - {*TIERS, "shot"}) + sorted(
        set(args.methods) - {*(m.lower() for m in CHEAP), "hrstyle"}
    )
    if unknown:
        parser.error(f"unknown tiers or methods: {', '.join(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    vgg = None if args.no_style else VGGFeatures()
    rows: list[Row] = []
    shot_rows: list[ShotRow] = []
    sheets: dict[str, Path] = {}
    # A run into bench/results updates BENCHMARKS.md, whose contact sheets are committed beside quality.py's.
    figures = ROOT / "bench" / "figures" if is_committed(args.out) else args.out
    work = Path(tempfile.mkdtemp(prefix="hrstyle-truth-"))
    try:
        for tier in (t for t in TIERS if t in args.tiers):
            sheet_rows: list[tuple[list[np.ndarray], list[str]]] = []
            rows += run_pairs(tier, args, vgg, work, sheet_rows)
            sheets[tier] = _write_sheet(sheet_rows, figures / f"truth_{tier}.jpg")
        if "shot" in args.tiers:
            shot_rows, cells, labels = run_shot(args, work)
            sheets["shot"] = _write_sheet(
                [(cells[i : i + 5], labels[i : i + 5]) for i in range(0, len(cells), 5)],
                figures / "truth_shot.jpg",
                cell_width=320,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(rows, shot_rows, sheets, args, time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())

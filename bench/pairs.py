"""The development pairs of the look-strength benchmark, generated from scikit-image's bundled photos.

Each pair is a content photo and a *different* photo carrying a strong grade
of the kind a colorist is asked to match: night, golden hour, teal/orange,
bleach bypass, faded film, cross-process, warm monochrome. Nothing is
downloaded or committed; the same code gives the same pairs on every machine.

Content stays at the photo's own resolution (451–741 px wide), which is what
"full resolution" means for these pairs: the look is tuned at the work size
and carried up to it by apply's guided path.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import skimage.data
import skimage.io
from common import Table, write_results

import hrstyle  # noqa: F401  before torch: it sets OMP_WAIT_POLICY, read when torch loads OpenMP
from hrstyle.grade.config import RenderCfg
from hrstyle.grade.steps import grade_frames, prepare_look
from hrstyle.io.stills import FrameSpec, write_image
from hrstyle.io.tensors import to_pixels, to_tensor
from hrstyle.look.config import STYLE_LAYERS, TuneCfg
from hrstyle.look.perceptual import VGGFeatures
from hrstyle.look.tune import tune_files
from hrstyle.score.metrics import Score, StillScorer, summarise_scores

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sample_frames"))
from make_sample import luma, s_curve, saturate, split_tone  # noqa: E402  the sample look's own grade

Grade = Callable[[np.ndarray], np.ndarray]  # (H,W,3) float32 RGB [0,1] -> same


def _photo(name: str) -> np.ndarray:
    """A bundled photo as float32 RGB [0,1]."""
    if name in ("motorcycle_left", "motorcycle_right"):
        rgb = skimage.io.imread(Path(skimage.data.__file__).parent / f"{name}.png")
    else:
        rgb = getattr(skimage.data, name)()
    return rgb[..., :3].astype(np.float32) / 255.0


def _tint(rgb: np.ndarray, shadows: tuple[float, float, float], highlights: tuple[float, float, float]) -> np.ndarray:
    y = luma(rgb)[..., None]
    return rgb + (1 - y) ** 2 * np.float32(shadows) + y**2 * np.float32(highlights)


def _levels(rgb: np.ndarray, black: float, white: float) -> np.ndarray:
    """Lift the blacks to ``black`` and pull the whites to ``white`` (a faded print)."""
    return black + (white - black) * rgb


def teal_orange(rgb: np.ndarray) -> np.ndarray:
    return saturate(np.clip(split_tone(s_curve(rgb, 0.6), shadows=0.65, highlights=0.35), 0, 1), 1.15)


def night(rgb: np.ndarray) -> np.ndarray:
    """Day for night as moonlight: desaturated, blue, mid-tones pulled down, highlights kept.

    Not two stops under: structure_ssim compares gradient magnitudes, so a look
    that scales the whole image's contrast by k scores about (2k / (1 + k²))²
    (0.33 at k = 0.3) however well it is matched; no method could reach 0.90.
    """
    x = saturate(rgb, 0.35) ** 1.3 * 0.8
    return x * np.float32([0.6, 0.85, 1.2]) + np.float32([0.0, 0.01, 0.04])


def golden_hour(rgb: np.ndarray) -> np.ndarray:
    x = s_curve(rgb, 0.3) ** 0.85
    return saturate(_tint(x * np.float32([1.15, 0.98, 0.7]), (0.02, 0.0, -0.03), (0.06, 0.02, -0.08)), 1.2)


def bleach_bypass(rgb: np.ndarray) -> np.ndarray:
    """The silver kept in the print: low saturation, hard contrast, dense blacks."""
    x = saturate(rgb, 0.3)
    return s_curve(np.clip(0.5 * x + 0.5 * luma(x)[..., None], 0, 1), 0.9) ** 1.15


def faded_film(rgb: np.ndarray) -> np.ndarray:
    x = saturate(s_curve(rgb, -0.2), 0.6)
    return _tint(_levels(x, 0.12, 0.88), (0.0, 0.04, 0.03), (0.04, 0.02, -0.04))


def cross_process(rgb: np.ndarray) -> np.ndarray:
    """Slide film in negative chemistry: yellow-green highlights, cyan shadows, strong contrast."""
    r, g, b = (s_curve(rgb[..., i], s) for i, s in enumerate((0.8, 0.5, -0.4)))
    return saturate(_tint(np.stack([r, g, _levels(b, 0.15, 0.75)], -1), (-0.05, 0.03, 0.05), (0.02, 0.05, -0.1)), 1.3)


def warm_mono(rgb: np.ndarray) -> np.ndarray:
    y = s_curve(luma(rgb), 0.4)[..., None]
    return _levels(y, 0.04, 0.96) * np.float32([1.08, 0.96, 0.78])


GRADES: dict[str, Grade] = {
    g.__name__.replace("_", " "): g
    for g in (teal_orange, night, golden_hour, bleach_bypass, faded_film, cross_process, warm_mono)
}


@dataclass(frozen=True)
class Pair:
    content: str  # photo name
    look: str  # photo name
    grade: str  # key of GRADES

    @property
    def name(self) -> str:
        return f"{self.content} ← {self.look} ({self.grade})"

    def images(self) -> tuple[np.ndarray, np.ndarray]:
        """(content, look), each (H,W,3) float32 RGB in [0,1] at the photo's size, 8-bit quantised like a file."""
        look = np.clip(GRADES[self.grade](_photo(self.look)), 0, 1)
        return _photo(self.content), (np.rint(look * 255) / 255).astype(np.float32)


# Every content photo meets at least two grades, every grade at least one unrelated photo.
PAIRS: tuple[Pair, ...] = (
    Pair("coffee", "astronaut", "teal orange"),
    Pair("chelsea", "rocket", "night"),
    Pair("rocket", "coffee", "golden hour"),
    Pair("astronaut", "motorcycle_left", "bleach bypass"),
    Pair("motorcycle_left", "chelsea", "faded film"),
    Pair("coffee", "motorcycle_right", "night"),
    Pair("chelsea", "astronaut", "golden hour"),
    Pair("rocket", "chelsea", "teal orange"),
    Pair("astronaut", "coffee", "faded film"),
    Pair("motorcycle_left", "rocket", "cross process"),
    Pair("coffee", "chelsea", "bleach bypass"),
    Pair("chelsea", "coffee", "warm mono"),
)


# --------------------------------------------------------------------------------------------
# The benchmark: `python bench/quality.py --pairs`
# --------------------------------------------------------------------------------------------

SSIM_FLOOR, RESIDUAL_CEILING = 0.90, 0.06  # a win also keeps the structure and photorealism bars


@dataclass
class Result:
    method: str
    pair: str
    score: Score
    seconds: float

    def row(self) -> list[Any]:
        s = self.score
        return [
            self.method,
            self.pair,
            s.style_gap,
            *s.style_per_layer.values(),
            s.structure_ssim,
            s.affine_residual,
            self.seconds,
        ]


def mkl(content: np.ndarray, look: np.ndarray) -> np.ndarray:
    from color_matcher import ColorMatcher  # GPL: a dev-only dependency, used in benchmarks and nowhere else

    return ColorMatcher().transfer(src=content, ref=look, method="mkl").astype(np.float32)


def reinhard(content: np.ndarray, look: np.ndarray) -> np.ndarray:
    """Reinhard et al. 2001: match each channel's mean and standard deviation, in CIELAB."""
    src, ref = (cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGB2Lab) for x in (content, look))
    mu_s, sd_s = src.mean((0, 1)), src.std((0, 1)) + 1e-6
    mu_r, sd_r = ref.mean((0, 1)), ref.std((0, 1))
    return cv2.cvtColor((src - mu_s) / sd_s * sd_r + mu_r, cv2.COLOR_Lab2RGB)


def parse_variant(text: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``"NAME:field=value;field=value"`` → (name, TuneCfg overrides, RenderCfg overrides).

    Values are Python literals; a field belongs to whichever config has it.
    """
    name, _, spec = text.partition(":")
    tune_fields, render_fields = {f.name for f in fields(TuneCfg)}, {f.name for f in fields(RenderCfg)}
    tune_kw, render_kw = {}, {}
    for item in filter(None, spec.split(";")):
        key, _, value = item.partition("=")
        target = tune_kw if key in tune_fields else render_kw if key in render_fields else None
        if target is None:
            raise SystemExit(f"variant {name!r}: {key!r} is neither a TuneCfg nor a RenderCfg field")
        target[key] = ast.literal_eval(value)
    return name, tune_kw, render_kw


def _write_png(path: Path, pixels: np.ndarray) -> Path:
    write_image(path, pixels, FrameSpec("png", "uint8", pixels.shape[1], pixels.shape[0], False))
    return path


def _hrstyle(
    content: np.ndarray, look: np.ndarray, tune_cfg: TuneCfg, render_cfg: RenderCfg, work: Path, device: str = "cpu"
) -> tuple[np.ndarray, float]:
    """Tune from the pair's files (on ``device``) and grade the content at full resolution, as `hrstyle tune` and
    `apply` do."""
    start = time.perf_counter()
    files = [_write_png(work / f"{kind}.png", px) for kind, px in (("content", content), ("look", look))]
    _, tuned = tune_files(*files, work / "pair.look.safetensors", tune_cfg, device=device, overwrite=True)
    graded, _ = grade_frames(prepare_look(tuned, render_cfg), to_tensor(content), render_cfg, 1)
    return np.clip(to_pixels(graded), 0, 1), time.perf_counter() - start


def _medians(results: list[Result], method: str) -> Score:
    return summarise_scores([r.score for r in results if r.method == method], np.median)


def _wins(results: list[Result], method: str, reference: str = "MKL") -> list[bool]:
    ref = {r.pair: r.score for r in results if r.method == reference}
    return [
        r.score.style_gap < ref[r.pair].style_gap
        and r.score.structure_ssim >= SSIM_FLOOR
        and r.score.affine_residual <= RESIDUAL_CEILING
        for r in results
        if r.method == method
    ]


def earlier_results(path: Path) -> tuple[list[Result], list[str]]:
    """The hrstyle rows of an earlier run's pairs.json (e.g. bench/baselines/), so before and
    after sit in one report. The figures are deterministic on the CPU; only the seconds belong
    to that run's machine."""
    data = json.loads(path.read_text())
    rows = [r for r in data["results"] if r["method"] not in ("MKL", "Reinhard")]
    results = [
        Result(
            r["method"],
            r["pair"],
            Score(r["style_gap"], r["style_per_layer"], r["structure_ssim"], r["affine_residual"]),
            r["seconds"],
        )
        for r in rows
    ]
    return results, list(dict.fromkeys(r.method for r in results))


def _variant_names(args: argparse.Namespace) -> list[str]:
    return [parse_variant(v)[0] for v in (args.variant or ["hrstyle:"])]


def run(args: argparse.Namespace) -> str:
    variants = [parse_variant(v) for v in (args.variant or ["hrstyle:"])]
    pairs = PAIRS[: args.limit] if args.limit else PAIRS
    vgg, results = VGGFeatures(), []
    work = Path(tempfile.mkdtemp(prefix="hrstyle-pairs-"))
    try:
        for pair in pairs:
            content, look = pair.images()
            scorer = StillScorer(content, look, vgg)
            outputs: list[tuple[str, np.ndarray, float]] = []
            for method, transfer in (("MKL", mkl), ("Reinhard", reinhard)):
                start = time.perf_counter()
                outputs.append((method, np.clip(transfer(content, look), 0, 1), time.perf_counter() - start))
            for name, tune_kw, render_kw in variants:
                tune_cfg = TuneCfg(**{"size": args.size, "steps": args.steps, **tune_kw})
                outputs.append((name, *_hrstyle(content, look, tune_cfg, RenderCfg(**render_kw), work)))
            for method, output, seconds in outputs:
                results.append(Result(method, pair.name, scorer(output), seconds))
                s = results[-1].score
                print(
                    f"  {pair.name:48s} {method:24s} gap {s.style_gap:.3f} ssim {s.structure_ssim:.3f} "
                    f"res {s.affine_residual:.3f} {seconds:6.1f} s",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    methods = [v[0] for v in variants]
    if args.before:
        earlier, earlier_methods = earlier_results(args.before)
        order = {pair.name: i for i, pair in enumerate(pairs)}
        results = sorted(results + [r for r in earlier if r.pair in order], key=lambda r: order[r.pair])
        methods = earlier_methods + methods
    return report(results, methods, args)


def report(results: list[Result], variants: list[str], args: argparse.Namespace) -> str:
    headers = ["method", "pair", "style_gap", *STYLE_LAYERS, "structure_ssim", "affine_residual", "seconds"]
    methods = ["MKL", "Reinhard", *variants]
    medians = {m: _medians(results, m) for m in methods}
    seconds = {m: float(np.median([r.seconds for r in results if r.method == m])) for m in methods}
    median_rows = [
        [
            m,
            "median",
            medians[m].style_gap,
            *medians[m].style_per_layer.values(),
            medians[m].structure_ssim,
            medians[m].affine_residual,
            seconds[m],
        ]
        for m in methods
    ]
    target_rows = []
    for m in variants:
        wins, ratio = _wins(results, m), medians[m].style_gap / medians["MKL"].style_gap
        checks = [
            ("median style_gap ≤ 0.8 × MKL's", f"{ratio:.3f} × MKL", ratio <= 0.8),
            (
                f"median structure_ssim ≥ {SSIM_FLOOR}",
                f"{medians[m].structure_ssim:.3f}",
                medians[m].structure_ssim >= SSIM_FLOOR,
            ),
            (
                f"median affine_residual ≤ {RESIDUAL_CEILING}",
                f"{medians[m].affine_residual:.3f}",
                medians[m].affine_residual <= RESIDUAL_CEILING,
            ),
            ("win rate over MKL ≥ 80%", f"{sum(wins)}/{len(wins)} = {np.mean(wins):.0%}", np.mean(wins) >= 0.8),
        ]
        target_rows += [[m, t, v, "PASS" if ok else "FAIL"] for t, v, ok in checks]
    tables = [
        Table(f"Look strength on {len({r.pair for r in results})} photo pairs: medians", headers, median_rows),
        Table("Targets (look-strength issue)", ["method", "target", "measured", "verdict"], target_rows),
        Table("Per pair", headers, [r.row() for r in results]),
    ]
    notes = [
        f"Pairs from bench/pairs.py (scikit-image photos, graded looks), content at the photo's own "
        f"resolution. hrstyle: `tune_files` at {args.size} px for {args.steps} steps, then the apply path "
        "(`grade_frames`, guided carry) at full resolution; its seconds are tune + apply. A win is a pair "
        f"where hrstyle's style_gap is below MKL's with structure_ssim ≥ {SSIM_FLOOR} and affine_residual "
        f"≤ {RESIDUAL_CEILING}. Variants: "
        + "; ".join(args.variant or ["hrstyle: the defaults"])
        + "."
        + (
            f" Rows of {', '.join(m for m in variants if m not in _variant_names(args))} come from {args.before}."
            if args.before
            else ""
        )
    ]
    data = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "medians": {m: {**medians[m].to_dict(), "seconds": seconds[m]} for m in methods},
        "results": [{"method": r.method, "pair": r.pair, "seconds": r.seconds, **r.score.to_dict()} for r in results],
    }
    return write_results("pairs", data, tables, args.out, notes)

"""Fine-tune an HR-Net on one keyframe so its output takes on a look image's style.

The objective is the paper's: VGG19 content at relu4_2 plus Gram style at
relu1_1..relu5_1. Each term is normalised to start at 1 (content by the
keyframe's own feature energy, each style layer by the keyframe's own Gram
distance to the look), so the weights mean the same at every size and for
every image pair, and the style term reads directly as the style gap.

The losses judge the look at the judge size (512 px on the long side by
default, the scale docs/metrics.md judges at), whatever the work size the network
runs at: below it, the network's output is carried there by apply's guided
fit, i.e. the grade `hrstyle apply` will render, and VGG sees that. Judged at
a small work size, a tune optimised statistics at a scale nobody looks at
(docs/experiments.md). The judged grade is clipped to [0,1], as a
frame file holds it, and a photoreal guard (`terms.PhotorealGuard`) prices the two
bars a colorist's eye applies and docs/metrics.md measures: structure kept, and a
grade that stays a local recolour of the keyframe (both against where the tune starts).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..device import autocast
from ..errors import OutputError, ShapeError, TuneError
from ..io.atomic import check_writable
from ..io.colour import working_encoding
from ..io.imaging import resize_long_side
from ..io.stills import Image, read_image
from ..io.tensors import to_tensor
from .colour_match import mkl_transfer, toward_identity
from .config import FILM_WIDTH, NET_PRESETS, STYLE_LAYERS, TuneCfg, log_between
from .correspond import Matches, match, matched_transfer
from .file import Look, save_look
from .meta import LookMeta, file_sha256, printable
from .net import HRNet
from .perceptual import PerceptualTargets, VGGFeatures, make_targets, perceptual_loss
from .terms import Judging, MatchTerm, SteadinessTerm, judged_output


@dataclass
class StepStats:
    step: int  # 1-based count of finished steps
    total: float
    content: float
    style: float
    per_layer: dict[str, float]
    seconds: float  # since the tune started
    steady: float = 0.0  # the steadiness term, unweighted (0 when its weight is 0)
    structure_ssim: float = 1.0  # docs/metrics.md's figures of the judged grade against the tune's start
    affine_residual: float = 0.0
    match: float = 0.0  # the correspondence term, unweighted (0 when its weight is 0)


@dataclass
class TuneResult:
    net: HRNet  # the best weights seen (lowest total loss)
    cfg: TuneCfg
    steps_done: int
    stopped: str  # completed | plateau | interrupted | non-finite
    final: StepStats  # the losses of the returned weights
    history: list[StepStats] = field(default_factory=list)
    work_size: tuple[int, int] = (0, 0)
    trust: float | None = None  # how far the reference shows the keyframe's scene (correspond.py); None: not matched


StepCallback = Callable[[StepStats, Tensor], None]


def prepare(image: Tensor, size: int, device: torch.device) -> Tensor:
    """(1,3,H,W) RGB [0,1] → float32 at the work size on ``device``."""
    if image.ndim != 4 or image.shape[:2] != (1, 3):
        raise ShapeError(f"expected a (1,3,H,W) image, got {tuple(image.shape)}")
    if min(image.shape[-2:]) < HRNet.min_side * 2:
        raise ShapeError(
            f"image is {image.shape[-1]}x{image.shape[-2]}; tuning needs at least {HRNet.min_side * 2} px on each side"
        )
    return resize_long_side(image.float(), size).to(device)


def tune_matches(
    vgg: VGGFeatures, keyframe: Tensor, look: Tensor, cfg: TuneCfg, *, start: bool = True
) -> Matches | None:
    """The keyframe's matches in the look (`match`; both (1,3,H,W) at any size, best at their
    own), or None where ``cfg`` uses none: neither the "matched" start (only where the tune
    builds its ``start``, i.e. does not continue an existing look), the match term nor the
    style share where nothing matches."""
    used = (start and cfg.colour_match == "matched") or cfg.match_weight > 0 or cfg.unmatched_style != 1
    return match(vgg, keyframe, look) if used else None


def unmatched_transfer(content: Tensor, look: Tensor, cfg: TuneCfg) -> tuple[Tensor, Tensor]:
    """The affine colour transform ``(A, b)`` a "matched" start falls back on where nothing
    matches (trust 0): ``cfg.unmatched_carry`` of the MKL match of ``content`` to ``look``."""
    return toward_identity(mkl_transfer(content, look), cfg.unmatched_carry)


def initial_net(content: Tensor, look: Tensor, cfg: TuneCfg, matches: Matches | None = None) -> HRNet:
    """The network a tune of ``content`` towards ``look`` (both at the work size) starts from:
    ``cfg.colour_match``'s global transform, with a zero residual. "matched" needs the
    keyframe's ``matches`` in the look (`tune_matches`)."""
    torch.manual_seed(cfg.seed)
    net = HRNet(replace(NET_PRESETS[cfg.net], film=FILM_WIDTH if cfg.trade_off else 0))
    net.set_style_weight(cfg.style_weight)
    if cfg.colour_match == "mkl":
        net.set_colour(*mkl_transfer(content, look))
    elif cfg.colour_match == "matched":
        if matches is None:
            raise TuneError('a "matched" start needs the keyframe\'s matches in the look (tune_matches)')
        net.set_colour(*matched_transfer(matches, unmatched_transfer(content, look, cfg)))
    return net


def judge_long_side(cfg: TuneCfg, keyframe: Tensor) -> int:
    """The long side a tune of ``keyframe`` (1,3,H,W) judges its grade at: ``cfg.judge_size``,
    but never above the keyframe's own (an upscaled keyframe has no detail to judge) nor
    below the work size."""
    return max(cfg.size, min(cfg.judge_size, max(keyframe.shape[-2:])))


def coarse_steps(cfg: TuneCfg, keyframe: Tensor) -> int:
    """How many first steps of a tune of ``keyframe`` judge at the work size (``cfg.coarse_share``;
    coarse to fine, a quarter of a fine step's cost: docs/experiments.md). None where the judge
    size is the work size."""
    return round(cfg.coarse_share * cfg.steps) if judge_long_side(cfg, keyframe) > cfg.size else 0


@torch.no_grad()
def tune_targets(vgg: VGGFeatures, keyframe: Tensor, look: Tensor, net: HRNet, cfg: TuneCfg) -> PerceptualTargets:
    """The loss targets of a tune that starts from ``net``, at the judge size: the content
    term keeps the structure of where ``net`` starts, the keyframe after its global colour
    transform. ``keyframe`` and ``look``: (1,3,H,W) at any size; the targets are on ``net``'s device."""
    device = next(net.parameters()).device
    side = judge_long_side(cfg, keyframe)
    keyframe, look = prepare(keyframe, side, device), prepare(look, side, device)
    # Clipped, as a frame file holds it and the judged grade is: unclipped, the content term asked
    # back the highlights the start clips, and a tune with nothing else to pull drifted from its
    # start, away from a truth that clips them too (docs/experiments.md).
    return make_targets(vgg, keyframe, look, start=net.colour(keyframe).clamp(0, 1))


def lr_factor(cfg: TuneCfg, step: int) -> float:
    """The learning rate at 0-based ``step`` as a fraction of ``cfg.lr``: a linear warm-up
    over ``cfg.warmup`` steps, then the paper's StepLR decay."""
    return min(1.0, (step + 1) / max(cfg.warmup, 1)) * cfg.lr_gamma ** (step // cfg.lr_step)


def style_weight_schedule(cfg: TuneCfg, steps: int) -> list[float]:
    """The style weight each step of a tune trains at: ``cfg.style_weight`` throughout, or for a
    conditional tune one weight a step over ``cfg.style_weights``, along a golden-ratio sequence,
    which spreads any run of consecutive steps over the range (random draws clump). The density
    in log(weight) ramps up linearly: the strong end moves furthest from the start and needs the
    most steps; uniform in log, it fell short of a separate tune there (docs/experiments.md)."""
    lo, hi = cfg.style_weights
    if lo == hi:
        return [cfg.style_weight] * steps
    golden = (math.sqrt(5) - 1) / 2
    return [log_between(lo, hi, math.sqrt((0.5 + k * golden) % 1.0)) for k in range(steps)]


def balance(cfg: TuneCfg, style_weight: float) -> float:
    """The scale of a conditional step's loss at ``style_weight``: content + style weight as at the
    look's own point. A plain tune's optimum is the same at any scale (Adam ignores it), but steps
    of one conditional tune share Adam's moments, and unscaled the strong-style steps' large
    gradients would drown the others (docs/experiments.md). 1 for a plain tune, whose weights
    may both be 0 (the match term alone)."""
    if style_weight == cfg.style_weight:
        return 1.0
    return (cfg.content_weight + cfg.style_weight) / (cfg.content_weight + style_weight)


def _optimizer(net: HRNet, cfg: TuneCfg) -> torch.optim.Optimizer:
    # A conditional look's change to the colour transform (colour_film) learns at the full rate and
    # its FiLM layers faster: slower, the strong end of the range stayed short of a separate tune
    # (docs/experiments.md).
    head = [*net.head.parameters(), *net.colour.parameters()]
    film = [] if net.embed is None else [*net.embed.parameters(), *net.film.parameters()]
    taken = {id(p) for p in head + film}
    body = [p for p in net.parameters() if id(p) not in taken]
    groups = [{"params": body}, {"params": head, "lr": cfg.lr * cfg.head_lr_scale}]
    if film:
        groups.append({"params": film, "lr": cfg.lr * cfg.film_lr_scale})
    return torch.optim.Adam(groups, lr=cfg.lr)


def tune(
    keyframe: Tensor,
    look: Tensor,
    cfg: TuneCfg = TuneCfg(),
    *,
    device: torch.device | str = "cpu",
    vgg: VGGFeatures | None = None,
    targets: PerceptualTargets | None = None,
    matches: Matches | None = None,
    init: HRNet | None = None,
    on_step: StepCallback | None = None,
) -> TuneResult:
    """Tune a fresh HR-Net so ``keyframe`` takes on the style of ``look``.

    Both are (1,3,H,W) RGB in [0,1] at any size; the network works at ``cfg.size``
    on the long side and its grade is judged at `judge_long_side` (see the
    module's docstring). ``vgg``, ``targets`` (`tune_targets`) and ``matches``
    (`tune_matches`) may be passed to share them between tunes of the same pair.
    ``init`` continues from an existing network (e.g. a saved look's), trained in
    place; by default a fresh network built from ``cfg.net`` and ``cfg.seed`` that
    starts as the global colour match ``cfg.colour_match`` (the identity for
    "none"). ``on_step(stats, output)`` is called after every step with the
    keyframe as the losses judged it (`judged_output`, for progress and previews).

    Ctrl-C stops the loop and returns the best weights so far with
    ``stopped="interrupted"``; a NaN/Inf loss stops it with ``stopped="non-finite"``.
    """
    device = torch.device(device)
    content, look_small = prepare(keyframe, cfg.size, device), prepare(look, cfg.size, device)  # sizes checked
    vgg = (vgg or VGGFeatures()).to(device)
    # One set of matches, at the matcher's own size from the full images, makes both the start and
    # the terms: the start's used to come from the work-size keyframe (blurred up at 128 px).
    if matches is None:
        matches = tune_matches(vgg, keyframe, look, cfg, start=init is None)
    net = init if init is not None else initial_net(content, look_small, cfg, matches)
    if (net.embed is None) != (cfg.trade_off is None):
        raise TuneError("a trade-off tune needs a conditional network (NetCfg.film > 0), and a plain tune a plain one")
    net = net.to(device).train().requires_grad_(True)
    targets = (targets if targets is not None else tune_targets(vgg, keyframe, look, net, cfg)).to(device)
    fine = Judging(targets, prepare(keyframe, judge_long_side(cfg, keyframe), device), net)
    coarse, fine_from = None, coarse_steps(cfg, keyframe) + 1
    if fine_from > 1:
        coarse = Judging(tune_targets(vgg, keyframe, look, net, replace(cfg, judge_size=0)), content, net)
    judging = coarse or fine
    opt = _optimizer(net, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(cfg, step))
    layer_weights = dict(zip(STYLE_LAYERS, cfg.layer_weights))
    steadiness = SteadinessTerm(content, cfg) if cfg.steady_weight > 0 else None
    matched = MatchTerm(matches) if cfg.match_weight > 0 else None
    style_share = cfg.style_share(None if matches is None else matches.trust)

    def losses(style_weight: float) -> tuple[Tensor, StepStats, Tensor]:
        """The total loss at ``style_weight``, its terms (``seconds`` and ``step`` left 0) and the judged grade."""
        net.set_style_weight(style_weight)
        guard = judging.guard
        with autocast(device):
            out = net(content)
            judged = judged_output(judging.keyframe, content, out)
            terms = perceptual_loss(
                vgg, judged, judging.targets, cfg.content_weight, style_share * style_weight, layer_weights
            )
            steady = steadiness(net, content, out) if steadiness is not None else torch.zeros(())
            structure, residual = guard(judged)
            matching = matched(judged) if matched is not None else torch.zeros(())
            total = (
                terms.total
                + cfg.match_weight * matching
                + cfg.steady_weight * steady
                + cfg.structure_weight * (1 - structure)
                + cfg.residual_weight * guard.excess(residual)
            )
        stats = StepStats(
            step=0,
            total=total.item(),
            content=terms.content.item(),
            style=terms.style.item(),
            per_layer={k: v.item() for k, v in terms.per_layer.items()},
            seconds=0.0,
            steady=steady.item(),
            structure_ssim=structure.item(),
            affine_residual=residual.item(),
            match=matching.item(),
        )
        return total, stats, judged

    # A conditional tune's loss moves with the style weight each step draws, so neither the
    # lowest loss nor a plateau of it means anything there: it keeps its last weights.
    conditional = cfg.trade_off is not None
    history: list[StepStats] = []
    best_state, best = copy.deepcopy(net.state_dict()), None
    since_best, stopped, start = 0, "completed", time.perf_counter()
    try:
        for step, style_weight in enumerate(style_weight_schedule(cfg, cfg.steps), start=1):
            if coarse is not None and step == fine_from:
                # Losses at another size are on another scale: the best and the plateau start afresh.
                judging, best, since_best = fine, None, 0
            opt.zero_grad(set_to_none=True)
            total, stats, judged = losses(style_weight)
            if not torch.isfinite(total):
                stopped = "non-finite"
                break
            (total * balance(cfg, style_weight)).backward()
            # The reported losses belong to the weights before this update, i.e. to `best_state` candidates.
            stats = replace(stats, step=step, seconds=time.perf_counter() - start)
            history.append(stats)
            if best is None or stats.total < best.total * (1 - cfg.min_delta):
                since_best = 0
            else:
                since_best += 1
            if best is None or stats.total < best.total:
                best, best_state = stats, copy.deepcopy(net.state_dict())
            opt.step()
            sched.step()
            if on_step is not None:
                on_step(stats, judged.detach())
            if since_best >= cfg.patience and not conditional:
                stopped = "plateau"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    if best is None:
        raise TuneError("the loss was NaN or Inf from the first step; check the keyframe and look images")
    if conditional and stopped != "non-finite":
        with torch.no_grad():  # the weights after the last update, judged at the look's default point
            best = replace(losses(cfg.style_weight)[1], step=len(history), seconds=time.perf_counter() - start)
    else:
        net.load_state_dict(best_state)
    net.set_style_weight(cfg.style_weight)
    net.eval().requires_grad_(False)
    trust = None if matches is None else matches.trust
    return TuneResult(net, cfg, len(history), stopped, best, history, tuple(content.shape[-2:]), trust)


def look_meta(result: TuneResult, keyframe: Path, look: Path, vgg_weights: str) -> LookMeta:
    """Provenance for the look file of ``result``, tuned from the files ``keyframe`` and ``look``."""
    final = {
        "total": result.final.total,
        "content": result.final.content,
        "style": result.final.style,
        "steady": result.final.steady,
        "match": result.final.match,
        "structure_ssim": result.final.structure_ssim,
        "affine_residual": result.final.affine_residual,
        **{f"style_{k}": v for k, v in result.final.per_layer.items()},
    }
    return LookMeta(
        net_cfg=result.net.cfg.to_dict(),
        tune_cfg=result.cfg.to_dict(),
        steps_done=result.steps_done,
        work_size=list(result.work_size),
        vgg_weights=vgg_weights,
        keyframe_sha256=file_sha256(keyframe),
        look_sha256=file_sha256(look),
        final_losses=final,
        stopped=result.stopped,
        keyframe_name=printable(keyframe.name),
        look_name=printable(look.name),
        style_weights=list(result.cfg.style_weights),
        trust=result.trust,
    )


def working_pixels(image: Image) -> np.ndarray:
    """A still in the encoding looks work in: scene-linear EXR is sRGB-encoded as apply does (colour.py)."""
    return working_encoding("auto", image.spec.bit_depth).to_working(image.pixels)


def tune_files(
    keyframe: str | Path,
    look: str | Path,
    out: str | Path,
    cfg: TuneCfg = TuneCfg(),
    *,
    device: torch.device | str = "cpu",
    vgg_weights: str | Path | None = None,
    overwrite: bool = False,
    on_step: StepCallback | None = None,
) -> tuple[TuneResult, Look]:
    """Read two image files, tune, and save the look file ``out`` (atomically).

    Checks that ``out`` can be written before spending minutes tuning. An
    interrupted tune still saves the best weights so far (``result.stopped``
    says so). This is what `hrstyle tune` runs.
    """
    keyframe, look, out = Path(keyframe), Path(look), Path(out)
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: look file exists; pass --force to overwrite or -o to choose another name")
    check_writable(out)
    key_img, look_img = (working_pixels(read_image(path)) for path in (keyframe, look))
    vgg = VGGFeatures(weights=vgg_weights)
    result = tune(to_tensor(key_img), to_tensor(look_img), cfg, device=device, vgg=vgg, on_step=on_step)
    meta = look_meta(result, keyframe, look, vgg.weights_id)
    sha = save_look(out, result.net, meta)
    return result, Look(result.net, meta, sha)

"""The look's typed configs: the network's shape and everything that decides a tune.

No torch here: the CLI reads these defaults for its --help without loading torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..errors import InputError

NORMS = ("instance",)  # NetCfg.norm: instance norm with a per-channel affine (layers.py)
ACTS = ("relu", "leaky_relu", "silu", "gelu")  # NetCfg.act: the activations a look may name (layers.py)
MIN_SIDE = 8  # pixels: the generator's H/4 stream needs 2x2 pixels for its instance statistics


@dataclass(frozen=True)
class NetCfg:
    """Shape of the generator. Part of the look file format: keep field names stable."""

    width: int = 16  # channels of the full-resolution stream; H/2 and H/4 get 2x and 4x
    streams: int = 3  # 1 = full resolution only, 3 = full, H/2, H/4
    stages: int = 3  # fusion stages; stage s has min(s + 1, streams) streams
    blocks: int = 1  # bottleneck blocks per stream per stage
    norm: str = "instance"
    act: str = "relu"
    film: int = 0  # width of the style-weight embedding that modulates each stage (layers.FiLM); 0 = one point

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetCfg":
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown network setting {unknown[0]!r}")
        for key, value in data.items():
            expected = int if known[key] == "int" else str
            if type(value) is not expected:
                raise ValueError(f"network setting {key!r}: expected {expected.__name__}, got {type(value).__name__}")
        cfg = replace(cls(), **data)
        if not (
            1 <= cfg.width <= 256
            and 1 <= cfg.streams <= 3
            and 1 <= cfg.stages <= 16
            and 1 <= cfg.blocks <= 8
            and 0 <= cfg.film <= 64
        ):
            raise ValueError(f"network settings out of range: {cfg}")
        if cfg.norm not in NORMS:
            raise ValueError(f"unknown norm {cfg.norm!r}; expected one of {sorted(NORMS)}")
        if cfg.act not in ACTS:
            raise ValueError(f"unknown activation {cfg.act!r:.40}; expected one of {', '.join(ACTS)}")
        return cfg


NET_PRESETS: dict[str, NetCfg] = {
    "hrnet": NetCfg(),  # close to the paper's ~65K parameters
    "hrnet-small": NetCfg(width=8),  # for previews and tests
    "hrnet-wide": NetCfg(width=24, blocks=2),
}


STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


COLOUR_MATCHES = ("none", "mkl", "matched")  # identity; MKL (colour_match.py); correspondences (correspond.py)


# Both loss terms start at 1 (tune.py), so equal weights mean as much look as structure. The
# style term also carries what the reference shows, so a third of it lands closest to a known
# grade on every tier of bench/truth.py; docs/experiments.md has the measurements behind every
# default of TuneCfg.
DEFAULT_CONTENT_WEIGHT = 1.0
DEFAULT_STYLE_WEIGHT = 0.3


# A conditional tune's style/content ratios when none are named: what the sweep's default grid spans.
DEFAULT_TRADE_OFF = (0.25, 4.0)


FILM_WIDTH = 16  # NetCfg.film of a conditional tune's network


@dataclass(frozen=True)
class TuneCfg:
    """Everything that decides a tune. Saved in the look file."""

    steps: int = 300
    size: int = 512  # work resolution, long side, for keyframe and look
    content_weight: float = DEFAULT_CONTENT_WEIGHT
    style_weight: float = DEFAULT_STYLE_WEIGHT
    layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)  # relu1_1 .. relu5_1
    net: str = "hrnet"  # a key of net.NET_PRESETS
    colour_match: str = "matched"  # the starting global colour transform (COLOUR_MATCHES): docs/experiments.md
    judge_size: int = 512  # long side the losses judge the look at (judge_long_side); 0 = the work size
    coarse_share: float = 0.0  # the first steps, this share of them, judged at the work size (coarse to fine)
    match_weight: float = 2.0  # the correspondence term (MatchTerm): matched reference colours, correspond.py
    unmatched_carry: float = 0.3  # the share of MKL a "matched" start takes where nothing matches (trust 0)
    unmatched_style: float = 0.1  # the style term's weight where nothing matches, as a share of style_weight
    steady_weight: float = 3.0  # the steadiness term (SteadinessTerm): bench/pairs.py and the sample shot
    steady_shift: float = 1.0  # that move: up to this many work-size pixels on each axis ...
    steady_zoom: float = 0.02  # ... and a zoom by up to this fraction either way
    structure_weight: float = 0.3  # the photoreal guard (PhotorealGuard): docs/metrics.md's structure_ssim ...
    residual_weight: float = 0.1  # ... and affine_residual of the judged grade; bench/pairs.py
    lr: float = 5e-3  # Adam, as in the paper
    head_lr_scale: float = 0.1  # output conv and global colour layer: a full-lr first step jumps the loss 75x
    film_lr_scale: float = 2.0  # a conditional look's FiLM layers: the slider's strong end (docs/experiments.md)
    lr_step: int = 200  # StepLR(200, 0.9), as in the paper
    lr_gamma: float = 0.9
    warmup: int = 20  # linear lr warm-up: at full lr the first steps jump away from the colour-match start
    # style/content ratios (LO, HI) one conditional look covers (net.py's FiLM); None = the one point above
    trade_off: tuple[float, float] | None = None
    patience: int = 60  # stop when the loss has not improved by min_delta for this many steps
    min_delta: float = 2e-3  # relative
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.size < 16 or self.judge_size < 0 or self.warmup < 0:
            raise ValueError(
                f"steps must be >= 1, size >= 16, judge_size and warmup >= 0, got steps={self.steps}, "
                f"size={self.size}, judge_size={self.judge_size}, warmup={self.warmup}"
            )
        if not 0 <= self.coarse_share < 1:
            raise ValueError(f"coarse_share must be in [0, 1), got {self.coarse_share}")
        if not (0 <= self.unmatched_carry <= 1 and 0 <= self.unmatched_style <= 1):
            raise ValueError(
                f"unmatched_carry and unmatched_style must be in [0, 1], got {self.unmatched_carry} "
                f"and {self.unmatched_style}"
            )
        weights = (
            self.content_weight,
            self.style_weight,
            self.match_weight,
            self.steady_weight,
            self.structure_weight,
            self.residual_weight,
        )
        if min(weights) < 0 or not math.isfinite(sum(weights)):
            raise ValueError(
                "content, style, match, steadiness, structure and residual weights must be finite and >= 0"
            )
        if not (0 <= self.steady_shift <= 8 and 0 <= self.steady_zoom <= 0.2):
            raise ValueError(
                f"the steadiness move must be 0-8 px and 0-20% zoom, got {self.steady_shift} px and {self.steady_zoom}"
            )
        if len(self.layer_weights) != len(STYLE_LAYERS):
            raise ValueError(f"layer_weights needs {len(STYLE_LAYERS)} values, got {len(self.layer_weights)}")
        if self.net not in NET_PRESETS:
            raise ValueError(f"unknown network {self.net!r}; expected one of {sorted(NET_PRESETS)}")
        if self.colour_match not in COLOUR_MATCHES:
            raise ValueError(f"unknown colour match {self.colour_match!r}; expected one of {', '.join(COLOUR_MATCHES)}")
        if self.trade_off is not None:
            lo, hi = self.trade_off
            if not (0 < lo <= hi < math.inf and self.content_weight > 0):
                raise ValueError(f"trade-off {lo:g}:{hi:g}: expected 0 < LO <= HI and a content weight > 0")
            if not lo <= self.style_weight / self.content_weight <= hi:
                raise ValueError(
                    f"style weight {self.style_weight:g} at content weight {self.content_weight:g} is outside "
                    f"the trade-off {lo:g}:{hi:g}; the look's default point must lie in its range"
                )

    def style_share(self, trust: float | None) -> float:
        """The share of the style term a tune keeps when the reference shows the keyframe's scene
        to ``trust`` (correspond.py; None: not matched, all of it): the rest of a reference with
        other content carries that content as much as its grade."""
        return 1.0 if trust is None else self.unmatched_style + (1 - self.unmatched_style) * trust

    @property
    def style_weights(self) -> tuple[float, float]:
        """The style weights (at ``content_weight``) the look covers: one point unless ``trade_off``."""
        if self.trade_off is None:
            return self.style_weight, self.style_weight
        return self.trade_off[0] * self.content_weight, self.trade_off[1] * self.content_weight

    def to_dict(self) -> dict:
        return asdict(self)


# Both loss terms start at 1 (see tune.py), so weights are relative and the
# useful range is about 0.25-4; the papers' 10/50/150 would mean "all content".
DEFAULT_CONTENT_WEIGHTS = (0.5, 1.0, 2.0)


DEFAULT_STYLE_WEIGHTS = (0.5, 1.0, 2.0)


SWEEP_TUNE = TuneCfg(steps=100, size=256)  # small looks, to compare; tune the chosen weights at full size


def parse_weights(text: str, option: str = "weights") -> tuple[float, ...]:
    """``"0.5,1,2"`` -> ``(0.5, 1.0, 2.0)``; raises InputError naming ``option`` otherwise.

    >>> parse_weights("0.5, 1,2")
    (0.5, 1.0, 2.0)
    """
    try:
        weights = tuple(float(part) for part in text.split(","))
    except ValueError:
        weights = ()
    if not _valid_weights(weights):
        raise InputError(f"{option} {text!r}: expected distinct comma-separated numbers >= 0, like 0.5,1,2")
    return weights


def log_between(lo: float, hi: float, u: float) -> float:
    """The weight a share ``u`` in [0, 1] of the way from ``lo`` to ``hi``, in log: the trade-off's
    steps are ratios (0.5, 1, 2), so its range is walked evenly in log.

    >>> log_between(0.25, 4.0, 0.5)
    1.0
    """
    return lo * (hi / lo) ** u


def default_point(content_weight: float, trade_off: tuple[float, float] | None) -> float:
    """The style weight a tune names when none is given: `DEFAULT_STYLE_WEIGHT`, brought into a
    conditional tune's range of style/content ratios, whose default point must lie in it.

    >>> default_point(1.0, None), default_point(1.0, (0.5, 2.0)), default_point(2.0, (0.25, 4.0))
    (0.3, 0.5, 0.5)
    """
    if trade_off is None:
        return DEFAULT_STYLE_WEIGHT
    lo, hi = trade_off
    return min(max(DEFAULT_STYLE_WEIGHT, lo * content_weight), hi * content_weight)


def parse_trade_off(text: str) -> tuple[float, float]:
    """``"0.25:4"`` -> ``(0.25, 4.0)``; raises InputError otherwise.

    >>> parse_trade_off("0.5:2")
    (0.5, 2.0)
    """
    lo, sep, hi = text.partition(":")
    try:
        bounds = (float(lo), float(hi))
    except ValueError:
        bounds = (0.0, 0.0)
    if not sep or not 0 < bounds[0] <= bounds[1] < math.inf:
        raise InputError(f"--trade-off {text!r}: expected LO:HI, style/content ratios with 0 < LO <= HI, like 0.25:4")
    return bounds


@dataclass(frozen=True)
class SweepCfg:
    """What a sweep tunes: the grid of weights and every other tune setting, shared by all cells."""

    content_weights: tuple[float, ...] = DEFAULT_CONTENT_WEIGHTS  # the rows
    style_weights: tuple[float, ...] = DEFAULT_STYLE_WEIGHTS  # the columns
    tune: TuneCfg = SWEEP_TUNE  # its content_weight and style_weight are replaced per cell
    preview_size: int = 512  # long side of each cell's graded keyframe; never above the keyframe's
    cell_width: int = 320  # width of one cell on the contact sheet
    keep: bool = False  # save every cell's look file
    one_look: bool = False  # one conditional tune over the grid's style/content ratios, rendered at each cell

    def __post_init__(self) -> None:
        for name, weights in (("content weights", self.content_weights), ("style weights", self.style_weights)):
            if not _valid_weights(weights):
                raise InputError(f"{name}: expected one or more distinct numbers >= 0, got {weights!r}")
        if self.one_look and min(*self.content_weights, *self.style_weights) <= 0:
            raise InputError(
                "--one-look renders each cell at its style/content ratio from one look: weights must be > 0"
            )
        if self.preview_size < 16 or self.cell_width < 16:
            raise InputError(
                f"preview size and cell width: expected >= 16 px, got {self.preview_size} and {self.cell_width}"
            )

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the grid."""
        return len(self.content_weights), len(self.style_weights)

    def one_look_tune(self) -> TuneCfg:
        """The conditional tune of ``one_look``: content weight 1, style weights spanning every cell's ratio."""
        ratios = [s / c for c in self.content_weights for s in self.style_weights]
        lo, hi = min(ratios), max(ratios)
        return replace(self.tune, content_weight=1.0, style_weight=default_point(1.0, (lo, hi)), trade_off=(lo, hi))


# Small enough to finish in three minutes on two CPU cores (bench/demo.py); a production tune is TuneCfg().
DEMO_TUNE = TuneCfg(steps=80, size=256)


def _valid_weights(weights: tuple[float, ...]) -> bool:
    """One or more distinct finite numbers >= 0 (a repeated weight would overwrite its twin's files)."""
    return bool(weights) and len(set(weights)) == len(weights) and all(math.isfinite(w) and w >= 0 for w in weights)

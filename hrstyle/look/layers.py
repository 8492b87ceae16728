"""The generator's building blocks: a conv, an instance norm with a per-channel affine, an activation.

Small, with flat typed arguments, after timm's ``ConvNormAct``; its attribute names
(``conv``, ``bn``) are kept because a look file stores the weights under them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Activations a look may name (NetCfg.act); all in place, as they follow a norm.
_ACT_LAYERS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
}


def make_act(name: str) -> nn.Module:
    act = _ACT_LAYERS[name]
    return act() if act is nn.GELU else act(inplace=True)


class StableConv2d(nn.Conv2d):
    """nn.Conv2d whose CPU inference gives the same bits at any number of torch threads.

    PyTorch picks a CPU convolution's backend by a speed heuristic that reads the
    thread count: an unstrided 1x1 convolution of a small batch goes to oneDNN only
    at more than one thread, and to the native GEMM path at one (as do small inputs
    at any count). The two sum in different orders, so a frame moved by a code value
    between 1 thread (a farm task) and 2. oneDNN's forward convolutions are invariant
    to the thread count, so float32 inference on the CPU always goes there; training,
    other devices and other dtypes keep PyTorch's choice.
    """

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if (
            input.device.type == "cpu"
            and input.dtype == weight.dtype == torch.float32
            and self.padding_mode == "zeros"
            and not isinstance(self.padding, str)
            and torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled
            and not (torch.is_grad_enabled() and (input.requires_grad or weight.requires_grad))
        ):
            return torch.mkldnn_convolution(
                input.contiguous(), weight, bias, self.padding, self.stride, self.dilation, self.groups
            )
        return super()._conv_forward(input, weight, bias)


class InstanceNormAct(nn.GroupNorm):
    """GroupNorm with one channel per group, i.e. instance norm with a per-channel affine: no
    running statistics, so a tune and a render treat one image alike; then the activation."""

    def __init__(self, channels: int, act: str | None) -> None:
        super().__init__(channels, channels, eps=1e-5)
        self.act = make_act(act) if act is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(super().forward(x))


class ConvNormAct(nn.Module):
    """A bias-free conv (padding keeps the size, halved with stride 2), the norm and the activation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, act: str | None = "relu") -> None:
        super().__init__()
        self.conv = StableConv2d(cin, cout, kernel, stride=stride, padding=(stride - 1 + kernel - 1) // 2, bias=False)
        self.bn = InstanceNormAct(cout, act)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


class StyleWeightEmbedding(nn.Module):
    """log2(style weight) → a ``width``-wide code that the FiLM layers of a look read.

    The log, because a colorist's steps along the trade-off are ratios (0.5, 1, 2)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(1, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU())

    def forward(self, style_weight: Tensor) -> Tensor:
        return self.mlp(style_weight.float().log2().reshape(-1, 1))


class FiLM(nn.Module):
    """Feature-wise scale and shift from an embedding (Perez et al. 2018), as "You Only Train
    Once" conditions a network on its loss weights. Zero-initialised: it starts as the identity,
    so a conditional tune starts from exactly the network a plain one does."""

    def __init__(self, embedding: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(embedding, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor, code: Tensor) -> Tensor:
        scale, shift = self.proj(code).to(x.dtype)[..., None, None].chunk(2, dim=1)
        if torch.is_grad_enabled():
            return x * (1 + scale) + shift
        # Rendering: ``x`` is a fresh feature map, and the two full-size copies out of place cost
        # a 512 px slider move a quarter of its time (bench/slider.py). The same bits either way.
        return x.mul_(1 + scale).add_(shift)


class ColourFiLM(nn.Module):
    """A change to the global colour transform from the same code: the strong end of a trade-off
    moves the grade's global part furthest, which the FiLM layers of the residual branch cannot
    reach. Zero-initialised, like FiLM."""

    def __init__(self, embedding: int) -> None:
        super().__init__()
        self.proj = nn.Linear(embedding, 12)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, colour: Tensor, rgb: Tensor, code: Tensor) -> Tensor:
        delta = self.proj(code).to(rgb.dtype).reshape(-1)
        return colour + F.conv2d(rgb, delta[:9].reshape(3, 3, 1, 1), delta[9:])

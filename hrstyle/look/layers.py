"""The generator's building blocks: a conv, an instance norm with a per-channel affine, an activation.

Small, with flat typed arguments, after timm's ``ConvNormAct``; its attribute names
(``conv``, ``bn``) are kept because a look file stores the weights under them.
"""

from __future__ import annotations

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
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=(stride - 1 + kernel - 1) // 2, bias=False)
        self.bn = InstanceNormAct(cout, act)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))

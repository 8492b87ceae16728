import pytest
import torch

from hrstyle.errors import ShapeError
from hrstyle.look.config import NET_PRESETS, NetCfg
from hrstyle.look.net import HRNet


@pytest.mark.parametrize("size", [(8, 8), (37, 51), (64, 96), (101, 67)])
def test_untrained_network_is_exactly_the_identity(size):
    torch.manual_seed(0)
    x = torch.rand(2, 3, *size)
    assert torch.equal(HRNet()(x), x)


def test_default_is_close_to_the_papers_65k_parameters():
    n = sum(p.numel() for p in HRNet().parameters())
    assert 55_000 <= n <= 75_000


def test_has_full_half_and_quarter_resolution_streams():
    net, seen = HRNet(), set()
    hooks = [
        m.register_forward_hook(lambda m, i, o: seen.add(tuple(o.shape[-2:])))
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    net(torch.rand(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert {(64, 64), (32, 32), (16, 16)} <= seen and min(s[0] for s in seen) == 16


def test_width_is_configurable_and_uses_instance_norm():
    small, wide = HRNet(NET_PRESETS["hrnet-small"]), HRNet(NET_PRESETS["hrnet-wide"])
    count = lambda n: sum(p.numel() for p in n.parameters())  # noqa: E731
    assert count(small) < count(HRNet()) < count(wide)
    # No running statistics: train and eval outputs are the same.
    net = HRNet()
    torch.nn.init.normal_(net.head.weight, std=0.1)
    x = torch.rand(1, 3, 32, 32)
    assert not any(isinstance(b, torch.Tensor) and "running" in n for n, b in net.named_buffers())
    assert torch.allclose(net.train()(x), net.eval()(x))


def test_gradients_reach_every_weight_once_the_head_moves():
    net = HRNet(NET_PRESETS["hrnet-small"])
    torch.nn.init.normal_(net.head.weight, std=0.1)
    net(torch.rand(1, 3, 32, 32)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_too_small_or_wrong_shape_raises():
    with pytest.raises(ShapeError, match="expected"):
        HRNet()(torch.rand(1, 3, 4, 64))
    with pytest.raises(ShapeError):
        HRNet()(torch.rand(1, 1, 32, 32))


def test_cfg_round_trips_and_validates():
    cfg = NetCfg(width=8, blocks=2)
    assert NetCfg.from_dict(cfg.to_dict()) == cfg
    for bad in ({"width": "16"}, {"width": 0}, {"depth": 3}, {"norm": "batch"}, {"width": True}):
        with pytest.raises(ValueError):
            NetCfg.from_dict({**cfg.to_dict(), **bad})

"""The tune's steadiness term: a network that invents texture from the pixel grid
flickers on a moving shot; this term measures that on the keyframe and trains it away."""

from dataclasses import replace

import pytest
import torch

from hrstyle.grade.temporal import move, random_move
from hrstyle.look.config import NET_PRESETS, TuneCfg
from hrstyle.look.net import HRNet
from hrstyle.look.terms import SteadinessTerm
from hrstyle.look.tune import prepare, tune

FAST = TuneCfg(steps=25, size=64, net="hrnet-small", steady_weight=0.0, judge_size=0)


def test_move_by_whole_pixels_is_a_shift(keyframe_128):
    x = keyframe_128
    h, w = x.shape[-2:]
    theta = torch.tensor([[[1.0, 0.0, 2 * 2 / w], [0.0, 1.0, -1 * 2 / h]]])  # 2 px right, 1 px up in the source
    moved = move(x, theta)
    assert torch.allclose(moved[..., 2:-2, 2:-4], x[..., 1:-3, 4:-2], atol=1e-5)


def test_random_move_stays_within_its_bounds():
    gen = torch.Generator().manual_seed(0)
    thetas = torch.cat([random_move(gen, (100, 200), shift=1.5, zoom=0.02) for _ in range(200)])
    assert (thetas[:, 0, 0] - 1).abs().max() <= 0.02 and torch.equal(thetas[:, 0, 0], thetas[:, 1, 1])
    assert (thetas[:, 0, 2] * 200 / 2).abs().max() <= 1.5 and (thetas[:, 1, 2] * 100 / 2).abs().max() <= 1.5
    assert (thetas[:, 0, 2] * 200 / 2).abs().max() > 1.2  # and uses them


def test_a_global_colour_grade_is_perfectly_steady(keyframe_128):
    x = prepare(keyframe_128, 64, torch.device("cpu"))
    net = HRNet(NET_PRESETS["hrnet-small"])
    net.set_colour(
        torch.tensor([[1.2, 0.1, 0.0], [0.0, 0.9, 0.1], [0.05, 0.0, 0.8]]), torch.tensor([0.02, -0.01, 0.05])
    )
    term = SteadinessTerm(x, replace(FAST, steady_weight=1.0))
    with torch.no_grad():
        assert term(net, x, net(x)).item() < 1e-8
        # A residual that ignores the picture and paints a fixed texture on the pixel grid fails.
        torch.nn.init.normal_(net.head.weight, std=0.5)
        assert term(net, x, net(x)).item() > 0.05


def test_tuning_with_the_term_makes_the_look_steadier(keyframe_128, look_128, vgg):
    measure_cfg = replace(FAST, steady_weight=1.0)
    x = prepare(keyframe_128, FAST.size, torch.device("cpu"))

    def steadiness(cfg):
        net = tune(keyframe_128, look_128, cfg, vgg=vgg).net
        term = SteadinessTerm(x, measure_cfg)  # the same 20 moves for both
        with torch.no_grad():
            return sum(term(net, x, net(x)).item() for _ in range(20)) / 20

    plain, steady = steadiness(FAST), steadiness(replace(FAST, steady_weight=10.0))
    assert steady < 0.5 * plain


def test_steadiness_settings_are_checked():
    with pytest.raises(ValueError, match="steadiness"):
        TuneCfg(steady_weight=-1)
    with pytest.raises(ValueError, match="move"):
        TuneCfg(steady_shift=20)

"""The closed-form global colour match a tune starts from."""

import torch

from hrstyle.look.colour_match import mkl_transfer
from hrstyle.look.config import STYLE_LAYERS, TuneCfg
from hrstyle.look.perceptual import perceptual_loss
from hrstyle.look.tune import initial_net, prepare, tune, tune_targets


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = x.double().transpose(0, 1).reshape(3, -1)
    return flat.mean(1), torch.cov(flat)


def test_mkl_carries_the_keyframe_colours_onto_the_looks(keyframe_128, look_128):
    A, b = mkl_transfer(keyframe_128, look_128)
    matched = torch.einsum("ij,bjhw->bihw", A, keyframe_128) + b.view(1, 3, 1, 1)
    (mu_m, cov_m), (mu_l, cov_l), (mu_k, cov_k) = (_stats(x) for x in (matched, look_128, keyframe_128))
    assert torch.allclose(mu_m, mu_l, atol=1e-5) and torch.allclose(cov_m, cov_l, atol=1e-5)
    assert (mu_k - mu_l).abs().max() > 0.05  # the pair really differs in colour
    # Of all maps with those statistics MKL moves colours least: it is symmetric positive definite.
    assert torch.allclose(A, A.T, atol=1e-5) and torch.linalg.eigvalsh(A.double()).min() > 0


def test_a_grey_image_gets_a_finite_match(look_128):
    grey = torch.rand(1, 1, 64, 64).expand(1, 3, 64, 64)
    A, b = mkl_transfer(grey, look_128)
    assert torch.isfinite(A).all() and torch.isfinite(b).all()


def test_a_tune_starts_at_the_colour_match_and_improves_on_it(keyframe_128, look_128, vgg):
    # Judged on the output itself, with the paper's full style term (the sample's reference shows other content).
    cfg = TuneCfg(
        steps=12, size=64, net="hrnet-small", colour_match="mkl", judge_size=0, style_weight=1.0, unmatched_style=1.0
    )
    content, look = prepare(keyframe_128, cfg.size, "cpu"), prepare(look_128, cfg.size, "cpu")
    start = initial_net(content, look, cfg)
    A, b = mkl_transfer(content, look)
    with torch.no_grad():
        assert torch.allclose(start(content), torch.einsum("ij,bjhw->bihw", A, content) + b.view(1, 3, 1, 1), atol=1e-5)
    result = tune(keyframe_128, look_128, cfg, vgg=vgg)
    first, best = result.history[0], result.final
    # The content term keeps the matched keyframe's structure, clipped as a frame file holds it: at
    # the start it costs nothing, though the match pushes the sample's highlights out of range.
    targets = tune_targets(vgg, keyframe_128, look_128, start, cfg)
    weights = dict(zip(STYLE_LAYERS, cfg.layer_weights))
    with torch.no_grad():
        unclipped, clipped = (
            perceptual_loss(vgg, x, targets, 1, 1, weights).content
            for x in (start(content), start(content).clamp(0, 1))
        )
    assert clipped < 1e-6 and first.content < 1e-6
    assert unclipped > 0.01
    assert first.per_layer["relu1_1"] < 0.5  # the global match already carried the colour (identity: 1) ...
    assert best.style < 0.9 * first.style  # ... and tuning moved the style further

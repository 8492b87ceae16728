"""Correspondences between keyframe and reference, and the grade they carry (look/correspond.py)."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import SAMPLES, load_small, sample_truth

from hrstyle.io.tensors import to_pixels, to_tensor
from hrstyle.look.colour_match import mkl_transfer, toward_identity
from hrstyle.look.config import TuneCfg
from hrstyle.look.correspond import fit_grade, match, matched_transfer
from hrstyle.look.terms import MatchTerm
from hrstyle.look.tune import initial_net, prepare, tune, tune_matches
from hrstyle.score.truth import delta_e2000

# A teal/orange-ish grade with known parameters: the truth for any image is this transform of it.
GRADE_A = torch.tensor([[1.10, 0.05, -0.05], [-0.03, 0.95, 0.08], [-0.10, 0.05, 1.05]])
GRADE_B = torch.tensor([0.02, -0.03, 0.06])


def _grade(image: torch.Tensor) -> torch.Tensor:
    return (torch.einsum("ij,bjhw->bihw", GRADE_A, image) + GRADE_B.view(1, 3, 1, 1)).clamp(0, 1)


def _de(output: torch.Tensor, truth: torch.Tensor) -> float:
    return delta_e2000(to_pixels(output.clamp(0, 1)), to_pixels(truth)).mean


@pytest.fixture(scope="module")
def same_scene() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(content, reference, truth): frame 1001 of the sample shot, and frame 1012 through the grade."""
    content = load_small(SAMPLES / "shot" / "shot.1001.png", 128)
    return content, _grade(load_small(SAMPLES / "shot" / "shot.1012.png", 128)), _grade(content)


def test_another_frame_of_the_scene_is_trusted_and_gives_its_grade(same_scene, vgg):
    content, reference, truth = same_scene
    matches = match(vgg, content, reference)
    assert matches.trust == 1.0 and matches.coverage > 0.5
    A, b = matched_transfer(matches)
    carried = torch.einsum("ij,bjhw->bihw", A, content) + b.view(1, 3, 1, 1)
    untouched = _de(content, truth)
    assert untouched > 3  # the grade is visible
    assert _de(carried, truth) < 0.35 * untouched


def test_unrelated_content_carries_nothing(keyframe_128, look_128, vgg):
    """The sample keyframe (a cup) and its look (an astronaut): nothing in one is in the other."""
    matches = match(vgg, keyframe_128, look_128)
    assert matches.trust == 0.0 and matches.coverage < 0.2
    A, b = matched_transfer(matches)
    assert torch.allclose(A, torch.eye(3)) and torch.allclose(b, torch.zeros(3))
    fallback = toward_identity(mkl_transfer(keyframe_128, look_128), 0.3)
    A, b = matched_transfer(matches, fallback)
    assert torch.allclose(A, fallback[0]) and torch.allclose(b, fallback[1])


def test_unrelated_content_starts_from_a_share_of_the_whole_image_match(keyframe_128, look_128, vgg):
    """Nothing in the astronaut is in the cup, so the tune starts from a third of the MKL match:
    closer to the truth (the keyframe through the grade that made look.jpg) than the keyframe
    itself, and closer than the whole MKL match, which also carries what the astronaut shows."""
    truth = to_tensor(sample_truth(to_pixels(keyframe_128)))
    with torch.no_grad():
        matches = tune_matches(vgg, keyframe_128, look_128, TuneCfg())
        start = initial_net(keyframe_128, look_128, TuneCfg(), matches)(keyframe_128)
        whole = initial_net(keyframe_128, look_128, TuneCfg(colour_match="mkl"))(keyframe_128)
    untouched = _de(keyframe_128, truth)
    assert _de(start, truth) < 0.85 * untouched
    assert _de(start, truth) < _de(whole, truth)


def test_the_colour_balance_carried_where_nothing_matches_is_the_colorists_to_set(keyframe_128, look_128, vgg):
    """None of it is the keyframe itself; the sample's grade acts on the whole frame (an S-curve
    and split toning), so half of it lands closer to the truth than the default third."""
    truth = to_tensor(sample_truth(to_pixels(keyframe_128)))
    matches = tune_matches(vgg, keyframe_128, look_128, TuneCfg())
    with torch.no_grad():
        starts = {
            carry: initial_net(keyframe_128, look_128, TuneCfg(unmatched_carry=carry), matches)(keyframe_128)
            for carry in (0.0, 0.3, 0.5)
        }
    assert torch.allclose(starts[0.0], keyframe_128, atol=1e-6)
    assert _de(starts[0.5], truth) < _de(starts[0.3], truth) < _de(keyframe_128, truth)


def test_the_style_term_fades_with_the_trust():
    cfg = TuneCfg(unmatched_style=0.1)
    assert cfg.style_share(None) == 1.0 and cfg.style_share(1.0) == 1.0
    assert cfg.style_share(0.0) == pytest.approx(0.1) and cfg.style_share(0.5) == pytest.approx(0.55)
    with pytest.raises(ValueError, match="unmatched_style"):
        TuneCfg(unmatched_style=1.5)


def test_the_match_term_pulls_the_tune_towards_the_grade(same_scene, vgg):
    content, reference, truth = same_scene
    quick = dict(steps=25, size=64, net="hrnet-small", judge_size=0, warmup=5)
    # Content and style weights both 0: the match term alone (a plain tune's loss scale is 1, not 0/0).
    cfg = TuneCfg(colour_match="none", content_weight=0, style_weight=0, match_weight=2, **quick)
    result = tune(content, reference, cfg, vgg=vgg)
    assert result.final.match < 0.6 * result.history[0].match
    small = prepare(content, cfg.size, "cpu")
    with torch.no_grad():
        graded = result.net(small)
    assert _de(graded, _grade(small)) < 0.7 * _de(small, _grade(small))
    assert np.isfinite(result.final.total)


def test_matches_off_the_fitted_grade_count_less(same_scene, vgg):
    """A wrong match pulls its cell towards another object's colour: the robust fit sets it
    aside, in the fitted grade and in the weight the match term gives it."""
    content, reference, _ = same_scene
    matches = match(vgg, content, reference)
    used = torch.nonzero(matches.weight > 0.2).flatten()
    wrong = used[::8]
    target = matches.target.clone()
    target[wrong] = 1 - target[wrong]  # the colour of something else entirely
    corrupted = replace(matches, target=target)
    fit = fit_grade(corrupted)
    kept = fit.weight / matches.weight.clamp_min(1e-8)
    right = used[torch.isin(used, wrong, invert=True)]
    assert kept[wrong].mean() < 0.25 * kept[right].mean()
    clean = fit_grade(matches).transform
    assert (fit.transform - clean).abs().max() < 0.1


def test_the_match_term_scales_with_the_trust(same_scene, vgg):
    """A reference that shows less of the keyframe pulls less: the term is in proportion to the
    trust, and 0 where nothing matches."""
    content, reference, _ = same_scene
    matches = match(vgg, content, reference)
    judged = content * 0.8 + 0.1
    full = float(MatchTerm(matches)(judged)) / matches.trust
    assert full > 0.1
    # Trust 0.4, 0.2 and 0 (TRUST_RANGE 0.2 .. 0.45); the robust fit moves a little with the ridge.
    for coverage in (0.3, 0.25, 0.1):
        fewer = replace(matches, weight=matches.weight * coverage / matches.coverage)
        assert float(MatchTerm(fewer)(judged)) == pytest.approx(fewer.trust * full, rel=1e-2, abs=1e-6)
    assert fewer.trust == 0.0

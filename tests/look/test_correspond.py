"""Correspondences between keyframe and reference, and the grade they carry (look/correspond.py)."""

import numpy as np
import pytest
import torch
from helpers import SAMPLES, load_small

from hrstyle.io.tensors import to_pixels
from hrstyle.look.config import TuneCfg
from hrstyle.look.correspond import match, matched_transfer
from hrstyle.look.tune import prepare, tune
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


def test_the_match_term_pulls_the_tune_towards_the_grade(same_scene, vgg):
    content, reference, truth = same_scene
    quick = dict(steps=25, size=64, net="hrnet-small", judge_size=0, warmup=5)
    cfg = TuneCfg(colour_match="none", style_weight=0, match_weight=2, **quick)
    result = tune(content, reference, cfg, vgg=vgg)
    assert result.final.match < 0.6 * result.history[0].match
    small = prepare(content, cfg.size, "cpu")
    with torch.no_grad():
        graded = result.net(small)
    assert _de(graded, _grade(small)) < 0.7 * _de(small, _grade(small))
    assert np.isfinite(result.final.total)

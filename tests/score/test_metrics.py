import json

import cv2
import numpy as np
import pytest
import torch
from helpers import rgb
from skimage import data
from skimage.metrics import structural_similarity

from hrstyle.errors import InputError, SequenceError, ShapeError
from hrstyle.io.tensors import to_tensor
from hrstyle.look.config import STYLE_LAYERS
from hrstyle.score import flicker, metrics

# Global recolour with channel cross-talk: a grade a colour guided filter fits exactly.
M = np.float32([[0.8, 0.1, 0.05], [0.05, 0.7, 0.1], [0.1, 0.05, 0.6]])


@pytest.fixture(scope="module")
def content() -> np.ndarray:
    return rgb(data.astronaut(), (192, 192))


@pytest.fixture(scope="module")
def look() -> np.ndarray:
    # Same size as the content: an output equal to it is not distorted by the resize to the content's size.
    return rgb(data.coffee()[:, 100:500], (192, 192))


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return rgb(data.coffee())


class TestStill:
    def test_identity_scores_the_neutral_values(self, content, look):
        score = metrics.score_still(content, content, look)
        assert score.style_gap == 1.0
        assert score.style_per_layer == {k: 1.0 for k in STYLE_LAYERS}
        assert score.structure_ssim == pytest.approx(1.0, abs=1e-9)
        assert 0.02 < score.affine_residual < 0.06
        assert json.loads(json.dumps(score.to_dict()))["style_per_layer"]["relu5_1"] == 1.0

    def test_output_equal_to_the_look(self, content, look):
        gap = metrics.style_gap(content, look, look)
        assert gap.value < 1e-6
        assert set(gap.per_layer) == set(STYLE_LAYERS)
        assert metrics.structure_ssim(content, look) < 0.5


class TestAffineResidual:
    def test_identity_sits_at_the_floor(self, coffee):
        assert 0.03 <= metrics.affine_residual(coffee, coffee) <= 0.06

    def test_global_recolour_sits_at_the_floor(self, coffee):
        assert metrics.affine_residual(coffee, np.clip(coffee @ M.T + 0.1, 0, 1)) <= 0.06

    def test_blur_and_painterly_noise_score_higher(self, coffee):
        floor = metrics.affine_residual(coffee, coffee)
        blurred = cv2.GaussianBlur(coffee, (0, 0), 3)
        noise = np.random.default_rng(0).normal(0, 0.05, coffee.shape).astype(np.float32)
        assert metrics.affine_residual(coffee, blurred) > 2.5 * floor
        assert metrics.affine_residual(coffee, np.clip(coffee + noise, 0, 1)) > 3 * floor

    def test_output_at_another_size_is_resized_to_the_content(self, coffee):
        half = cv2.resize(coffee, (300, 200), interpolation=cv2.INTER_AREA)
        assert metrics.affine_residual(coffee, half) < 0.1


class TestStructureSsim:
    def test_matches_skimage_on_the_gradient_maps(self, coffee):
        # Reference: skimage's Gaussian SSIM (radius 5 = 11x11, sigma 1.5) on the same normalised magnitudes.
        blurred = cv2.GaussianBlur(coffee, (0, 0), 2)
        c, o = metrics.prepare_pair(coffee, blurred)
        gc, go = (
            np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
            for g in (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (c, o))
        )
        peak = max(gc.max(), go.max())
        expected = structural_similarity(
            gc / peak, go / peak, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
        )
        assert metrics.structure_ssim(coffee, blurred) == pytest.approx(expected, abs=1e-6)
        assert expected < 0.8

    def test_tensor_form_is_batched_and_differentiable(self, coffee):
        # The tune's photoreal guard optimises it, so it must be the same figure, with a gradient.
        blurred = cv2.GaussianBlur(coffee, (0, 0), 2)
        c, o = metrics.prepare_pair(coffee, blurred)
        output = torch.cat([to_tensor(c), to_tensor(o)]).requires_grad_(True)
        values = metrics.structure_ssim_tensor(torch.cat([to_tensor(c)] * 2), output)
        assert values[0].item() == pytest.approx(1.0, abs=1e-6)
        assert values[1].item() == pytest.approx(metrics.structure_ssim(coffee, blurred), abs=1e-5)
        values[1].backward()
        assert torch.isfinite(output.grad).all() and output.grad[1].abs().sum() > 0

    def test_flat_images_are_identical_structure(self):
        assert metrics.structure_ssim(np.full((32, 32, 3), 0.5, np.float32), np.zeros((32, 32, 3), np.float32)) == 1.0


class TestInputs:
    def test_resizes_to_512_on_the_long_side(self, coffee):
        assert metrics.prepare(coffee).shape == (341, 512, 3)
        assert metrics.prepare(rgb(data.astronaut(), (128, 64))).shape == (256, 512, 3)

    def test_rejects_bad_images(self, coffee):
        with pytest.raises(ShapeError, match=r"expected an \(H,W,3\)"):
            metrics.structure_ssim(coffee[..., 0], coffee)
        with pytest.raises(InputError, match=r"in \[0,1\]"):
            metrics.affine_residual(coffee, coffee * 255)
        with pytest.raises(ShapeError, match="short side"):
            metrics.prepare(np.zeros((4, 400, 3), np.float32))


# ---------------------------------------------------------------- temporal

STEP = 4  # px per frame; the crops are 512 wide, so no resize changes it


@pytest.fixture(scope="module")
def shot(coffee) -> list[np.ndarray]:
    """A 384x512 camera pan across the coffee photo, STEP px per frame."""
    return [coffee[8:392, STEP * t : STEP * t + 512] for t in range(6)]


def constant_flow(dx: float):
    return lambda src, dst: np.tile(np.float32([dx, 0]), (*src.shape, 1))


def pan_flow(shot: list[np.ndarray]):
    """The exact flow of the pan: frame j(x) = frame i(x + (j - i)·STEP), so warp(i, flow) = j."""
    index = {flicker._gray_u8(f).tobytes(): t for t, f in enumerate(shot)}
    return lambda src, dst: constant_flow((index[dst.tobytes()] - index[src.tobytes()]) * STEP)(src, dst)


class TestWarpError:
    def test_known_translation_leaves_almost_no_error(self, shot):
        graded = [f**0.8 for f in shot]
        static = flicker.warp_error(shot, graded, flow_fn=constant_flow(0))
        known = flicker.warp_error(shot, graded, flow_fn=pan_flow(shot))
        measured = flicker.warp_error(shot, graded)
        assert static > 0.02
        assert known < 0.01 * static  # only the STEP columns entering at the right edge are off
        assert measured < 0.01 * static

    def test_identity_look_has_ratio_one(self, shot):
        assert flicker.temporal_ratio(shot, shot) == 1.0

    def test_brightness_flicker_raises_the_ratio(self, shot):
        gains = np.random.default_rng(0).uniform(0.8, 1.2, len(shot)).astype(np.float32)
        flickering = [np.clip(f * g, 0, 1) for f, g in zip(shot, gains)]
        assert flicker.temporal_ratio(shot, flickering) > 10

    def test_meter_streams_and_exposes_both_figures(self, shot):
        meter = flicker.WarpErrorMeter(flow_fn=pan_flow(shot))
        for f in shot:
            meter.update(f, 0.5 * f)
        assert (meter.frames, meter.pairs) == (len(shot), len(shot) - 1)
        assert meter.value == pytest.approx(0.25 * meter.input_value, rel=1e-5)
        assert meter.ratio == pytest.approx(0.25, rel=1e-5)

    def test_fully_occluded_pairs_are_skipped(self, shot):
        meter = flicker.WarpErrorMeter(flow_fn=lambda src, dst: np.full((*src.shape, 2), 5, np.float32))
        for f in shot[:2]:
            meter.update(f, f)
        assert meter.pairs == 0
        with pytest.raises(SequenceError, match="at least two frames"):
            meter.value

    def test_rejects_bad_sequences(self, shot):
        with pytest.raises(SequenceError, match="as many output frames"):
            flicker.warp_error(shot, shot[:-1], flow_fn=constant_flow(0))
        with pytest.raises(SequenceError, match="at least two frames"):
            flicker.warp_error(shot[:1], shot[:1])
        with pytest.raises(SequenceError, match="size of the previous frame"):
            flicker.warp_error([shot[0], shot[1][:200]], [shot[0], shot[1][:200]])

"""ΔE2000 to a truth, colour_incoherence and grade_flicker (docs/metrics.md) on small real images."""

import cv2
import numpy as np
import pytest
from helpers import SAMPLES, rgb
from skimage import data
from skimage.color import deltaE_ciede2000

from hrstyle.errors import SequenceError
from hrstyle.grade.temporal import compute_flow, warp
from hrstyle.io.stills import read_image
from hrstyle.score import flicker, truth


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return rgb(data.coffee(), (300, 200))


@pytest.fixture(scope="module")
def shot() -> list[np.ndarray]:
    """Five consecutive frames of the sample shot (a slow pan and zoom), at 480×270."""
    frames = [read_image(SAMPLES / "shot" / f"shot.{n}.png").pixels for n in range(1010, 1015)]
    return [cv2.resize(f, (480, 270), interpolation=cv2.INTER_AREA) for f in frames]


def warm_contrast(x: np.ndarray) -> np.ndarray:
    """A steady global grade: a smooth contrast curve and a warm balance, inside [0,1]."""
    curve = x + 0.4 * (x * x * (3 - 2 * x) - x)
    return np.clip(curve * np.float32([1.0, 0.95, 0.85]) + np.float32([0.03, 0.02, 0.0]), 0, 1)


# ---------------------------------------------------------------- ΔE2000


def test_ciede2000_matches_scikit_image_on_real_and_random_colours(coffee):
    rng = np.random.default_rng(0)
    real = truth.to_lab(coffee).reshape(-1, 3)
    graded = truth.to_lab(warm_contrast(coffee)).reshape(-1, 3)
    random = np.stack([rng.uniform(0, 100, 5000), rng.uniform(-110, 110, 5000), rng.uniform(-110, 110, 5000)], -1)
    near = random + rng.normal(0, 3, random.shape)
    # Neutral and opposite-hue colours exercise the hue branches (C' = 0, |Δh'| > π).
    edge1 = np.array([[50, 0, 0], [50, 0, 0], [60, 10, 0.001], [40, -20, -1], [70, 5, 5]], float)
    edge2 = np.array([[50, 0, 0], [50, -1, 2], [60, -10, -0.001], [40, 20, 1], [70, -5, -5]], float)
    for a, b in ((real, graded), (random, near), (random, random[::-1]), (edge1, edge2)):
        np.testing.assert_allclose(truth.ciede2000(a, b), deltaE_ciede2000(a, b), atol=1e-4, rtol=0)


def test_ciede2000_gives_sharma_s_published_differences():
    # Pairs 1, 2, 7, 14 and 17 of Sharma, Wu and Dalal (2005), Table 1.
    lab1 = np.array([[50, 2.6772, -79.7751], [50, 3.1571, -77.2803], [50, 0, 0], [50, 2.49, -0.001], [50, 2.5, 0]])
    lab2 = np.array([[50, 0, -82.7485], [50, 0, -82.7485], [50, -1, 2], [50, -2.49, 0.0009], [73, 25, -18]])
    np.testing.assert_allclose(truth.ciede2000(lab1, lab2), [2.0425, 2.8615, 2.3669, 7.1792, 27.1492], atol=1e-4)


def test_delta_e_of_identical_images_is_zero_and_of_a_grade_is_not(coffee):
    assert truth.delta_e2000(coffee, coffee) == (0.0, 0.0)
    graded = warm_contrast(coffee)
    mean, p95 = truth.delta_e2000(coffee, graded)
    assert 2 < mean < p95 < 40
    assert truth.delta_e2000(graded, coffee).mean == pytest.approx(mean, rel=1e-3)  # symmetric
    # The output is resized to the truth's size first (area), then both to 512 px.
    half = cv2.resize(graded, (150, 100), interpolation=cv2.INTER_AREA)
    assert truth.delta_e2000(half, graded) == truth.delta_e2000(
        cv2.resize(half, (300, 200), interpolation=cv2.INTER_AREA), graded
    )
    assert truth.delta_e2000(half, graded).mean < mean


def test_share_recovered():
    assert truth.share_recovered(0.0, 10.0) == 1.0
    assert truth.share_recovered(10.0, 10.0) == 0.0
    assert truth.share_recovered(15.0, 10.0) == pytest.approx(-0.5)
    assert np.isnan(truth.share_recovered(1.0, 0.0))


# ---------------------------------------------------------------- colour_incoherence


def test_colour_incoherence_sees_one_colour_split_two_ways(coffee):
    identity = truth.colour_incoherence(coffee, coffee)
    steady = truth.colour_incoherence(coffee, warm_contrast(coffee))
    # The same colours graded warm on the left and cool on the right: one colour, two treatments.
    split = coffee.copy()
    half = coffee.shape[1] // 2
    split[:, :half] = np.clip(coffee[:, :half] * np.float32([1.12, 0.97, 0.85]), 0, 1)
    split[:, half:] = np.clip(coffee[:, half:] * np.float32([0.85, 0.97, 1.12]), 0, 1)
    blotchy = truth.colour_incoherence(coffee, split)
    assert identity < 3.5  # the bins' own width: METRICS.md calibrates the sample keyframe at 2.3
    assert steady < identity + 2
    assert blotchy > identity + 4 and blotchy > 2 * steady


def test_colour_incoherence_is_zero_for_a_flat_image_and_ignores_sparse_bins():
    flat = np.full((64, 64, 3), 0.4, np.float32)
    assert truth.colour_incoherence(flat, flat) == 0.0
    noisy_out = np.clip(flat + np.random.default_rng(0).normal(0, 0.05, flat.shape).astype(np.float32), 0, 1)
    assert truth.colour_incoherence(flat, noisy_out) > 3
    # Every content pixel a different colour: no bin of 20, nothing to measure.
    ramp = np.random.default_rng(1).uniform(0, 1, (4, 4, 3)).astype(np.float32)
    assert truth.colour_incoherence(ramp, ramp[::-1]) == 0.0


# ---------------------------------------------------------------- grade_flicker


def test_local_grade_slopes_recover_a_global_colour_matrix(coffee):
    m = np.float32([[0.8, 0.1, 0.05], [0.05, 0.7, 0.1], [0.1, 0.05, 0.6]])
    slopes = flicker.local_grade_slopes(coffee, coffee @ m.T + 0.05)
    textured = slice(20, -20)
    np.testing.assert_allclose(np.median(slopes[textured, textured], axis=(0, 1)), m, atol=0.01)


def test_grade_flicker_is_one_for_a_steady_grade_and_high_for_a_flickering_one(shot):
    assert flicker.grade_flicker(shot, shot) == pytest.approx(1.0, abs=0.02)
    steady = flicker.grade_flicker(shot, [warm_contrast(f) for f in shot])
    flickering = flicker.grade_flicker(shot, [np.clip(f * (1 + 0.03 * (-1) ** i), 0, 1) for i, f in enumerate(shot)])
    assert steady == pytest.approx(1.0, abs=0.1)
    assert flickering > 1.5
    # Each frame blended 50/50 with its warped predecessor (ghosting): steadier than any grade, below 1.
    gray = [cv2.cvtColor((f * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY) for f in shot]
    blended = [shot[0]] + [
        0.5 * cur + 0.5 * warp(prev, compute_flow(g_prev, g_cur))
        for cur, prev, g_cur, g_prev in zip(shot[1:], shot[:-1], gray[1:], gray[:-1])
    ]
    assert flicker.grade_flicker(shot, blended) < 0.9


def test_grade_flicker_checks_its_sequences(shot):
    with pytest.raises(SequenceError, match="as many output frames"):
        flicker.grade_flicker(shot[:3], shot[:2])
    with pytest.raises(SequenceError, match="at least two frames"):
        flicker.grade_flicker(shot[:1], shot[:1])

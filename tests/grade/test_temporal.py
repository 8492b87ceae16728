import numpy as np
import pytest
import torch
from skimage import data

from hrstyle.errors import InputError, ShapeError
from hrstyle.grade.config import SmoothCfg
from hrstyle.grade.temporal import CoefficientSmoother, compute_flow, occlusion_mask, warp, warp_tensor

SHIFT = (3, 2)  # (dx, dy) of the scene between the two frames, in pixels
MARGIN = 24


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """Two 256² gray frames of a textured photo; the second sees the scene moved by -SHIFT."""
    gravel = data.gravel()
    dx, dy = SHIFT
    return np.ascontiguousarray(gravel[50:306, 40:296]), np.ascontiguousarray(
        gravel[50 + dy : 306 + dy, 40 + dx : 296 + dx]
    )


def constant_flow(shape: tuple[int, int], dx: float, dy: float) -> np.ndarray:
    return np.tile(np.float32([dx, dy]), (*shape, 1))


def interior(x: np.ndarray) -> np.ndarray:
    return x[MARGIN:-MARGIN, MARGIN:-MARGIN]


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_of_a_known_shift(pair, method):
    prev, nxt = pair
    # nxt(x) = prev(x + SHIFT): the backward flow that brings prev to nxt is +SHIFT.
    flow = compute_flow(prev, nxt, method)
    assert flow.shape == (*prev.shape, 2) and flow.dtype == np.float32
    close = np.abs(interior(flow) - np.float32(SHIFT)).max(axis=-1) < 0.25
    assert close.mean() > 0.98
    np.testing.assert_allclose(np.median(interior(flow).reshape(-1, 2), axis=0), SHIFT, atol=0.05)


def test_warp_along_the_flow_reproduces_the_next_frame(pair):
    prev, nxt = pair
    warped = warp(prev.astype(np.float32), compute_flow(prev, nxt))
    assert np.abs(interior(warped) - interior(nxt)).mean() < 1.0  # gray levels out of 255


def test_warp_integer_shift_is_exact_and_replicates_the_border():
    image = np.random.default_rng(0).random((6, 8, 3), dtype=np.float32)
    out = warp(image, constant_flow((6, 8), 2, 1))
    np.testing.assert_array_equal(out[:-1, :-2], image[1:, 2:])
    np.testing.assert_array_equal(out[-1, :-2], image[-1, 2:])  # rows past the bottom repeat the last one
    assert out.shape == image.shape


def test_occlusion_mask_keeps_a_translation(pair):
    prev, nxt = pair
    mask = occlusion_mask(compute_flow(prev, nxt), compute_flow(nxt, prev))
    assert mask.dtype == bool and mask.shape == prev.shape
    assert interior(mask).mean() > 0.99


def test_occlusion_mask_threshold():
    shape = (4, 5)
    f_b = constant_flow(shape, 3, 0)
    assert occlusion_mask(f_b, constant_flow(shape, -3, 0)).all()
    # 0.6 px of disagreement: |0.6|² = 0.36 < 0.01·(9 + 5.76) + 0.5 = 0.65 -> kept.
    assert occlusion_mask(f_b, constant_flow(shape, -2.4, 0)).all()
    # 1 px: 1 > 0.01·(9 + 4) + 0.5 = 0.63 -> occluded.
    assert not occlusion_mask(f_b, constant_flow(shape, -2, 0)).any()


def test_rejects_bad_input(pair):
    prev, nxt = pair
    with pytest.raises(ShapeError, match="uint8"):
        compute_flow(prev.astype(np.float32), nxt)
    with pytest.raises(ShapeError, match="shape of src"):
        compute_flow(prev, nxt[:-1])
    with pytest.raises(InputError, match="flow method"):
        compute_flow(prev, nxt, "raft")
    with pytest.raises(ShapeError, match=r"expected \(H,W,2\)"):
        warp(prev, np.zeros((*prev.shape, 3), np.float32))
    with pytest.raises(ShapeError, match="like flow_b"):
        occlusion_mask(constant_flow((4, 5), 0, 0), constant_flow((4, 6), 0, 0))


def test_warp_tensor_matches_warp_for_any_channel_count(pair):
    prev, _ = pair
    flow = constant_flow(prev.shape, 2.5, -1.0)
    image = np.repeat(prev[..., None].astype(np.float32) / 255, 3, axis=2)
    as_tensor = torch.from_numpy(image).permute(2, 0, 1)[None]
    assert np.abs(warp_tensor(as_tensor, flow)[0].permute(1, 2, 0).numpy() - warp(image, flow)).max() < 1e-5
    assert warp_tensor(torch.rand(1, 12, *prev.shape), flow).shape == (1, 12, *prev.shape)


def _frames(pair):
    return [torch.from_numpy(np.repeat(p[None, None].astype(np.float32) / 255, 3, axis=1)) for p in pair]


def test_smoothing_damps_coefficient_flicker_along_the_flow(pair):
    # A static colour transform plus per-frame noise: smoothing must pull frame 2 toward frame 1's
    # (warped) coefficients where the flow is trusted.
    first, second = _frames(pair)
    torch.manual_seed(0)
    base = torch.ones(1, 12, *pair[0].shape)
    noisy = [base + 0.2 * torch.randn_like(base) for _ in range(2)]
    smoother = CoefficientSmoother(SmoothCfg(strength=0.5))
    smoother((None, 1), first, noisy[0])
    out = smoother((1, 2), second, noisy[1])
    inner = (..., slice(16, -16), slice(16, -16))
    assert (out - base)[inner].std() < 0.85 * (noisy[1] - base)[inner].std()
    assert smoother.cuts == 0


def test_strength_zero_and_scene_cuts_leave_coefficients_alone(pair):
    first, second = _frames(pair)
    coeffs = [torch.rand(1, 12, *pair[0].shape) for _ in range(2)]
    off = CoefficientSmoother(SmoothCfg(strength=0.0))
    off((None, 1), first, coeffs[0])
    assert torch.equal(off((1, 2), second, coeffs[1]), coeffs[1])
    cut = CoefficientSmoother()
    cut((None, 1), first, coeffs[0])
    unrelated = torch.from_numpy(np.random.default_rng(0).random(first.shape, dtype=np.float32))
    assert torch.equal(cut((1, 2), unrelated, coeffs[1]), coeffs[1]) and cut.cuts == 1


def test_only_the_named_predecessor_is_blended(pair):
    # Frame 3 follows 2, but the smoother last saw 1 (2 was skipped): no blend.
    first, second = _frames(pair)
    coeffs = [torch.rand(1, 12, *pair[0].shape) for _ in range(2)]
    smoother = CoefficientSmoother()
    smoother((None, 1), first, coeffs[0])
    assert torch.equal(smoother((2, 3), second, coeffs[1]), coeffs[1])
    # The blend only ever uses the raw coefficients of the frame before, so the same two
    # frames give the same result whatever came earlier: chunks can warm up on one frame.
    fresh = CoefficientSmoother()
    fresh((None, 1), first, coeffs[0])
    again = CoefficientSmoother()
    again((None, 0), second, coeffs[1])
    again((0, 1), first, coeffs[0])
    assert torch.equal(fresh((1, 2), second, coeffs[1]), again((1, 2), second, coeffs[1]))


def test_smooth_cfg_validates():
    with pytest.raises(InputError, match="--smooth"):
        SmoothCfg(strength=1.5)

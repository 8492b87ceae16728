import cv2
import numpy as np
import pytest
import torch
from skimage import data

from hrstyle.errors import InputError, ShapeError
from hrstyle.grade.guided import apply_affine, box_filter, fit_affine, guided_upsample, upsample_affine
from hrstyle.io.tensors import to_tensor

# A global colour transform with cross-talk between channels, as a grade would have.
M = torch.tensor([[0.8, 0.1, 0.05], [0.05, 0.7, 0.1], [0.1, 0.05, 0.6]])
C = torch.tensor([0.1, 0.05, 0.0]).view(1, 3, 1, 1)


def recolour(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", M, x) + C


def area_resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


def photo(width: int, height: int) -> torch.Tensor:
    return to_tensor(area_resize(data.coffee().astype(np.float32) / 255, width, height))


def brute_force_box(x: np.ndarray, r: int) -> np.ndarray:
    out = np.empty_like(x)
    h, w = x.shape[-2:]
    for y in range(h):
        for x0 in range(w):
            window = x[..., max(y - r, 0) : y + r + 1, max(x0 - r, 0) : x0 + r + 1]
            out[..., y, x0] = window.mean(axis=(-2, -1))
    return out


class TestBoxFilter:
    @pytest.mark.parametrize("r", [0, 1, 3, 12])  # 12: the window is larger than the image
    def test_equals_brute_force_mean(self, r):
        x = torch.rand(2, 3, 7, 10, generator=torch.Generator().manual_seed(r), dtype=torch.float64)
        expected = brute_force_box(x.numpy(), r)
        np.testing.assert_allclose(box_filter(x, r).numpy(), expected, atol=1e-6)

    def test_float32_out_for_half_in(self):
        x = torch.rand(1, 2, 9, 9)
        out = box_filter(x.half(), 2)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, box_filter(x.half().float(), 2))

    def test_accurate_on_a_long_bright_row(self):
        # Cumulative sums over 4K-wide rows of bright values are where float32 would drift.
        x = 0.75 + 0.25 * torch.rand(1, 1, 4, 3840, generator=torch.Generator().manual_seed(0))
        expected = torch.nn.functional.avg_pool2d(x.double(), 17, 1, 8, count_include_pad=False)
        torch.testing.assert_close(box_filter(x, 8).double(), expected, atol=1e-6, rtol=0)

    def test_rejects_bad_input(self):
        with pytest.raises(ShapeError, match=r"expected \(B,C,H,W\)"):
            box_filter(torch.rand(3, 8, 8), 1)
        with pytest.raises(InputError, match="radius"):
            box_filter(torch.rand(1, 3, 8, 8), -1)


class TestFitAffine:
    def test_recovers_a_global_affine_map(self):
        guide = torch.rand(2, 3, 32, 40, generator=torch.Generator().manual_seed(0))
        # Tiny eps: the ridge would otherwise shrink the slopes by eps / (var + eps).
        A, b = fit_affine(guide, recolour(guide), r=4, eps=1e-6)
        assert A.shape == (2, 3, 3, 32, 40) and b.shape == (2, 3, 32, 40)
        torch.testing.assert_close(A[..., 4:-4, 4:-4], M.view(1, 3, 3, 1, 1).expand(2, 3, 3, 24, 32), atol=1e-3, rtol=0)
        out = apply_affine(A, b, guide)
        torch.testing.assert_close(out[..., 4:-4, 4:-4], recolour(guide)[..., 4:-4, 4:-4], atol=1e-4, rtol=0)

    def test_one_target_channel(self):
        guide = photo(48, 32)
        A, b = fit_affine(guide, guide.mean(1, keepdim=True), r=2, eps=1e-4)
        assert A.shape == (1, 1, 3, 32, 48) and b.shape == (1, 1, 32, 48)

    def test_half_inputs_fit_in_float32(self):
        guide = photo(48, 32)
        A, b = fit_affine(guide.half(), recolour(guide).half(), r=2, eps=1e-3)
        assert A.dtype == b.dtype == torch.float32
        A32, b32 = fit_affine(guide.half().float(), recolour(guide).half().float(), r=2, eps=1e-3)
        torch.testing.assert_close((A, b), (A32, b32))

    def test_rejects_bad_input(self):
        guide = torch.rand(1, 3, 16, 16)
        with pytest.raises(ShapeError, match=r"guide: expected \(B,3,H,W\)"):
            fit_affine(guide[:, :2], guide, 2, 1e-3)
        with pytest.raises(ShapeError, match="target"):
            fit_affine(guide, guide[..., :8], 2, 1e-3)
        with pytest.raises(InputError, match="eps"):
            fit_affine(guide, guide, 2, 0.0)


class TestApplyAndUpsample:
    def test_apply_is_the_per_pixel_affine_map(self):
        g = torch.Generator().manual_seed(1)
        A, b, guide = (
            torch.randn(2, 4, 3, 5, 6, generator=g),
            torch.randn(2, 4, 5, 6, generator=g),
            torch.rand(2, 3, 5, 6),
        )
        expected = torch.einsum("bckhw,bkhw->bchw", A, guide) + b
        torch.testing.assert_close(apply_affine(A, b, guide), expected)

    def test_apply_rejects_mismatched_shapes(self):
        with pytest.raises(ShapeError, match="expected A"):
            apply_affine(torch.rand(1, 3, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.rand(1, 3, 9, 8))

    def test_upsample_matches_interpolate(self):
        A, b = torch.rand(1, 3, 3, 4, 6), torch.rand(1, 3, 4, 6)
        A_up, b_up = upsample_affine(A, b, (8, 12))
        assert A_up.shape == (1, 3, 3, 8, 12) and b_up.shape == (1, 3, 8, 12)
        expected = torch.nn.functional.interpolate(A[:, 1], size=(8, 12), mode="bilinear", align_corners=False)
        torch.testing.assert_close(A_up[:, 1], expected)

    def test_guided_upsample_carries_a_recolour_to_full_resolution(self):
        hi = photo(256, 192)
        lo = to_tensor(area_resize(hi[0].permute(1, 2, 0).numpy(), 64, 48))
        out = guided_upsample(lo, recolour(lo), hi, r=4, eps=1e-4)
        err = (out - recolour(hi)).abs()
        # The recolour moves pixels by ~0.03 on average; what is left is the ridge in flat low-res windows.
        assert (hi - recolour(hi)).abs().mean() > 0.03
        assert err.mean() < 3e-3
        assert torch.quantile(err.flatten(), 0.99) < 0.02

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    def test_guided_upsample_on_cuda_matches_cpu(self):
        hi = photo(256, 192)
        lo = torch.nn.functional.interpolate(hi, size=(48, 64), mode="area")
        cpu = guided_upsample(lo, recolour(lo), hi, r=4, eps=1e-4)
        gpu = guided_upsample(lo.cuda(), recolour(lo).cuda(), hi.cuda().half(), r=4, eps=1e-4)
        assert gpu.dtype == torch.float32
        torch.testing.assert_close(gpu.cpu(), cpu, atol=2e-3, rtol=0)

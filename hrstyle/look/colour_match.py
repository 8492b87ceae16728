"""Closed-form global colour transfer: the starting point of a tune.

The Monge–Kantorovich linear map (Pitié and Kokaram 2007) is the affine RGB
transform that carries the content's colour mean and covariance onto the
look's while moving colours as little as possible. It is what one-click
colour-match tools compute; tune starts the network from it, so the network
spends its steps on what a global transform cannot do (see `HRNet.colour`).
"""

from __future__ import annotations

import torch
from torch import Tensor

# Eigenvalues of a covariance below this fraction of its largest are raised to it: a grey or
# single-hue image has a (near) singular covariance whose inverse would blow noise up.
_MIN_EIGEN_FRACTION = 1e-3


def _colour_stats(image: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (3,) and covariance (3,3) of the pixels of a (B,3,H,W) image, in float64."""
    x = image.detach().to(torch.float64).transpose(0, 1).reshape(3, -1)
    mean = x.mean(1)
    centred = x - mean[:, None]
    return mean, centred @ centred.T / max(x.shape[1] - 1, 1)


def _sqrt_psd(m: Tensor, inverse: bool = False) -> Tensor:
    values, vectors = torch.linalg.eigh(m)
    if inverse:
        root = values.clamp_min(values.max().clamp_min(1e-12) * _MIN_EIGEN_FRACTION).rsqrt()
    else:
        root = values.clamp_min(0).sqrt()
    return vectors @ torch.diag(root) @ vectors.T


def mkl_transfer(content: Tensor, look: Tensor) -> tuple[Tensor, Tensor]:
    """The MKL map from ``content``'s colours to ``look``'s: ``(A, b)`` with
    ``A @ rgb + b`` for each pixel; float32 (3,3) and (3,), on ``content``'s device.

    >>> a = torch.rand(1, 3, 8, 8)
    >>> A, b = mkl_transfer(a, 0.5 * a + 0.2)
    >>> torch.allclose(A, 0.5 * torch.eye(3), atol=1e-4) and torch.allclose(b, torch.full((3,), 0.2), atol=1e-4)
    True
    """
    mu_c, cov_c = _colour_stats(content)
    mu_l, cov_l = _colour_stats(look)
    root_c, inv_root_c = _sqrt_psd(cov_c), _sqrt_psd(cov_c, inverse=True)
    A = inv_root_c @ _sqrt_psd(root_c @ cov_l @ root_c) @ inv_root_c
    b = mu_l - A @ mu_c
    return A.to(content.device, torch.float32), b.to(content.device, torch.float32)


def toward_identity(transform: tuple[Tensor, Tensor], share: float) -> tuple[Tensor, Tensor]:
    """``share`` of an affine colour transform ``(A, b)``: 0 is the identity, 1 the transform itself."""
    A, b = transform
    eye = torch.eye(3, dtype=A.dtype, device=A.device)
    return eye + share * (A - eye), share * b

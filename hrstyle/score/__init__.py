"""Measuring a look: the quality figures of docs/metrics.md, and contact sheets."""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "score_shots": "metrics",
        "score_still": "metrics",
        "style_gap": "metrics",
        "structure_ssim": "metrics",
        "affine_residual": "metrics",
        "temporal_ratio": "metrics",
        "contact_sheet": "sheet",
    },
)

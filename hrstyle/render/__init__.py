"""Rendering a shot: the streaming pipeline, its outputs and resume manifest, and farms."""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "render_shot": "run",
        "RenderReport": "run",
        "RenderProgress": "run",
        "OutputCfg": "config",
        "FarmCfg": "config",
        "default_output_dir": "output",
        "render_on_ray": "farm",
        "plan_chunks": "chunks",
    },
)

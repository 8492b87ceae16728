"""Grading: the pure steps from frames to graded frames, for a look's network or a 3D LUT.

No state, no I/O: the guided carry, temporal smoothing, LUTs and .cube files,
and baking a look into a LUT. tune, bake and sweep use these without the
streaming renderer.
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Grade": "protocol",
        "RenderCfg": "config",
        "SmoothCfg": "config",
        "BakeCfg": "config",
        "grade_batch": "steps",
        "grade_frames": "steps",
        "Lut3D": "lut",
        "apply_lut": "lut",
        "fit_lut": "lut_fit",
        "read_cube": "cube",
        "write_cube": "cube",
        "bake_files": "bake",
    },
)

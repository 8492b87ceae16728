"""The look and its tune: the HR-Net generator, its VGG19 losses, the look file, tuning and sweeps."""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Look": "file",
        "load_look": "file",
        "save_look": "file",
        "LookMeta": "meta",
        "find_look": "meta",
        "read_look_header": "meta",
        "default_look_path": "meta",
        "TuneCfg": "config",
        "NetCfg": "config",
        "SweepCfg": "config",
        "HRNet": "net",
        "tune_files": "tune",
        "run_sweep": "sweep",
    },
)

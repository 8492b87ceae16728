"""Frame I/O: stills, sequences and shots, video, the working colour encoding, atomic writes.

Pixels change dtype, range and layout here and nowhere else: the rest of hrstyle
sees float32 RGB, ``(H, W, 3)`` arrays (`Image.pixels`) or ``(B, 3, H, W)`` tensors.
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Image": "stills",
        "FrameSpec": "stills",
        "read_image": "stills",
        "write_image": "stills",
        "Shot": "shot",
        "open_shot": "shot",
        "FrameRef": "sequence",
        "parse_frame_range": "sequence",
        "format_frame_range": "sequence",
        "VideoWriter": "video",
        "to_tensor": "tensors",
        "to_pixels": "tensors",
        "working_encoding": "colour",
    },
)

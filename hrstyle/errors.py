"""The error family every public function raises on bad input or a failed run.

The CLI turns each into one line on stderr and the exit code it carries, so a
colorist sees what is wrong and what to do, never a traceback.
"""

from __future__ import annotations


class HrstyleError(Exception):
    """A failure hrstyle can explain. ``exit_code`` 1 means a runtime failure."""

    exit_code = 1


class InputError(HrstyleError):
    """Bad input or usage: a missing, unreadable or unsuitable file or option."""

    exit_code = 2


class ImageReadError(InputError):
    """A frame or still that cannot be read."""


class ShapeError(InputError):
    """An image of a size or shape hrstyle cannot work with."""


class SequenceError(InputError):
    """A frame sequence, pattern or range that does not make sense."""


class LookFormatError(InputError):
    """A look file that is not one, is damaged, or is of an unknown version."""


class LutFormatError(InputError):
    """A LUT file that is not a 3D .cube LUT, or is damaged."""


class OutputError(HrstyleError):
    """An output that cannot be written (permissions, disk full, would overwrite)."""

    exit_code = 2


class TuneError(HrstyleError):
    """Tuning failed, e.g. the loss became NaN before any good step."""


class DeviceMemoryError(HrstyleError):
    """The GPU ran out of memory even for one frame at a time."""


class FarmError(HrstyleError):
    """A farm render that Ray could not run: no cluster to start or reach, or a chunk whose workers kept dying."""

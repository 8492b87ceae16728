"""hrstyle: relight and regrade a whole shot from one reference still."""

__version__ = "0.1.0"

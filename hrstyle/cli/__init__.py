"""The `hrstyle` command line: a thin layer of options over the library (app.py)."""

from . import tune, score, look, render  # noqa: F401, I001  (each registers its commands, in --help's order)
from .app import app, main

__all__ = ["app", "main"]

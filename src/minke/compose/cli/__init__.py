"""``minke compose``: the global flags, the sub-commands, and their output."""

from .main import main

__all__ = ["main"]

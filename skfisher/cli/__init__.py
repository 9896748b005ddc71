"""The command line: ``skfisher run``, ``compare`` and ``label``."""

from ._main import main

__all__ = ["main"]

"""Helpers every stage uses: devices and memory, result files, image checks,
validation and the modAL compatibility fixes."""

from ._compat import patch_modal
from ._files import FolderInUseError

__all__ = ["FolderInUseError", "patch_modal"]

"""Labeling projects on the user's own images: query, a person labels, teach."""

from ._project import LabelingProject

__all__ = ["LabelingProject"]

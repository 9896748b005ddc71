"""Creating a labeling project: read the images once, write ``pool.npz``,
``labels.csv`` and, last (the commit), ``project.json``."""

import os
import time

import numpy as np

from ..datasets._own_images import (
    IMAGE_EXTENSIONS,
    _check_image_size,
    image_folder_files,
    list_image_files,
    read_images,
)
from ._folder import norm_path

__all__ = ["create_project"]

#: The version of the project folder's layout, saved in ``project.json``.
_FORMAT = 1


def create_project(
    folder, *, labeled, unlabeled, classes, image_size, channels, model, random_state
):
    """Write a new project into ``folder`` (a :class:`ProjectFolder`); see
    :meth:`LabelingProject.create`."""
    root = folder.path
    if folder.config_file.exists():
        raise ValueError(f"{root} is already a labeling project.")
    if labeled is None and unlabeled is None:
        raise ValueError("give labeled (an ImageFolder folder), unlabeled, or both.")
    size = _check_image_size(image_size)
    if size is None:
        raise ValueError("image_size is required: the pool is stored at one size.")
    if not isinstance(random_state, (int, np.integer)):
        raise ValueError(f"random_state must be an int; got {random_state!r}.")
    names = set(classes or [])
    files, labels = [], {}
    if labeled is not None:
        folder_classes, found, found_labels = image_folder_files(labeled)
        names.update(folder_classes)
        files = [norm_path(f) for f in found]
        labels = dict(zip(files, found_labels))
    names = sorted(str(n).strip() for n in names)
    if len(names) < 2 or "" in names:
        raise ValueError(
            f"a project needs at least two non-empty class names; got {names}. Give "
            "labeled (one sub-folder per class) or classes."
        )
    if unlabeled is not None:
        project = norm_path(root)
        files += [
            p
            for p in map(norm_path, list_image_files(unlabeled))
            if p not in labels and not p.startswith(project + os.sep)
        ]
    files = list(dict.fromkeys(files))
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in the given folders.")
    X, kept, skipped = read_images(files, image_size=size, channels=channels)
    paths = np.array([files[i] for i in kept])
    root.mkdir(parents=True, exist_ok=True)
    folder.write_pool(X, paths)
    now = time.time()
    folder.write_labels([(p, labels[p], 0, now) for p in paths if p in labels])
    config = {
        "format": _FORMAT,
        "classes": names,
        "image_size": list(size),
        "channels": int(X.shape[1]),
        "labeled_dir": None if labeled is None else norm_path(labeled),
        "unlabeled_dir": None if unlabeled is None else norm_path(unlabeled),
        "model": dict(model),
        "random_state": int(random_state),
        "skipped": [list(s) for s in skipped],
        "rounds": [],
        "created": now,
    }
    folder.write_config(config)  # the commit

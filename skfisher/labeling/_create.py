"""Creating a labeling project and adding images to it: read the images once,
row by row, into ``pool.npy`` (with ``pool.csv``), write ``labels.csv`` and,
last (the commit), ``project.json``."""

import os
import time

import numpy as np

from ..datasets._own_images import (
    IMAGE_EXTENSIONS,
    _check_image_size,
    conversions,
    image_folder_files,
    list_image_files,
)
from ..utils._files import LOCK_NAME
from ._folder import norm_path
from ._pool import PoolWriter, choose_channels, read_into_pool

__all__ = ["add_images", "create_project"]

#: The version of the project folder's layout, saved in ``project.json``.
_FORMAT = 2
#: What an interrupted ``create`` may have left in its folder.
_INIT_FILES = {LOCK_NAME, "pool.npy", "pool.csv", "labels.csv"}


def _check_settings(names, image_size, random_state):
    size = _check_image_size(image_size)
    if size is None:
        raise ValueError("image_size is required: the pool is stored at one size.")
    if not isinstance(random_state, (int, np.integer)):
        raise ValueError(f"random_state must be an int; got {random_state!r}.")
    if len(names) < 2 or "" in names:
        raise ValueError(
            f"a project needs at least two non-empty class names; got {names}. Give "
            "labeled (one sub-folder per class) or classes."
        )
    return size


def _new_files(folder, root, exclude):
    """Image files under ``folder`` (normalised), less ``exclude`` and the project's own."""
    project = norm_path(root)
    return [
        p
        for p in dict.fromkeys(map(norm_path, list_image_files(folder)))
        if p not in exclude and not p.startswith(project + os.sep)
    ]


def check_new_folder(root):
    """Refuse a folder that exists and holds anything but what an interrupted
    ``create`` left there (which always includes its lock file)."""
    names = {p.name for p in root.iterdir()} if root.is_dir() else set()
    leftovers = {n for n in names if n.startswith(".") and n.endswith(".tmp")}
    if names and not (LOCK_NAME in names and names - leftovers <= _INIT_FILES):
        shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
        raise ValueError(
            f"{root} exists and is not empty (it holds {shown}); a new project needs a "
            "new or empty folder, so that nothing in it is overwritten."
        )


def create_project(
    folder, *, labeled, unlabeled, classes, image_size, channels, model, random_state, timeout
):
    """Write a new project into ``folder`` (a :class:`ProjectFolder`); see
    :meth:`LabelingProject.create`."""
    root = folder.path
    if folder.config_file.exists():
        raise ValueError(f"{root} is already a labeling project.")
    if labeled is None and unlabeled is None:
        raise ValueError("give labeled (an ImageFolder folder), unlabeled, or both.")
    names, files, labels = set(classes or []), [], {}
    if labeled is not None:
        folder_classes, found, found_labels = image_folder_files(labeled)
        names.update(folder_classes)
        files = [norm_path(f) for f in found]
        labels = dict(zip(files, found_labels))
    names = sorted(str(n).strip() for n in names)
    size = _check_settings(names, image_size, random_state)
    if unlabeled is not None:
        files += _new_files(unlabeled, root, labels)
    files = list(dict.fromkeys(files))
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in the given folders.")
    check_new_folder(root)
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        with folder.lock(timeout):
            check_new_folder(root)
            config = _write_pool(folder, files, labels, size, channels)
            config.update(
                classes=names,
                labeled_dir=None if labeled is None else norm_path(labeled),
                unlabeled_dir=None if unlabeled is None else norm_path(unlabeled),
                model=dict(model),
                random_state=int(random_state),
                rounds=[],
            )
            folder.write_config(config)  # the commit
    except BaseException:
        if created and [p.name for p in root.iterdir()] == [LOCK_NAME]:
            (root / LOCK_NAME).unlink()
            root.rmdir()
        raise


def _write_pool(folder, files, labels, size, channels):
    """Read ``files`` into ``pool.npy`` and ``pool.csv``, write ``labels.csv``;
    the new project's config, less what the caller adds."""
    channels = choose_channels(files, channels)
    with PoolWriter(folder.pool_file, (channels, *size)) as writer:
        rows, skipped = read_into_pool(writer, files, size, {})
        if not rows:
            raise ValueError(f"none of the {len(files)} image files could be read.")
        writer.commit()
    folder.write_index(rows)
    now = time.time()
    folder.write_labels([(p, labels[p], 0, now) for p, _, _ in rows if p in labels])
    return {
        "format": _FORMAT,
        "image_size": list(size),
        "channels": channels,
        "n_pool": len(rows),
        "conversions": conversions(m for _, _, m in rows),
        "skipped": [list(s) for s in skipped],
        "created": now,
    }


def add_images(folder, source):
    """Add the images under ``source`` to the pool of the project in ``folder``;
    see :meth:`LabelingProject.add`. The caller holds the project's lock."""
    config = folder.read_config()
    X = folder.open_pool(config)
    index = folder.read_index(config)
    in_pool = {p for p, _, _ in index}
    listed = [norm_path(f) for f in list_image_files(source)]
    files = _new_files(source, folder.path, in_pool)
    size = tuple(config["image_size"])
    known = {h: p for p, h, _ in index}
    with PoolWriter(folder.pool_file, (config["channels"], *size)) as writer:
        writer.copy(X)
        rows, skipped = read_into_pool(writer, files, size, known)
        if rows:
            writer.commit()
    del X
    summary = {
        "added": len(rows),
        "already_in_pool": sum(p in in_pool for p in listed),
        "same_content": sum(why.startswith("the same file") for _, why in skipped),
        "unreadable": sum(not why.startswith("the same file") for _, why in skipped),
        "n_pool": config["n_pool"] + len(rows),
    }
    if rows:
        folder.write_index(index + rows)
        config["n_pool"] += len(rows)
        config["conversions"] = conversions([m for _, _, m in index + rows])
        named = {p for p, _ in config["skipped"]}
        config["skipped"] += [list(s) for s in skipped if s[0] not in named]
        config.setdefault("added", []).append({"folder": norm_path(source), "n": len(rows)})
        folder.write_config(config)  # the commit
    return summary

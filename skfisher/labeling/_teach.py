"""Teaching a labeling project: read the labels a person gives, check them
all, and commit the new ones with one rename of ``labels.csv``."""

import difflib
import os
import time
from pathlib import Path

from ._folder import norm_path, read_csv

__all__ = ["check_labels", "commit_labels", "label_rows", "teach_labels"]


def teach_labels(folder, labels, *, relabel):
    """Check and commit ``labels`` into the project in ``folder`` (a
    :class:`ProjectFolder`); see :meth:`LabelingProject.teach`."""
    rows, source = label_rows(labels)
    config = folder.read_config()
    known = folder.read_labels()
    given, blank = check_labels(
        rows,
        source,
        pool={p for p, _, _ in folder.read_index(config)},
        skipped=dict(config["skipped"]),
        known=known,
        classes=list(config["classes"]),
        relabel=relabel,
    )
    return commit_labels(folder, known, given, blank)


def label_rows(labels):
    """``(where, path, label)`` triples and a name for messages."""
    if isinstance(labels, (str, os.PathLike)):
        path = Path(labels)
        if not path.is_file():
            raise FileNotFoundError(f"labels file {path} does not exist.")
        table = read_csv(path)
        if not table or not {"path", "label"} <= set(table[0]):
            columns = sorted(table[0]) if table else []
            raise ValueError(
                f"{path} needs a header with columns 'path' and 'label' (comma "
                f"separated); found {columns}."
            )
        return [(f"row {i + 2}", r["path"], r["label"]) for i, r in enumerate(table)], path
    items = labels.items() if isinstance(labels, dict) else labels
    return [(f"item {i + 1}", p, lab) for i, (p, lab) in enumerate(items)], "labels"


def _problem(where, path, label, *, pool, skipped, known, given, classes, relabel):
    """What is wrong with labeling ``path`` as ``label`` (a message), or None."""
    if path not in pool:
        why = f" (skipped when read: {skipped[path]})" if path in skipped else ""
        return f"{where}: {path or '(no path)'} is not in the pool{why}"
    if label not in classes:
        close = difflib.get_close_matches(label, classes, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{where}: unknown class name {label!r}{hint}"
    if path in given and given[path][0] != label:
        return (
            f"{where}: {path} is labeled twice with different labels: "
            f"{given[path][0]!r} ({given[path][1]}) and {label!r}"
        )
    if path in known and known[path][0] != label and not relabel:
        return (
            f"{where}: {path} is already labeled {known[path][0]!r}; relabel=True "
            f"changes it to {label!r}"
        )
    return None


def check_labels(rows, source, *, pool, skipped, known, classes, relabel):
    """The non-blank labels of ``rows``, all checked before anything is written.

    Returns
    -------
    given : dict of str to (str, str)
        ``path -> (label, where)``, the first mention of each path.
    blank : int
        Rows without a label (skipped).

    Raises
    ------
    ValueError
        Listing every problem (the first 20) and the known classes.
    """
    problems, given, blank = [], {}, 0
    for where, path, label in rows:
        label = "" if label is None else str(label).strip()
        if not label:
            blank += 1
            continue
        path = norm_path(path) if str(path).strip() else ""
        problem = _problem(
            where,
            path,
            label,
            pool=pool,
            skipped=skipped,
            known=known,
            given=given,
            classes=classes,
            relabel=relabel,
        )
        if problem:
            problems.append(problem)
        else:
            given.setdefault(path, (label, where))
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ValueError(
            f"{source}: {len(problems)} problem(s), nothing was taught:\n  {shown}{more}\n"
            f"known classes: {', '.join(classes)}"
        )
    return given, blank


def commit_labels(folder, known, given, blank):
    """Write the new and changed labels of ``given`` into ``folder``'s
    ``labels.csv`` with one rename (the commit of a teach).

    Parameters
    ----------
    folder : ProjectFolder
    known : dict of str to (str, int)
        The labels before, :meth:`ProjectFolder.read_labels`.
    given, blank
        What :func:`check_labels` returned.

    Returns
    -------
    summary : dict
        ``new``, ``changed``, ``already_known``, ``blank`` and ``batch``.
    """
    new = {p: lab for p, (lab, _) in given.items() if p not in known}
    changed = {p: lab for p, (lab, _) in given.items() if p in known and known[p][0] != lab}
    batch = max([b for _, b in known.values()], default=0) + 1
    summary = {
        "new": len(new),
        "changed": len(changed),
        "already_known": len(given) - len(new) - len(changed),
        "blank": blank,
        "batch": batch if new or changed else None,
    }
    if new or changed:
        merged = {**known, **{p: (lab, batch) for p, lab in {**new, **changed}.items()}}
        now = time.time()
        old_time = folder.label_times()
        folder.write_labels(
            [(p, lab, b, old_time[p] if b != batch else now) for p, (lab, b) in merged.items()]
        )
    return summary

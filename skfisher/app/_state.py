"""What the page shows and what it sends: the project's state read afresh,
and a submission checked against it before anything is written."""

import csv
import hashlib
import io
from pathlib import Path

from ..labeling._folder import ProjectFolder

__all__ = ["RequestError", "check_submission", "image_bytes", "page_state", "project_stamp"]

#: The longest side of an image as the page gets it, in pixels.
IMAGE_SIDE = 320


class RequestError(Exception):
    """A request the server refuses: an HTTP ``status`` and a message for the page."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def project_stamp(folder):
    """A short hash of ``project.json`` and ``labels.csv``: it changes with every commit."""
    digest = hashlib.sha256()
    for path in (folder.config_file, folder.labels_file):
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:16]


def _guesses(round_dir):
    """``path -> [(class, probability), ...]`` from a round's ``to_label.csv``."""
    path = round_dir / "to_label.csv"
    if not path.is_file():
        return {}
    out = {}
    for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
        pairs = [(row[f"guess_{k}"], row[f"p_{k}"]) for k in (1, 2, 3) if row.get(f"guess_{k}")]
        out[row["path"]] = [(c, float(p)) for c, p in pairs]
    return out


def _items(folder, record, labels):
    guesses = _guesses(folder.round_dir(record["round"]))
    return [
        {
            "i": i,
            "path": p,
            "name": Path(p).name,
            "label": labels[p][0] if p in labels else None,
            "guesses": guesses.get(p, []),
            "image": f"api/image/{record['round']}/{i}",
        }
        for i, p in enumerate(record["paths"])
    ]


def page_state(project):
    """The state the page draws: classes, the current round's images, earlier
    rounds, label counts and a ``stamp`` of the commit it was read at."""
    folder = ProjectFolder(project.path)
    stamp = project_stamp(folder)  # first: a commit in between makes the page stale
    config, labels = project.config, project.labels()
    rounds = config["rounds"]
    current = rounds[-1] if rounds else None
    counts = {c: 0 for c in config["classes"]}
    for label, _ in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {
        "project": str(project.path),
        "stamp": stamp,
        "classes": list(config["classes"]),
        "round": current["round"] if current else None,
        "items": _items(folder, current, labels) if current else [],
        "review": _items(folder, rounds[-2], labels) if len(rounds) > 1 else [],
        "counts": counts,
        "n_labeled": len(labels),
        "rounds": [
            {
                "round": r["round"],
                "strategy": r["strategy"],
                "n_queried": len(r["paths"]),
                "n_labels": r["n_labels"],
                "n_waiting": sum(p not in labels for p in r["paths"]),
                "fit_seconds": r.get("fit_seconds"),
                "query_seconds": r.get("query_seconds"),
            }
            for r in rounds
        ],
    }


def check_submission(state, body):
    """The ``{path: label}`` of a submission, or a :class:`RequestError`.

    The body must name the current round and the ``stamp`` the page was
    drawn at, and label images of that round only; the labels themselves are
    checked by :meth:`~skfisher.LabelingProject.teach`.
    """
    if not isinstance(body, dict) or not isinstance(body.get("labels"), dict):
        raise RequestError(400, "send a JSON object with round, stamp and labels {path: class}.")
    if body.get("round") != state["round"]:
        raise RequestError(
            409,
            f"these labels are for round {body.get('round')}, but the current round is "
            f"{state['round']}; reload the page. Nothing was written.",
        )
    if body.get("stamp") != state["stamp"]:
        raise RequestError(
            409,
            "this page is stale: the project changed since it was loaded (another tab or a "
            "skfisher label command wrote to it). Reload the page; nothing was written.",
        )
    in_round = {item["path"] for item in state["items"]}
    labels = body["labels"]
    for path, label in labels.items():
        if path not in in_round:
            raise RequestError(
                400, f"{path} is not an image of round {state['round']}; nothing was written."
            )
        if not isinstance(label, str) or not label.strip():
            raise RequestError(400, f"the label of {path} must be a class name; got {label!r}.")
    if not labels:
        raise RequestError(400, "no labels to submit: give at least one image a class.")
    return labels


def image_bytes(folder, record, i, pool):
    """``(bytes, media type)`` of image ``i`` of round ``record``: the original
    file shrunk to :data:`IMAGE_SIDE`, or, when it cannot be read any more, the
    pool's copy (``pool``: a function returning ``(X, paths)``)."""
    from PIL import Image, ImageOps

    path = record["paths"][i]
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            image.thumbnail((IMAGE_SIDE, IMAGE_SIDE))
            image = image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode)
    except (OSError, ValueError):
        X, paths = pool()
        row = list(paths).index(path)
        array = X[row]
        image = Image.fromarray(array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue(), "image/png"

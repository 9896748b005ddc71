"""Folders of generated image files for the labeling tests."""

from collections import Counter

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def digit_pngs(root, n, *, n_labeled=3):
    """The first ``n`` digits 0-2 as PNG files under ``root``.

    ``n_labeled`` per class go to ``labeled/<class>/``, the rest to
    ``unlabeled/``. Returns ``(root, truth)``, ``truth`` mapping each
    resolved path to its label.
    """
    digits = load_digits()
    seen, truth = Counter(), {}
    for i in np.flatnonzero(digits.target < 3)[:n]:
        label = str(digits.target[i])
        seen[label] += 1
        folder = root / "labeled" / label if seen[label] <= n_labeled else root / "unlabeled"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"img{i:04d}.png"
        Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).save(path)
        truth[str(path.resolve())] = label
    return root, truth

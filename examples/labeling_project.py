"""
Label your own images
=====================

A labeling project on PNG files, three query -> teach rounds.

The script writes scikit-learn's digits as PNG files (a few labeled, in one
sub-folder per class, the rest unlabeled), builds a project, and plays the
person who labels: each round it fills the label column of ``to_label.csv``
from the known answers and teaches it back. The same steps on the command
line are ``skfisher label init|query|teach|status``.

Run: ``python examples/labeling_project.py`` (set SKFISHER_FAST=1 for a quick check).
"""

import csv
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from skfisher import LabelingProject

FAST = os.environ.get("SKFISHER_FAST") == "1"
root = Path("labeling-example")
shutil.rmtree(root, ignore_errors=True)

# 1. image files: 2 labeled per class, the others unlabeled
digits = load_digits()
n_images = 200 if FAST else 800
truth, seen = {}, {}
for i in range(n_images):
    label = str(digits.target[i])
    seen[label] = seen.get(label, 0) + 1
    folder = root / ("labeled/" + label if seen[label] <= 2 else "unlabeled")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"digit{i:04d}.png"
    Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).save(path)
    truth[str(path.resolve())] = label

# 2. the project (skfisher label init)
project = LabelingProject.create(
    root / "project",
    labeled=root / "labeled",
    unlabeled=root / "unlabeled",
    image_size=8,
    max_epochs=10 if FAST else 30,
    batch_size=16,
    random_state=0,
)
print(f"{len(project.labels())} labeled images, classes {project.classes}")

# 3. three rounds of query (skfisher label query) -> label -> teach (skfisher label teach)
for _ in range(3):
    result = project.query(10 if FAST else 40, strategy="fisher_mask", device="cpu")
    with open(result["to_label"], newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:  # the person labels (here: the known answers)
        row["label"] = truth[row["path"]]
    with open(result["to_label"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    taught = project.teach(result["to_label"])
    right = sum(r["guess_1"] == r["label"] for r in rows)
    print(
        f"round {result['round']}: {taught['new']} new labels; the model had guessed "
        f"{right} of {len(rows)} right; contact sheet {result['contact_sheet']}"
    )

# 4. status (skfisher label status): counts and the learning curve
status = project.status(cv=3, device="cpu")
print("labels per class:", status["counts"])
for point in status["learning_curve"]:
    if point["accuracy"] is not None:
        print(
            f"{point['n_labels']:>4} labels: cross-validated accuracy "
            f"{point['accuracy']:.3f} ± {point['std']:.3f}"
        )
print(f"learning curve: {status['plot']}")

# 5. the last round's model, for use in Python
model = project.load_model(device="cpu")
X, y, _ = project.labeled_data()
print(f"last round's model: accuracy {model.score(X, y):.3f} on the labeled images")

"""When to stop (kappa between consecutive rounds' models) and adding a class while labeling."""

import json

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.metrics import cohen_kappa_score

from skfisher import LabelingProject
from skfisher.labeling._agreement import agreement_advice, cohen_kappa, stop_set
from skfisher.labeling._folder import ProjectFolder
from skfisher.labeling._progress import reporting


@pytest.fixture(scope="module")
def project_dirs(tmp_path_factory):
    """Digits 0-2 as PNGs: 2 labeled per class, 30 unlabeled; path -> label."""
    root = tmp_path_factory.mktemp("agree")
    digits = load_digits()
    truth = {}
    for k, i in enumerate(np.flatnonzero(digits.target < 3)[:36]):
        label = str(digits.target[i])
        folder = root / ("labeled/" + label if k < 6 else "unlabeled")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i}.png"
        Image.fromarray((digits.images[i] * 15).astype(np.uint8)).save(path)
        truth[str(path.resolve())] = label
    return root, truth


def make(tmp_path, project_dirs):
    root, _ = project_dirs
    return LabelingProject.create(
        tmp_path / "p",
        labeled=root / "labeled",
        unlabeled=root / "unlabeled",
        image_size=8,
        max_epochs=1,
    )


def test_kappa_of_consecutive_rounds_on_the_stop_set(tmp_path, project_dirs):
    _, truth = project_dirs
    project = make(tmp_path, project_dirs)
    events = []
    with reporting(lambda *event: events.append(event)):
        first = project.query(5, strategy="margin", device="cpu")
    assert events == [("train_begin", 0, 1), ("epoch", 1, 1), ("train_end", 1, 1)]
    assert project.agreement(device="cpu") == {
        "rounds": [],
        "advice": agreement_advice([]),
    }
    project.teach({p: truth[p] for p in first["paths"]})
    project.query(5, strategy="margin", device="cpu")
    out = project.agreement(n_sample=20, device="cpu")

    X, paths = ProjectFolder(project.path).read_pool()
    labels = project.labels()
    rows = stop_set(paths.astype(str), labels, 0, 20)
    initial = {p for p, (_, b) in labels.items() if b == 0}
    assert len(rows) == 20 and not {paths[r] for r in rows} & initial
    assert list(stop_set(paths.astype(str), labels, 0, 1000)) == [
        i for i, p in enumerate(paths) if p not in initial
    ]  # all 30 when the sample is larger
    a, b = (project.load_model(r, device="cpu").predict(X[rows]) for r in (1, 2))
    expected = 1.0 if np.array_equal(a, b) else cohen_kappa_score(a, b)
    assert out["rounds"] == [
        {
            "round": 2,
            "previous": 1,
            "kappa": pytest.approx(expected),
            "agree": pytest.approx(np.mean(a == b)),
            "n_sample": 20,
        }
    ]
    assert out["advice"].startswith(
        f"The models of rounds 1 and 2 agree with kappa = {expected:.3f}"
    )
    assert project.agreement(since=2, device="cpu")["rounds"] == []


def test_cohen_kappa_and_the_advice():
    assert cohen_kappa(["a"] * 5, ["a"] * 5) == 1.0  # sklearn: 0 / 0
    assert cohen_kappa(list("aabb"), list("abab")) == pytest.approx(0.0)
    row = lambda r, k: {"round": r, "previous": r - 1, "kappa": k, "agree": 1.0, "n_sample": 50}
    assert "Keep labeling" in agreement_advice([row(2, 0.995), row(3, 0.9)])
    assert "(3 rounds in a row; 2 so far)" in agreement_advice(
        [row(2, 0.5), row(3, 0.99), row(4, 1)]
    )
    stop = agreement_advice([row(2, 0.991), row(3, 0.995), row(4, 1.0)])
    assert stop.startswith("The models of rounds 3 and 4 agree with kappa = 1.000 on 50")
    assert stop.endswith(
        "for the last 3 rounds: the predictions have stabilized, and more "
        "labels are unlikely to change the model much. You can stop."
    )


def test_add_a_class_while_labeling(tmp_path, project_dirs):
    _, truth = project_dirs
    project = make(tmp_path, project_dirs)
    first = project.query(4, strategy="margin", device="cpu")
    before = (project.path / "project.json").read_bytes()
    for bad, message in [("", "non-empty"), (" 1 ", "class '1' already exists"), (3, "string")]:
        with pytest.raises(ValueError, match=message):
            project.add_class(bad)
    assert (project.path / "project.json").read_bytes() == before
    assert project.add_class(" 10 ") == ["0", "1", "10", "2"]
    assert json.loads((project.path / "project.json").read_text())["classes"][2] == "10"
    # round 1's model keeps its three classes; the next round's model has four
    X = np.asarray(ProjectFolder(project.path).read_pool()[0][:3])
    assert project.load_model(1, device="cpu").predict_proba(X).shape == (3, 3)
    project.teach({first["paths"][0]: "10", **{p: truth[p] for p in first["paths"][1:]}})
    second = project.query(4, strategy="margin", device="cpu")
    assert project.load_model(2, device="cpu").predict_proba(X).shape == (3, 4)
    assert {g[0] for g in second["guesses"][second["paths"][0]]} <= {"0", "1", "2", "10"}
    assert project.rounds[1]["classes"] == ["0", "1", "10", "2"]
    assert project.agreement(device="cpu")["rounds"][0]["round"] == 2

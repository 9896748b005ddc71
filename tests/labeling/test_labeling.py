"""Labeling projects: init -> query -> teach -> status, interrupts and the CLI."""

import csv
import json
import os
import pickle
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from _images import digit_pngs
from PIL import Image
from sklearn.datasets import load_digits

import skfisher
from skfisher import LabelingProject
from skfisher.cli import main
from skfisher.datasets import ImageReadWarning
from skfisher.labeling import _query as _label_query
from skfisher.labeling import _teach as _label_teach
from skfisher.labeling._folder import ProjectFolder

#: the checkout whose skfisher the tests import, for subprocesses
SOURCE = str(Path(skfisher.__file__).parents[1])
CLASSES = ("0", "1", "2")
MODEL = dict(image_size=8, max_epochs=1)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Digits 0-2 as PNG files: 3 labeled per class, 45 unlabeled; path -> true label."""
    return digit_pngs(tmp_path_factory.mktemp("images"), 54)


def new_project(tmp_path, images, **params):
    root, _ = images
    return LabelingProject.create(
        tmp_path / "proj",
        labeled=root / "labeled",
        unlabeled=root / "unlabeled",
        **{**MODEL, **params},
    )


def fill(to_label, truth, out, n=None, override=None):
    """A copy of ``to_label.csv`` with the first ``n`` labels filled in from ``truth``."""
    with open(to_label) as f:
        rows = list(csv.DictReader(f))
    for i, r in enumerate(rows[:n]):
        r["label"] = (override or {}).get(i, truth[r["path"]])
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def test_images_fixture(images):
    root, truth = images
    labeled = [p for p in truth if "/labeled/" in p]
    assert len(labeled) == 9 and len(truth) == 54


def test_round_trip_on_png_files(tmp_path, images):
    _, truth = images
    project = new_project(tmp_path, images)
    assert project.classes == list(CLASSES)
    assert project.config["channels"] == 1 and len(project.labels()) == 9
    result = project.query(5)  # fisher_mask
    with open(result["to_label"]) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "label", "guess_1", "p_1", "guess_2", "p_2", "guess_3", "p_3"]
    assert len(rows) == 5 and all(r["label"] == "" for r in rows)
    assert all(r["path"] in truth and "/unlabeled/" in r["path"] for r in rows)
    for r in rows:
        p = [float(r[f"p_{k}"]) for k in (1, 2, 3)]
        assert p == sorted(p, reverse=True) and abs(sum(p) - 1) < 2e-3
        assert {r["guess_1"], r["guess_2"], r["guess_3"]} == set(CLASSES)
    assert result["contact_sheet"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the saved model (skorch save_params) gives the CSV's probabilities back
    from skfisher.datasets import read_images

    X, _, _ = read_images([r["path"] for r in rows], image_size=8)
    proba = project.load_model(1, device="cpu").predict_proba(X)
    np.testing.assert_allclose(proba.max(axis=1), [float(r["p_1"]) for r in rows], atol=6e-4)

    summary = project.teach(fill(result["to_label"], truth, tmp_path / "l.csv"))
    assert summary == {"new": 5, "changed": 0, "already_known": 0, "blank": 0, "batch": 1}
    labels = project.labels()
    assert len(labels) == 14 and all(truth[p] == lab for p, (lab, _) in labels.items())

    status = LabelingProject(project.path).status(cv=2)
    assert sum(status["counts"].values()) == 14 and status["n_pool"] == 54
    assert status["rounds"][0]["n_labeled"] == 5 and status["rounds"][0]["n_waiting"] == 0
    curve = status["learning_curve"]
    assert [p["n_labels"] for p in curve] == [9, 14]
    assert all(0 <= p["accuracy"] <= 1 for p in curve)
    assert status["plot"].read_bytes()[:4] == b"\x89PNG"
    cached = json.loads((project.path / "cv.json").read_text())
    assert len(cached) == 2
    assert project.status(cv=2)["learning_curve"] == curve  # from the cache

    exported = project.export_model(tmp_path / "model.pkl")
    with open(exported, "rb") as f:
        net = pickle.load(f)
    np.testing.assert_allclose(net.predict_proba(X), proba, atol=1e-6)


def test_teach_refuses_bad_rows_and_writes_nothing(tmp_path, images):
    _, truth = images
    project = new_project(tmp_path, images)
    result = project.query(4, strategy="margin")
    before = (project.path / "labels.csv").read_bytes()
    paths = result["paths"]

    bad = fill(result["to_label"], truth, tmp_path / "bad.csv", override={0: "11"})
    with pytest.raises(
        ValueError,
        match=r"row 2: unknown class name '11' \(did you mean "
        r"'1'\?\)(.|\n)*known classes: 0, 1, 2",
    ):
        project.teach(bad)
    with pytest.raises(ValueError, match="is not in the pool"):
        project.teach({"/elsewhere/x.png": "1"})
    with pytest.raises(
        ValueError,
        match="labeled twice with different labels: '1' "
        r"\(item 1\) and '2'",
    ):
        project.teach([(paths[0], "1"), (paths[0], "2")])
    assert (project.path / "labels.csv").read_bytes() == before

    # a partly filled file; duplicates that agree; teaching twice counts once
    part = fill(result["to_label"], truth, tmp_path / "part.csv", n=2)
    assert project.teach(part)["new"] == 2
    again = project.teach(part)
    assert again == {"new": 0, "changed": 0, "already_known": 2, "blank": 2, "batch": None}
    assert project.teach([(paths[2], truth[paths[2]])] * 2)["new"] == 1
    assert len(project.labels()) == 9 + 3

    wrong = "1" if truth[paths[0]] != "1" else "2"
    with pytest.raises(ValueError, match=f"already labeled '{truth[paths[0]]}'; relabel=True"):
        project.teach({paths[0]: wrong})
    assert project.teach({paths[0]: wrong}, relabel=True)["changed"] == 1
    assert project.labels()[paths[0]] == (wrong, 3)  # batches 1, 2 added labels


def test_commit_labels_keeps_the_batch_and_time_of_earlier_labels(tmp_path, monkeypatch):
    labels_csv = tmp_path / "labels.csv"
    labels_csv.write_text("path,label,batch,time\na,x,0,100.0\nb,y,0,100.0\n")
    known = {"a": ("x", 0), "b": ("y", 0)}
    given = {"a": ("x", "row 2"), "b": ("z", "row 3"), "c": ("x", "row 4")}  # b relabeled
    monkeypatch.setattr(_label_teach.time, "time", lambda: 200.0)
    folder = ProjectFolder(tmp_path)
    summary = _label_teach.commit_labels(folder, known, given, 2)
    assert summary == {"new": 1, "changed": 1, "already_known": 1, "blank": 2, "batch": 1}
    with open(labels_csv) as f:
        rows = [tuple(r.values()) for r in csv.DictReader(f)]
    assert rows == [("a", "x", "0", "100.0"), ("b", "z", "1", "200.0"), ("c", "x", "1", "200.0")]
    before = labels_csv.read_bytes()
    known = {"a": ("x", 0), "b": ("z", 1), "c": ("x", 1)}
    summary = _label_teach.commit_labels(folder, known, {"a": ("x", "row 2")}, 0)
    assert summary == {"new": 0, "changed": 0, "already_known": 1, "blank": 0, "batch": None}
    assert labels_csv.read_bytes() == before  # nothing new: nothing written


def test_corrupt_images_are_skipped_and_named(tmp_path, images):
    root, _ = images
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.warns(ImageReadWarning, match="broken.png"):
        project = LabelingProject.create(
            tmp_path / "proj", labeled=root / "labeled", unlabeled=extra, classes=["9"], **MODEL
        )
    assert project.config["skipped"][0][0] == str((extra / "broken.png").resolve())
    assert project.classes == ["0", "1", "2", "9"]
    with pytest.raises(
        ValueError,
        match="not in the pool \\(skipped when read: UnidentifiedImageError: cannot identify "
        "image file\\)",
    ):
        project.teach({extra / "broken.png": "1"})


def test_pending_images_are_not_queried_again(tmp_path, images):
    project = new_project(tmp_path, images)
    other = LabelingProject(project.path)  # e.g. a notebook's, opened earlier
    first = project.query(5, strategy="entropy")
    second = other.query(5, strategy="entropy")
    assert second["round"] == 2 and not set(first["paths"]) & set(second["paths"])
    assert project.pending() == {1: first["paths"], 2: second["paths"]}


def test_cold_start_without_labels_queries_at_random(tmp_path, images):
    root, truth = images
    project = LabelingProject.create(
        tmp_path / "proj", unlabeled=root / "unlabeled", classes=list(CLASSES), **MODEL
    )
    result = project.query(6)
    assert project.rounds[0]["strategy"].startswith("random")
    with open(result["to_label"]) as f:
        assert next(csv.reader(f)) == [
            "path",
            "label",
            "guess_1",
            "p_1",
            "guess_2",
            "p_2",
            "guess_3",
            "p_3",
        ]
    project.teach({p: truth[p] for p in result["paths"]})
    with pytest.raises(ValueError, match="no saved model"):
        project.load_model()
    assert project.status(cv=2, plot=False)["learning_curve"][0]["n_labels"] == 6


# --------------------------------------------------------------- interrupts
class Interrupt(BaseException):
    pass


def interrupt_at(monkeypatch, k, after):
    """Raise at the k-th ``os.replace`` of the project: before or after the rename."""
    calls = []
    real = os.replace

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == k and not after:
            raise Interrupt
        real(src, dst)
        if len(calls) == k and after:
            raise Interrupt

    monkeypatch.setattr(os, "replace", replace)  # every atomic write of the project
    return calls


def test_to_label_written_but_round_not_recorded(tmp_path, images, monkeypatch):
    """Interrupted between writing to_label.csv and committing the round: the
    CSV can still be taught, and the next query writes that round again."""
    _, truth = images
    project = new_project(tmp_path, images)

    def stop_at_commit(folder, config):  # ProjectFolder.write_config writes project.json
        raise Interrupt

    monkeypatch.setattr(ProjectFolder, "write_config", stop_at_commit)
    with pytest.raises(Interrupt):
        project.query(5, strategy="margin")
    monkeypatch.undo()
    to_label = project.path / "round-01" / "to_label.csv"
    assert to_label.exists()
    project = LabelingProject(project.path)
    assert project.rounds == []
    assert project.teach(fill(to_label, truth, tmp_path / "l.csv"))["new"] == 5
    result = project.query(5, strategy="margin")
    assert result["round"] == 1 and LabelingProject(project.path).rounds[0]["round"] == 1
    assert len(project.labels()) == 14
    assert not set(result["paths"]) & set(project.labels())


@pytest.mark.parametrize("after", [False, True], ids=["before-rename", "after-rename"])
def test_interrupt_at_every_write_then_the_next_command(tmp_path, images, monkeypatch, after):
    """Stop query and teach at each of their writes; rerunning the command
    finishes the job with every label counted once."""
    _, truth = images
    project = new_project(tmp_path, images)
    calls = interrupt_at(monkeypatch, 0, after)  # counts the writes of one query
    project.query(4, strategy="margin")
    n_writes = len(calls)
    assert [p.name for p in calls][-1] == "project.json" and n_writes == 4
    labels_file = fill(project.path / "round-01" / "to_label.csv", truth, tmp_path / "l.csv")
    for k in range(1, n_writes + 1):
        interrupt_at(monkeypatch, k, after)
        with pytest.raises(Interrupt):
            LabelingProject(project.path).query(4, strategy="margin")
        monkeypatch.undo()
        rounds = LabelingProject(project.path).rounds
        assert len(rounds) == 1 + (after and k == n_writes)
        if len(rounds) == 2:  # committed: undo by hand for the next k
            config = json.loads((project.path / "project.json").read_text())
            config["rounds"] = config["rounds"][:1]
            (project.path / "project.json").write_text(json.dumps(config))
    result = LabelingProject(project.path).query(4, strategy="margin")
    assert result["round"] == 2

    interrupt_at(monkeypatch, 1, after)
    with pytest.raises(Interrupt):
        LabelingProject(project.path).teach(labels_file)
    monkeypatch.undo()
    assert len(LabelingProject(project.path).labels()) == 9 + 4 * after
    summary = LabelingProject(project.path).teach(labels_file)
    assert summary["new"] == 4 * (not after)
    labels = LabelingProject(project.path).labels()
    assert len(labels) == 13 and all(truth[p] == lab for p, (lab, _) in labels.items())


KILL_SCRIPT = """
import os, signal, sys
from skfisher.cli import main
real = os.replace
def replace(src, dst):
    if os.path.basename(dst) == sys.argv[1]:
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
os.replace = replace
main(sys.argv[2:])
"""


def test_resume_after_the_process_is_killed(tmp_path, images):
    _, truth = images
    project = new_project(tmp_path, images)
    env = {**os.environ, "PYTHONPATH": SOURCE, "OMP_NUM_THREADS": "1"}

    def killed(file, *args):
        proc = subprocess.run(
            [sys.executable, "-c", KILL_SCRIPT, file, "label", *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]

    killed(
        "project.json",
        "query",
        str(project.path),
        "-n",
        "5",
        "--strategy",
        "margin",
        "--device",
        "cpu",
    )
    assert LabelingProject(project.path).rounds == []
    assert (
        main(
            [
                "label",
                "query",
                str(project.path),
                "-n",
                "5",
                "--strategy",
                "margin",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    labels_file = fill(project.path / "round-01" / "to_label.csv", truth, tmp_path / "l.csv")
    killed("labels.csv", "teach", str(project.path), str(labels_file))
    assert len(LabelingProject(project.path).labels()) == 9
    assert main(["label", "teach", str(project.path), str(labels_file)]) == 0
    assert main(["label", "teach", str(project.path), str(labels_file)]) == 0
    assert len(LabelingProject(project.path).labels()) == 14


# ---------------------------------------------------------------------- CLI
def test_cli_workflow(tmp_path, images, capsys):
    root, truth = images
    proj = str(tmp_path / "proj")
    assert (
        main(
            [
                "label",
                "init",
                proj,
                "--labeled",
                str(root / "labeled"),
                "--unlabeled",
                str(root / "unlabeled"),
                "--image-size",
                "8",
                "--max-epochs",
                "1",
            ]
        )
        == 0
    )
    assert "54 images (9 labeled), classes 0, 1, 2" in capsys.readouterr().out
    assert (
        main(
            [
                "label",
                "query",
                proj,
                "-n",
                "3",
                "--strategy",
                "fisher_mask",
                "--sparsity",
                "0.01",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "round 1: 3 images to label" in out and "round-01/to_label.csv" in out
    labels_file = fill(
        tmp_path / "proj" / "round-01" / "to_label.csv", truth, tmp_path / "l.csv", n=2
    )
    assert main(["label", "teach", proj, str(labels_file)]) == 0
    assert "taught 2 new label(s); 0 already known, 1 blank" in capsys.readouterr().out
    assert main(["label", "status", proj, "--cv", "2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "11 of 54 images labeled" in out and "1 waiting" in out
    assert "learning_curve.png" in out
    assert main(["label", "export", proj, str(tmp_path / "m.pkl")]) == 0
    assert (tmp_path / "m.pkl").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["query", "{tmp}/none", "-n", "3"], "create it with `skfisher label init`"),
        (["teach", "{proj}", "{tmp}/missing.csv"], "does not exist"),
        (["teach", "{proj}", "{tmp}/unknown.csv"], "unknown class name 'seven'"),
        (["init", "{proj}", "--unlabeled", "{tmp}"], "already a labeling project"),
        (["init", "{tmp}/p2", "--unlabeled", "{tmp}"], "at least two non-empty class"),
        (
            [
                "init",
                "{tmp}/p2",
                "--classes",
                "a",
                "b",
                "--unlabeled",
                "{tmp}",
                "--image-size",
                "1",
                "2",
                "3",
            ],
            "--image-size takes HEIGHT [WIDTH]",
        ),
        (["export", "{proj}", "{tmp}/m.pkl"], "no saved model"),
        (["query", "{proj}", "-n", "0"], "expected a positive int"),
    ],
)
def test_cli_errors_exit_2(tmp_path, images, capsys, args, message):
    project = new_project(tmp_path, images)
    (tmp_path / "unknown.csv").write_text(f"path,label\n{next(iter(images[1]))},seven\n")
    args = [a.format(tmp=tmp_path, proj=project.path) for a in args]
    try:
        code = main(["label", *args])
    except SystemExit as exc:  # argparse
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_error_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "skfisher", "label", "status", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": SOURCE},
    )
    assert proc.returncode == 2
    assert "skfisher: error:" in proc.stderr and "not a labeling project" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_and_compare_accept_a_folder_and_an_npz(tmp_path, images, capsys):
    root, _ = images
    digits = load_digits()
    X = (digits.images[:120] * 255 / 16).astype(np.uint8)
    np.savez(tmp_path / "d.npz", X=X, y=digits.target[:120] % 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImageReadWarning)
        code = main(
            [
                "run",
                "--data",
                str(root / "unlabeled"),
                "--quiet",
                "--max-epochs",
                "1",
                "--strategy",
                "margin",
                "--n-initial",
                "1",
                "--n-rounds",
                "0",
                "--output-dir",
                str(tmp_path / "r"),
            ]
        )
    assert code == 2 and "no class sub-folders" in capsys.readouterr().err
    nested = tmp_path / "nested"
    nested.mkdir()
    os.symlink(root / "labeled", nested / "a")
    os.symlink(root / "unlabeled", nested / "b")
    assert (
        main(
            [
                "run",
                "--data",
                str(nested),
                "--quiet",
                "--max-epochs",
                "1",
                "--strategy",
                "margin",
                "--n-initial",
                "10",
                "--n-instances",
                "5",
                "--n-rounds",
                "1",
                "--output-dir",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "r" / "results.json").read_text())
    assert [r["n_labels"] for r in result["rounds"]] == [10, 15]
    assert (
        main(
            [
                "compare",
                "--data",
                str(tmp_path / "d.npz"),
                "--strategies",
                "random",
                "--seeds",
                "0",
                "--max-epochs",
                "1",
                "--n-rounds",
                "1",
                "--quiet",
                "--output-dir",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    assert "## d: " in capsys.readouterr().out
    records = [json.loads(line) for line in open(tmp_path / "c" / "d" / "rounds.jsonl")]
    # pool 84 (70 %), 3 classes: steps of max(3, 84 // 20) = 4
    assert [r["n_labels"] for r in records] == [4, 8] and records[0]["setting"] == "d"


def test_cli_ctrl_c_exits_130_with_a_message(tmp_path, images, capsys, monkeypatch):
    project = new_project(tmp_path, images)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(LabelingProject, "query", interrupted)
    assert main(["label", "query", str(project.path), "-n", "2"]) == 130
    assert "interrupted; the project is as the last finished step left it" in (
        capsys.readouterr().err
    )


def test_contact_sheet_of_rgb_and_grey_images(tmp_path):
    rng = np.random.RandomState(0)
    for c in (1, 3):
        images = rng.randint(0, 256, (13, c, 9, 7)).astype(np.uint8)
        path = tmp_path / f"sheet{c}.png"
        _label_query.contact_sheet(images, [str(i) for i in range(13)], path, title="t")
        with Image.open(path) as sheet:
            assert sheet.format == "PNG" and sheet.width > sheet.height  # 10 x 2 grid

"""What a labeling project survives: two processes at once, a user's folder,
damaged files, uncommitted and deleted round folders, images added later,
and the pool on disk."""

import csv
import os
import subprocess
import sys
import time
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
from skfisher.labeling._folder import ProjectFolder
from skfisher.utils import FolderInUseError

SOURCE = str(Path(skfisher.__file__).parents[1])
MODEL = dict(image_size=8, max_epochs=1)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Digits 0-2 as PNG files: 3 labeled per class, 21 unlabeled; path -> true label."""
    return digit_pngs(tmp_path_factory.mktemp("images"), 30)


def new_project(tmp_path, images, **params):
    root, _ = images
    return LabelingProject.create(
        tmp_path / "proj", labeled=root / "labeled", unlabeled=root / "unlabeled", **MODEL, **params
    )


def unlabeled(truth):
    return sorted(p for p in truth if "/unlabeled/" in p)


# ------------------------------------------------------------- one writer
CHILD = """
import os, sys, time
from pathlib import Path
from skfisher.labeling._folder import ProjectFolder
from skfisher.cli import main

marker = Path(sys.argv[1])
for name in ("write_labels", "write_config"):  # the commits of teach and query
    real = getattr(ProjectFolder, name)
    def delayed(self, *args, _real=real):
        marker.write_text(str(os.getpid()))  # the lock is held: let the parent race
        time.sleep(float(sys.argv[2]))
        return _real(self, *args)
    setattr(ProjectFolder, name, delayed)
sys.exit(main(sys.argv[3:]))
"""


def start_child(tmp_path, delay, *args):
    """A real second process running ``skfisher label ...`` whose commit is
    delayed by ``delay`` seconds; returns it once it holds the project's lock."""
    marker = tmp_path / "child-holds-the-lock"
    env = {**os.environ, "PYTHONPATH": SOURCE, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(marker), str(delay), "label", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return child


def test_two_teaches_at_once_lose_no_label(tmp_path, images):
    _, truth = images
    project = new_project(tmp_path, images)
    first, second = unlabeled(truth)[:10], unlabeled(truth)[10:20]
    csv_file = tmp_path / "first.csv"
    csv_file.write_text("path,label\n" + "".join(f"{p},{truth[p]}\n" for p in first))
    child = start_child(tmp_path, 1.5, "teach", str(project.path), str(csv_file))
    # the second teach waits for the first to commit, then commits on top of it
    waiter = LabelingProject(project.path, lock_timeout=60)
    tic = time.monotonic()
    summary = waiter.teach({p: truth[p] for p in second})
    assert time.monotonic() - tic > 0.3  # it did wait
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert "taught 10 new label(s)" in out
    assert summary["new"] == 10 and summary["batch"] == 2
    labels = LabelingProject(project.path).labels()
    assert len(labels) == 9 + 20
    assert {p: lab for p, (lab, _) in labels.items() if p in first + second} == {
        p: truth[p] for p in first + second
    }


def test_a_second_query_is_refused_naming_the_other_process(tmp_path, images, capsys):
    project = new_project(tmp_path, images)
    args = [str(project.path), "-n", "3", "--strategy", "margin", "--device", "cpu"]
    child = start_child(tmp_path, 3, "query", *args)
    with pytest.raises(FolderInUseError, match=rf"pid {child.pid}\b.*waited 0.5 s"):
        LabelingProject(project.path, lock_timeout=0.5).query(3, strategy="margin")
    with pytest.raises(FolderInUseError, match=f"pid {child.pid}"):
        LabelingProject(project.path, lock_timeout=0).teach({})
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert "round 1: 3 images to label" in out
    assert [r["round"] for r in LabelingProject(project.path).rounds] == [1]
    result = LabelingProject(project.path).query(3, strategy="margin", device="cpu")
    assert result["round"] == 2
    assert not set(result["paths"]) & set(LabelingProject(project.path).rounds[0]["paths"])


def test_the_cli_refuses_a_busy_project_with_exit_2(tmp_path, images, capsys, monkeypatch):
    from skfisher.utils._files import folder_lock

    project = new_project(tmp_path, images)
    monkeypatch.setattr(LabelingProject.__init__, "__kwdefaults__", {"lock_timeout": 0.2})
    (tmp_path / "x.csv").write_text("path,label\n")
    with folder_lock(project.path):  # held by this process: the CLI's open is another
        assert main(["label", "teach", str(project.path), str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert f"is in use by another skfisher process (pid {os.getpid()}" in err
    assert "only one command at a time can change a labeling project" in err


# ------------------------------------------------------- nothing overwritten
def test_init_refuses_a_folder_that_is_not_empty(tmp_path, images, capsys):
    root, _ = images
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "labels.csv").write_text("my own labels\n")
    args = ["label", "init", str(folder), "--labeled", str(root / "labeled"), "--image-size", "8"]
    assert main(args) == 2
    assert "exists and is not empty (it holds labels.csv)" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["labels.csv"]
    assert (folder / "labels.csv").read_text() == "my own labels\n"
    # an empty folder is fine; so is one an interrupted init left (its lock file)
    (folder / "labels.csv").unlink()
    (folder / ".skfisher.lock").write_text("")
    (folder / "pool.npy").write_bytes(b"half")
    assert main(args) == 0
    assert LabelingProject(folder).config["n_pool"] == 9


def test_a_failed_init_leaves_no_folder(tmp_path, images):
    root, _ = images
    with pytest.raises(ValueError, match="none of the 1 image files could be read"):
        (tmp_path / "bad").mkdir()
        (tmp_path / "bad" / "x.png").write_bytes(b"no image")
        with pytest.warns(ImageReadWarning):
            LabelingProject.create(
                tmp_path / "proj", unlabeled=tmp_path / "bad", classes=["a", "b"], **MODEL
            )
    assert not (tmp_path / "proj").exists()


def test_labels_filled_into_an_uncommitted_round_are_taken_in(tmp_path, images, monkeypatch):
    _, truth = images
    project = new_project(tmp_path, images)

    def interrupted(folder, config):
        raise KeyboardInterrupt

    monkeypatch.setattr(ProjectFolder, "write_config", interrupted)
    with pytest.raises(KeyboardInterrupt):
        project.query(4, strategy="margin", device="cpu")
    monkeypatch.undo()
    to_label = project.path / "round-01" / "to_label.csv"
    assert project.rounds == []
    with open(to_label) as f:
        rows = list(csv.DictReader(f))
    rows[0]["label"], rows[1]["label"] = "1O", truth[rows[1]["path"]]  # a typo
    with open(to_label, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = to_label.read_bytes()
    with pytest.raises(ValueError, match="(?s)interrupted before it committed round 1.*'1O'"):
        project.query(4, strategy="margin", device="cpu")
    assert to_label.read_bytes() == before and len(project.labels()) == 9  # left alone
    rows[0]["label"] = truth[rows[0]["path"]]
    with open(to_label, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = project.query(4, strategy="margin", device="cpu")
    assert result["folded"]["new"] == 2 and result["round"] == 1
    labels = project.labels()
    assert all(labels[r["path"]][0] == truth[r["path"]] for r in rows[:2])
    assert not set(result["paths"]) & set(labels)


def test_a_deleted_round_folder_is_reported_and_its_images_come_back(tmp_path, images, capsys):
    _, truth = images
    project = new_project(tmp_path, images)
    first = project.query(5, strategy="margin", device="cpu")
    project.teach({first["paths"][0]: truth[first["paths"][0]]})
    import shutil

    shutil.rmtree(project.path / "round-01")
    status = project.status(cv=0)
    assert status["rounds"][0]["deleted"] and status["rounds"][0]["n_candidates_again"] == 4
    assert project.pending() == {}
    assert main(["label", "status", str(project.path), "--cv", "0"]) == 0
    assert "its folder was deleted: 4 unlabeled image(s) are candidates again" in (
        capsys.readouterr().out
    )
    again = project.query(20, strategy="margin", device="cpu")  # every free image
    assert set(first["paths"][1:]) <= set(again["paths"]) and len(again["paths"]) == 20
    assert project.load_model().classes_.tolist() == ["0", "1", "2"]  # round 2's


# -------------------------------------------------------------- damaged files
@pytest.mark.parametrize(
    "name, content, message",
    [
        ("project.json", lambda b: b[: len(b) // 2], "project.json is damaged \\(not JSON"),
        ("project.json", lambda b: b"[]", "project.json is damaged \\(it holds a JSON list"),
        ("project.json", lambda b: b'{"rounds": 3}', "'format' is missing"),
        ("pool.npy", lambda b: b[:200], "pool.npy is damaged \\(ValueError"),
        ("pool.npy", lambda b: b"", "pool.npy is damaged"),
        ("pool.npy", None, "pool.npy is damaged \\(it is missing"),
        ("pool.csv", lambda b: b"garbage\n", "pool.csv is damaged \\(the header"),
        ("labels.csv", lambda b: b + b"x,0,notanumber,1\n", "labels.csv is damaged \\(row 11"),
        ("labels.csv", lambda b: b"\x81\x8d\x8f", "labels.csv is damaged .*not UTF-8"),
    ],
    ids=["json-truncated", "json-list", "json-shape", "npy-truncated", "npy-empty",
         "npy-missing", "index", "labels-row", "labels-bytes"],
)  # fmt: skip
def test_a_damaged_file_is_named_with_exit_2(tmp_path, images, capsys, name, content, message):
    project = new_project(tmp_path, images)
    path = project.path / name
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content(path.read_bytes()))
    assert main(["label", "status", str(project.path), "--cv", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skfisher: error: ") and "Traceback" not in err
    assert len(__import__("re").findall(message, err)) == 1, err
    assert "restore it from a backup" in err or "fix that row" in err


def test_a_cp1252_csv_from_excel_is_read_and_said_so(tmp_path, images, capsys):
    root, truth = images
    extra = tmp_path / "new"
    extra.mkdir()
    Image.open(unlabeled(truth)[0]).save(extra / "grün.png")
    project = LabelingProject.create(
        tmp_path / "proj", labeled=root / "labeled", unlabeled=extra, **MODEL
    )
    path = str((extra / "grün.png").resolve())
    (tmp_path / "excel.csv").write_bytes(f"path;label\r\n{path};2\r\n".encode("cp1252"))
    assert main(["label", "teach", str(project.path), str(tmp_path / "excel.csv")]) == 0
    out = capsys.readouterr().out
    assert "excel.csv is not UTF-8; it was read as Windows-1252 (cp1252)" in out
    assert "save it as 'CSV UTF-8'" in out
    assert project.labels()[path][0] == "2"
    (tmp_path / "bad.csv").write_bytes(b"path,label\n\x81\x8d,1\n")  # not cp1252 either
    assert main(["label", "teach", str(project.path), str(tmp_path / "bad.csv")]) == 2
    assert "bad.csv is not UTF-8 text" in capsys.readouterr().err


# ---------------------------------------------------------- the pool on disk
def test_the_pool_is_a_memory_mapped_npy(tmp_path, images):
    root, truth = images
    project = new_project(tmp_path, images)
    X = np.load(project.path / "pool.npy", mmap_mode="r")
    assert isinstance(X, np.memmap) and X.shape == (30, 1, 8, 8) and X.dtype == np.uint8
    with open(project.path / "pool.csv") as f:
        index = list(csv.DictReader(f))
    assert [r["path"] for r in index[:9]] == sorted(p for p in truth if "/labeled/" in p)
    assert {r["mode"] for r in index} == {"L"} and len({r["sha256"] for r in index}) == 30
    from skfisher.datasets import read_images

    expected, _, _ = read_images([r["path"] for r in index], image_size=8)
    np.testing.assert_array_equal(X, expected)
    assert not list(project.path.glob(".*.tmp"))


def test_a_query_reads_only_the_rows_it_scores(tmp_path, images, monkeypatch):
    project = new_project(tmp_path, images)
    fetched = []

    class Guard:
        """The memory-mapped pool, counting the rows read; never read whole."""

        def __init__(self, X):
            self.X = X

        def __len__(self):
            return len(self.X)

        def __getitem__(self, rows):
            assert isinstance(rows, np.ndarray) and rows.dtype.kind == "i"
            fetched.append(len(rows))
            return self.X[rows]

        def __array__(self, *args, **kwargs):
            raise AssertionError("the whole pool was read")

    real = ProjectFolder.open_pool
    monkeypatch.setattr(ProjectFolder, "open_pool", lambda self, c: Guard(real(self, c)))
    result = project.query(3, device="cpu", max_candidates=6)  # fisher_mask
    record = LabelingProject(project.path).rounds[0]
    assert record["n_candidates"] == 6 and record["n_free"] == 21
    assert fetched == [9, 6, 3]  # labeled rows, candidates scored, the picked ones
    assert len(result["paths"]) == 3


def test_label_add_skips_copies_by_path_and_content(tmp_path, images, capsys):
    root, truth = images
    project = new_project(tmp_path, images)
    new = tmp_path / "arrived"
    new.mkdir()
    digits = load_digits()
    fresh = (digits.images[200] * 255 / 16).astype(np.uint8)
    Image.fromarray(fresh).save(new / "fresh.png")
    (new / "copy.png").write_bytes(Path(unlabeled(truth)[0]).read_bytes())
    (new / "broken.png").write_bytes(b"\x89PNG nothing")
    args = ["label", "add", str(project.path), str(new)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "added 1 image(s)" in out and "1 with the same content as a pool image" in out
    assert "1 unreadable; 31 images in the pool" in out and "broken.png" in out
    X, paths = ProjectFolder(project.path).read_pool()
    assert X.shape == (31, 1, 8, 8) and paths[-1] == str((new / "fresh.png").resolve())
    np.testing.assert_array_equal(X[:30], np.load(tmp_path / "proj" / "pool.npy")[:30])
    from skfisher.datasets import read_images

    np.testing.assert_array_equal(X[30], read_images([new / "fresh.png"], image_size=8)[0][0])
    assert main(args) == 0  # again: the path is known now
    out = capsys.readouterr().out
    assert "added 0 image(s)" in out and "skipped 1 already in the pool" in out
    config = LabelingProject(project.path).config
    assert config["n_pool"] == 31 and len(config["skipped"]) == 2
    project.teach({new / "fresh.png": "0"})
    assert project.labels()[paths[-1]][0] == "0"
    with pytest.raises(ValueError, match="skipped when read: the same file content as"):
        project.teach({new / "copy.png": "1"})
    assert not list(project.path.glob(".*.tmp"))

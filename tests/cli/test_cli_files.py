"""Result files of the command line: nothing overwritten before its time,
output paths checked before the work, damaged inputs named, no temporary
file left behind, and the permissions of the user's umask."""

import json
import os

import numpy as np
import pytest

from skfisher.cli import main
from skfisher.utils._files import write_atomic

RUN = ["--n-initial", "20", "--n-instances", "10", "--n-rounds", "1", "--max-epochs", "1"]
RUN += ["--pool-size", "100", "--test-size", "50", "--quiet", "--strategy", "random"]


def test_run_overwrite_keeps_old_results_until_the_first_new_round(tmp_path, monkeypatch, capsys):
    from skfisher.cli import _main as cli

    old = {name: f"old {name}".encode() for name in cli.RUN_FILES}
    for name, content in old.items():
        (tmp_path / name).write_bytes(content)

    def interrupted(*args, **kwargs):  # Ctrl-C during round 0's fit
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_active_learning", interrupted)
    assert main(["run", "--output-dir", str(tmp_path), "--overwrite", *RUN]) == 130
    err = capsys.readouterr().err
    assert "no round had finished, so nothing was written" in err
    assert "earlier results included" in err and "every finished round is saved" not in err
    assert {name: (tmp_path / name).read_bytes() for name in old} == old
    monkeypatch.undo()
    assert main(["run", "--output-dir", str(tmp_path), "--overwrite", *RUN]) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert [r["round"] for r in result["rounds"]] == [0, 1]
    assert all((tmp_path / name).read_bytes() != content for name, content in old.items())


def test_compare_markdown_path_is_checked_before_the_work(tmp_path, monkeypatch, capsys):
    from skfisher.cli import _main as cli

    monkeypatch.setattr(cli, "run_comparison", lambda *a, **k: pytest.fail("compared"))
    args = ["compare", "--strategies", "random", "--seeds", "0", "--output-dir", str(tmp_path)]
    assert main([*args, "--markdown", str(tmp_path)]) == 2
    assert f"{tmp_path} is a folder; give the path of the file to write" in capsys.readouterr().err
    assert main([*args, "--markdown", str(tmp_path / "no" / "t.md")]) == 2
    assert "its folder" in capsys.readouterr().err


@pytest.mark.parametrize("content", [None, b"", b"X,y\n1,2\n"], ids=["truncated", "empty", "csv"])
def test_a_damaged_npz_is_named_with_exit_2(tmp_path, capsys, content):
    path = tmp_path / "data.npz"
    np.savez(path, X=np.zeros((40, 8, 8), np.uint8), y=np.arange(40) % 2)
    if content is None:
        content = path.read_bytes()[:300]
    path.write_bytes(content)
    assert main(["run", "--data", str(path), "--output-dir", str(tmp_path / "o"), *RUN]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"skfisher: error: {path} is not a readable .npz file (")
    assert "Save the arrays again with numpy.savez(path, X=X, y=y)" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "content, why",
    [
        (lambda text: text[: len(text) // 2], "(not JSON: "),
        (lambda text: json.dumps({"digits": {"n_initial": 5}}), "(valid JSON, but not a protocol"),
        (lambda text: json.dumps(["digits"]), "(valid JSON, but not a protocol"),
    ],
    ids=["truncated", "missing-keys", "list"],
)
def test_a_damaged_manifest_is_named_with_exit_2(tmp_path, monkeypatch, capsys, content, why):
    from skfisher.experiments import _compare

    monkeypatch.setattr(_compare, "_run_one", lambda *a: None)  # the protocol only
    args = ["compare", "--strategies", "random", "--seeds", "0", "--output-dir", str(tmp_path)]
    args += ["--max-epochs", "1", "--quiet"]
    monkeypatch.setattr("skfisher.cli._main.summarize", lambda *a, **k: "")
    assert main(args) == 0
    manifest = tmp_path / "digits" / "manifest.json"
    manifest.write_text(content(manifest.read_text()))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"skfisher: error: {manifest} is damaged (" in err and why in err
    assert "Restore it from a backup, or delete it" in err and "Traceback" not in err


def test_label_export_checks_its_path_first_and_leaves_no_temp_file(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "not-a-project").mkdir()
    assert main(["label", "export", str(tmp_path / "not-a-project"), str(out)]) == 2
    assert "is not a labeling project" in capsys.readouterr().err
    from skfisher import LabelingProject

    project = tmp_path / "proj"
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    for i in range(4):
        Image.fromarray(np.full((4, 4), 60 * i, np.uint8)).save(images / f"{i}.png")
    LabelingProject.create(project, unlabeled=images, classes=["a", "b"], image_size=4)
    assert main(["label", "export", str(project), str(out)]) == 2
    assert f"{out} is a folder" in capsys.readouterr().err
    assert list(out.iterdir()) == [] and not list(tmp_path.glob(".*"))


def test_no_temporary_file_is_left_after_a_failed_write(tmp_path):
    def fails(f):
        f.write(b"x" * 100_000)
        raise OSError("disk full")

    (tmp_path / "keep.json").write_text("old")
    with pytest.raises(OSError, match="disk full"):
        write_atomic(tmp_path / "keep.json", fails)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]
    assert (tmp_path / "keep.json").read_text() == "old"


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_result_files_get_the_permissions_of_their_neighbours(tmp_path, umask):
    before = os.umask(umask)
    try:
        (tmp_path / "neighbour.txt").write_text("made by open()")
        write_atomic(tmp_path / "results.json", "{}")
        write_atomic(tmp_path / "plot.png", lambda f: f.write(b"png"))
    finally:
        os.umask(before)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(["neighbour.txt", "results.json", "plot.png"], 0o666 & ~umask)

import csv
import json
import subprocess
import sys

import pytest

from skfisher.cli import main

FAST = ["--n-initial", "20", "--batch-size", "10", "--rounds", "2", "--max-epochs", "2",
        "--pool-size", "200", "--test-size", "100", "--quiet"]


@pytest.mark.parametrize("strategy", ["entropy", "fisher_mask"])
def test_run_writes_json_csv_and_plot(tmp_path, capsys, strategy):
    code = main(["run", "--strategy", strategy, "--output-dir", str(tmp_path), *FAST])
    assert code == 0
    out = capsys.readouterr().out
    assert "test acc" in out and "query s" in out
    result = json.loads((tmp_path / "results.json").read_text())
    assert [r["n_labels"] for r in result["rounds"]] == [20, 30, 40]
    assert result["meta"]["strategy"] == strategy
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and float(rows[2]["query_seconds"]) > 0
    assert (tmp_path / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_curve(tmp_path):
    for name in ("a", "b"):
        assert main(["run", "--strategy", "margin", "--output-dir", str(tmp_path / name), *FAST]) == 0
    curves = [
        [r["accuracy"] for r in json.loads((tmp_path / n / "results.json").read_text())["rounds"]]
        for n in ("a", "b")
    ]
    assert curves[0] == curves[1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset", "mnist"], "invalid choice: 'mnist'"),
        (["--strategy", "coreset"], "invalid choice: 'coreset'"),
        (["--batch-size", "0"], "expected a positive int"),
        (["--dataset", "fashion_mnist", "--data-dir", "/nonexistent"], "apt-get install"),
        (["--rounds", "500"], "exceeds the pool"),
    ],
)
def test_bad_arguments_exit_2_without_traceback(args, message):
    proc = subprocess.run(
        [sys.executable, "-m", "skfisher", "run", "--quiet", *args],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


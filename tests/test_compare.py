"""skfisher compare: resumable rounds, summary table and plot, CLI smoke test."""

import json

import numpy as np
import pytest

from skfisher import compare
from skfisher.cli import main
from skfisher.compare import load_rounds, run_comparison, summarize

SMALL = dict(n_initial=20, batch_size=10, n_rounds=2,
             estimator_params={"max_epochs": 3, "device": "cpu"}, progress=False)


def keys(records):
    return [(r["strategy"], r["seed"], r["round"]) for r in records]


def test_an_interrupted_run_resumes_with_nothing_lost_or_duplicated(tmp_path, monkeypatch):
    reference = load_rounds(run_comparison("digits", ["margin"], [0, 1], tmp_path / "ref", **SMALL))

    calls = {"n": 0}
    original = compare._append

    def crash_after_four(path, record):
        if calls["n"] == 4:
            raise KeyboardInterrupt
        calls["n"] += 1
        original(path, record)

    monkeypatch.setattr(compare, "_append", crash_after_four)
    with pytest.raises(KeyboardInterrupt):
        run_comparison("digits", ["margin"], [0, 1], tmp_path / "run", **SMALL)
    monkeypatch.undo()
    partial = load_rounds(tmp_path / "run" / "rounds.jsonl")
    assert keys(partial) == keys(reference)[:4]
    # a torn last line from a crash mid-write is dropped on load
    with open(tmp_path / "run" / "rounds.jsonl", "a") as f:
        f.write('{"setting": "digits", "strat')
    run_comparison("digits", ["margin"], [0, 1], tmp_path / "run", **SMALL)
    resumed = load_rounds(tmp_path / "run" / "rounds.jsonl")
    assert keys(resumed) == keys(reference)
    for a, b in zip(resumed, reference):
        assert a["new_rows"] == b["new_rows"] and a["accuracy"] == b["accuracy"]
    # a complete run is not repeated
    run_comparison("digits", ["margin"], [0, 1], tmp_path / "run", **SMALL)
    assert len(load_rounds(tmp_path / "run" / "rounds.jsonl")) == len(reference)


def test_summary_statistics_table_and_plot(tmp_path):
    records = [
        {"strategy": s, "seed": seed, "n_labels": n, "accuracy": acc}
        for s, base in (("random", 0.5), ("entropy", 0.6))
        for seed, shift in ((0, 0.0), (1, 0.1))
        for n, acc in ((10, base + shift), (20, base + shift + 0.2))
    ]
    table = summarize(records, markdown_path=tmp_path / "t.md", plot_path=tmp_path / "p.png")
    lines = table.splitlines()
    assert lines[0] == "| strategy | seeds | 10 | 20 | AULC |"
    row = next(line for line in lines if line.startswith("| entropy"))
    # accuracies 0.6/0.7 at 10 labels, 0.8/0.9 at 20: AULC 0.7 and 0.8
    assert row == "| entropy | 2 | 0.650 ± 0.050 | 0.850 ± 0.050 | 0.750 ± 0.050 |"
    assert (tmp_path / "t.md").read_text().strip() == table
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_smoke_two_strategies_one_seed_two_rounds(tmp_path, capsys):
    code = main([
        "compare", "--strategies", "random", "kcenter_greedy", "--seeds", "0",
        "--rounds", "2", "--n-initial", "20", "--batch-size", "10", "--max-epochs", "2",
        "--device", "cpu", "--output-dir", str(tmp_path), "--markdown",
        str(tmp_path / "RESULTS.md"), "--quiet",
    ])
    assert code == 0
    text = (tmp_path / "RESULTS.md").read_text()
    assert "skfisher compare --strategies random kcenter_greedy" in text
    assert "| random | 1 |" in text and "| kcenter_greedy | 1 |" in text
    assert (tmp_path / "digits" / "learning_curves.png").exists()
    rows = [json.loads(line) for line in open(tmp_path / "digits" / "rounds.jsonl")]
    assert len(rows) == 6 and {r["strategy"] for r in rows} == {"random", "kcenter_greedy"}


def test_settings_build_the_stated_imbalance(tmp_path):
    import os

    from skfisher.datasets import FASHION_MNIST_DEFAULT_PATH

    if not os.path.isdir(FASHION_MNIST_DEFAULT_PATH):
        pytest.skip("Debian package dataset-fashion-mnist not installed")
    _, y, _, y_test = compare.load_setting("fashion_4class")
    assert np.bincount(y).tolist() == [250, 5000, 250, 250]
    assert set(np.unique(y_test)) == {0, 1, 2, 3}
    _, y10, _, _ = compare.load_setting("fashion_imb10")
    counts = np.bincount(y10)
    assert len(y10) == 10_000 and counts[0] > 5 * counts[1:].max()

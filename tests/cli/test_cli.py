import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from skfisher.cli import main
from skfisher.experiments import saving_sentence

FAST = [
    "--n-initial",
    "20",
    "--n-instances",
    "10",
    "--n-rounds",
    "2",
    "--max-epochs",
    "2",
    "--pool-size",
    "200",
    "--test-size",
    "100",
    "--quiet",
]


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


def test_run_compares_with_random_by_default(tmp_path, capsys):
    assert main(["run", "--strategy", "margin", "--output-dir", str(tmp_path), *FAST]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads((tmp_path / "results.json").read_text())
    ours, other = result["rounds"], result["baseline_rounds"]
    assert result["meta"]["baseline"] == "random" and result["meta"]["complete"] is True
    assert [r["n_labels"] for r in other] == [20, 30, 40]
    assert other[0]["accuracy"] == ours[0]["accuracy"]  # same initial labels, seed, training
    assert [r["query_seconds"] > 0 for r in other] == [False, True, True]
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["baseline_accuracy"]) for r in rows] == [r["accuracy"] for r in other]
    assert "random acc" in out[-6]
    expected = saving_sentence(
        [20, 30, 40], [r["accuracy"] for r in ours], [r["accuracy"] for r in other], name="margin"
    )
    assert out[-2] == expected and expected.startswith("margin ")
    # the random part of the run is random's own run: the same curve as --strategy random
    main(["run", "--strategy", "random", "--output-dir", str(tmp_path / "r"), *FAST])
    alone = json.loads((tmp_path / "r" / "results.json").read_text())
    assert [r["accuracy"] for r in alone["rounds"]] == [r["accuracy"] for r in other]
    assert "baseline_rounds" not in alone and alone["meta"]["baseline"] is None


def test_baseline_none_runs_the_strategy_alone(tmp_path, capsys):
    args = ["run", "--strategy", "margin", "--baseline", "none", "--output-dir", str(tmp_path)]
    assert main([*args, *FAST]) == 0
    out = capsys.readouterr().out
    assert "random" not in out and "labels;" not in out
    result = json.loads((tmp_path / "results.json").read_text())
    assert "baseline_rounds" not in result and result["meta"]["baseline"] is None
    with open(tmp_path / "results.csv") as f:
        assert "baseline_accuracy" not in f.readline()


def test_same_seed_same_curve(tmp_path):
    for name in ("a", "b"):
        assert (
            main(
                [
                    "run",
                    "--strategy",
                    "margin",
                    "--baseline",
                    "none",
                    "--output-dir",
                    str(tmp_path / name),
                    *FAST,
                ]
            )
            == 0
        )
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
        (["--baseline", "margin"], "invalid choice: 'margin'"),
        (["--n-instances", "0"], "expected a positive int"),
        (["--dataset", "fashion_mnist", "--data-dir", "/nonexistent"], "apt-get install"),
        (["--n-rounds", "500"], "exceeds the pool"),
        (["--n-rounds", "-1"], "--n-rounds must be >= 0"),
        (["--dataset", "cifar10"], "--dataset cifar10 needs --data-dir"),
    ],
)
def test_bad_arguments_exit_2_without_traceback(args, message, tmp_path):
    # in an empty folder: the default --output-dir of the README's main job,
    # run first in the checkout, would be refused before the arguments are checked
    proc = subprocess.run(
        [sys.executable, "-m", "skfisher", "run", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())  # bad arguments leave nothing behind


def test_run_refuses_to_overwrite_earlier_results(tmp_path, capsys):
    (tmp_path / "results.json").write_text("earlier")
    code = main(["run", "--strategy", "random", "--output-dir", str(tmp_path), *FAST])
    assert code == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "results.json").read_text() == "earlier"
    code = main(
        ["run", "--strategy", "random", "--output-dir", str(tmp_path), "--overwrite", *FAST]
    )
    assert code == 0
    assert json.loads((tmp_path / "results.json").read_text())["meta"]["complete"] is True


def test_an_unwritable_output_dir_fails_before_any_work(tmp_path, monkeypatch, capsys):
    from skfisher.cli import _main as cli

    monkeypatch.setattr(cli, "load_split", lambda *a, **k: pytest.fail("loaded data"))
    (tmp_path / "file").write_text("")
    code = main(["run", "--output-dir", str(tmp_path / "file" / "out"), *FAST])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot write results to" in err and "Traceback" not in err


class InterruptedStrategy:
    """Picks the first rows; Ctrl-C arrives during its second query."""

    calls = 0

    def __call__(self, learner, X_pool, n_instances=1):
        InterruptedStrategy.calls += 1
        if InterruptedStrategy.calls == 2:
            raise KeyboardInterrupt
        return np.arange(n_instances), None


def test_ctrl_c_exits_130_and_keeps_every_finished_round(tmp_path, monkeypatch, capsys):
    from skfisher.cli import _main as cli

    monkeypatch.setattr(cli, "get_strategy", lambda name, random_state: InterruptedStrategy())
    code = main(["run", "--strategy", "random", "--output-dir", str(tmp_path), *FAST])
    assert code == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err
    # saved after each round: rounds 0 and 1 finished, round 2 was interrupted
    result = json.loads((tmp_path / "results.json").read_text())
    assert [r["round"] for r in result["rounds"]] == [0, 1]
    assert result["meta"]["complete"] is False
    with open(tmp_path / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 2


def test_a_real_sigint_ends_run_with_130_and_no_traceback(tmp_path, ctrl_c_enabled):
    import signal
    import time

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "skfisher",
            "run",
            "--strategy",
            "random",
            "--output-dir",
            str(tmp_path),
            "--n-initial",
            "20",
            "--n-instances",
            "10",
            "--n-rounds",
            "100",
            "--max-epochs",
            "3",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not (tmp_path / "results.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if not (tmp_path / "results.json").exists():  # a starved machine: a Ctrl-C now
        proc.kill()  # would land in an import
        pytest.fail("the run saved no round within 240 s")
    time.sleep(0.5)  # most likely inside a fit, where skorch catches KeyboardInterrupt
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    # 130, or death by SIGINT (also status 130 in a shell): CPython reports the
    # latter when the interrupt passed through an exec() of a string, as in a
    # lazy import that builds dataclasses, even though skfisher caught it
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "interrupted" in err and "Traceback" not in err
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["meta"]["complete"] is False
    assert [r["round"] for r in result["rounds"]] == list(range(len(result["rounds"])))
    assert [r["n_labels"] for r in result["rounds"]] == [
        20 + 10 * r["round"] for r in result["rounds"]
    ]


def test_a_crafted_cifar10_batch_cannot_run_code(tmp_path, capsys):
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"data": Exploit(), b"labels": [0]}))
    code = main(
        [
            "run",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(folder),
            "--output-dir",
            str(tmp_path / "out"),
            *FAST,
        ]
    )
    assert code == 2
    assert "data_batch_1 is not a readable CIFAR-10 python batch" in capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.parametrize("command", ["run", "compare"])
def test_the_schedule_has_one_spelling(command, capsys):
    from skfisher.cli._parser import build_parser

    parse = build_parser().parse_args
    args = parse([command, "--n-rounds", "3", "--n-instances", "7"])
    assert (args.n_rounds, args.n_instances) == (3, 7)
    for old in ("--rounds", "--batch-size"):
        with pytest.raises(SystemExit):
            parse([command, old, "3"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_the_cli_spells_random_state_as_python_does():
    from skfisher.cli._parser import build_parser

    parse = build_parser().parse_args
    assert parse(["run", "--random-state", "3"]).random_state == 3
    assert parse(["label", "init", "P", "--labeled", "L", "--random-state", "4"]).random_state == 4


def test_library_messages_are_reworded_in_cli_terms():
    from skfisher.cli._main import _in_cli_terms

    message = "row 2: a.png is already labeled 'cat'; relabel=True changes it to 'dog'"
    assert _in_cli_terms(message).endswith("--relabel changes it to 'dog'")
    assert "--image-size HEIGHT WIDTH" in _in_cli_terms(
        "the images differ in size: ... Pass image_size=(height, width) to resize them all."
    )

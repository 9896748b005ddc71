"""skfisher compare: resumable rounds, summary table and plot, CLI smoke test."""

import json
import os

import numpy as np
import pytest

from skfisher.cli import main
from skfisher.experiments import _compare as compare
from skfisher.experiments import load_rounds, run_comparison, summarize

SMALL = dict(
    n_initial=20,
    n_instances=10,
    n_rounds=2,
    estimator_params={"max_epochs": 3, "device": "cpu"},
    progress=False,
)


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
    # a torn last line from a crash mid-write is set aside, the next record starts a line
    with open(tmp_path / "run" / "rounds.jsonl", "a") as f:
        f.write('{"setting": "digits", "strat')
    with pytest.warns(RuntimeWarning, match=r"moved 1 .*\(line 5\)"):
        run_comparison("digits", ["margin"], [0, 1], tmp_path / "run", **SMALL)
    assert (
        tmp_path / "run" / "rounds.rejected.txt"
    ).read_text() == '{"setting": "digits", "strat\n'
    resumed = load_rounds(tmp_path / "run" / "rounds.jsonl")
    assert keys(resumed) == keys(reference)
    for a, b in zip(resumed, reference):
        assert a["new_rows"] == b["new_rows"] and a["accuracy"] == b["accuracy"]
    # a complete run is not repeated
    run_comparison("digits", ["margin"], [0, 1], tmp_path / "run", **SMALL)
    assert len(load_rounds(tmp_path / "run" / "rounds.jsonl")) == len(reference)


def test_summary_statistics_table_and_plot(tmp_path):
    import matplotlib

    previous = dict.__getitem__(matplotlib.rcParams, "backend")
    matplotlib.use("svg")  # the user's backend, which the plot must leave alone
    records = [
        {"strategy": s, "seed": seed, "n_labels": n, "accuracy": acc}
        for s, base in (("random", 0.5), ("entropy", 0.6))
        for seed, shift in ((0, 0.0), (1, 0.1))
        for n, acc in ((10, base + shift), (20, base + shift + 0.2))
    ]
    try:
        table = summarize(records, markdown_path=tmp_path / "t.md", plot_path=tmp_path / "p.png")
        assert matplotlib.get_backend() == "svg"
    finally:
        dict.__setitem__(matplotlib.rcParams, "backend", previous)
    lines = table.splitlines()
    assert lines[0] == "| strategy | seeds | 10 | 20 | AULC |"
    row = next(line for line in lines if line.startswith("| entropy"))
    # accuracies 0.6/0.7 at 10 labels, 0.8/0.9 at 20: AULC 0.7 and 0.8
    assert row == "| entropy | 2 | 0.650 ± 0.050 | 0.850 ± 0.050 | 0.750 ± 0.050 |"
    assert (tmp_path / "t.md").read_text().strip() == table
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_smoke_two_strategies_one_seed_two_rounds(tmp_path, capsys):
    code = main(
        [
            "compare",
            "--strategies",
            "random",
            "kcenter_greedy",
            "--seeds",
            "0",
            "--n-rounds",
            "2",
            "--n-initial",
            "20",
            "--n-instances",
            "10",
            "--max-epochs",
            "2",
            "--device",
            "cpu",
            "--output-dir",
            str(tmp_path),
            "--markdown",
            str(tmp_path / "RESULTS.md"),
            "--quiet",
        ]
    )
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


def fake_records(strategies=("random", "margin"), seeds=(0, 1), n_rounds=2):
    """Records of digits with n_initial=20, n_instances=10, as run_comparison writes them."""
    return [
        {
            "setting": "digits",
            "strategy": s,
            "seed": seed,
            "round": r,
            "n_labels": 20 + 10 * r,
            "accuracy": 0.5 + 0.1 * r,
            "query_seconds": 0.0,
            "fit_seconds": 0.1,
            "new_rows": list(range(20 if r == 0 else 10)),
            "time": 0.0,
        }
        for s in strategies
        for seed in seeds
        for r in range(n_rounds + 1)
    ]


BAD_LINES = ["", "garbage", "{}", "null", '{"setting": "digits", "strat']


def test_bad_lines_in_the_middle_are_set_aside_and_no_record_is_lost(tmp_path):
    records = fake_records()
    lines = [json.dumps(r) for r in records]
    for i, bad in enumerate(BAD_LINES):
        lines.insert(2 + 2 * i, bad)
    path = tmp_path / "rounds.jsonl"
    path.write_text("\n".join(lines) + "\n")
    before = path.read_bytes()
    with pytest.warns(RuntimeWarning, match=r"skipped 5 unreadable or repeated line\(s\)"):
        assert load_rounds(path) == records
    assert path.read_bytes() == before  # loading never writes
    # a run with nothing left to compute keeps all 12 records, the bad lines aside
    with (
        pytest.warns(RuntimeWarning, match="moved 5 .* the 12 valid records are kept"),
        pytest.warns(RuntimeWarning, match="no manifest.json"),
    ):
        run_comparison("digits", ["random", "margin"], [0, 1], tmp_path, **SMALL)
    assert load_rounds(path) == records
    assert (tmp_path / "rounds.rejected.txt").read_text() == "\n".join(BAD_LINES) + "\n"


def test_a_repeated_record_is_skipped_on_load_and_never_appended(tmp_path):
    records = fake_records(strategies=("random",), seeds=(0,))
    path = tmp_path / "rounds.jsonl"
    for r in records + records[:1]:
        compare._append(path, r)
    assert len(path.read_text().splitlines()) == 3
    path.write_text(path.read_text() + json.dumps(records[0]) + "\n")
    with pytest.warns(RuntimeWarning, match=r"\(line 4\)"):
        assert load_rounds(path) == records


def _append_all(path, records):
    for r in records:
        compare._append(path, r)


def test_two_processes_appending_the_same_records_write_each_once(tmp_path):
    import multiprocessing

    records = fake_records(seeds=range(8))
    path = tmp_path / "rounds.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_all, args=(path, records)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    lines = path.read_text().splitlines()
    assert len(lines) == len(records)
    assert sorted(keys(map(json.loads, lines))) == sorted(keys(records))


def test_a_second_comparison_into_a_busy_folder_is_refused(tmp_path):
    import subprocess
    import sys

    from skfisher.utils._files import FolderInUseError, folder_lock

    folder = tmp_path / "digits"
    folder.mkdir()
    with folder_lock(folder):
        with pytest.raises(FolderInUseError, match="in use by another skfisher process"):
            run_comparison("digits", ["random"], [0], folder, **SMALL)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "skfisher",
                "compare",
                "--strategies",
                "random",
                "--seeds",
                "0",
                "--n-rounds",
                "0",
                "--output-dir",
                str(tmp_path),
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 2, proc.stderr
    assert f"pid {os.getpid()}" in proc.stderr and "Traceback" not in proc.stderr
    assert not (folder / "rounds.jsonl").exists()


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_a_failed_command_removes_only_an_empty_folder_it_created(tmp_path, error):
    from skfisher.utils._files import LOCK_NAME, results_folder

    new, kept, used = tmp_path / "new" / "deeper", tmp_path / "kept", tmp_path / "used"
    kept.mkdir()
    for folder, write in [(new, False), (kept, False), (used, True)]:
        with pytest.raises(error):
            with results_folder(folder) as lock:
                assert lock == folder / LOCK_NAME and lock.exists()
                if write:
                    (folder / "rounds.jsonl").write_text("")
                raise error
    assert not new.exists() and new.parent.exists()  # only the folder itself goes
    assert sorted(p.name for p in kept.iterdir()) == [LOCK_NAME]  # it was there before
    assert (used / "rounds.jsonl").exists()
    with results_folder(new):  # a command that succeeds keeps its folder
        pass
    assert new.is_dir()


def test_a_different_protocol_is_refused_and_a_longer_schedule_extends(tmp_path):
    small = {**SMALL, "n_rounds": 0}
    path = run_comparison("digits", ["random"], [0], tmp_path, **small)
    saved = path.read_bytes()
    changes = {
        "n_initial": (dict(n_initial=30), "n_initial: 20 saved, 30 now"),
        "lr": (
            dict(estimator_params={**SMALL["estimator_params"], "lr": 0.01}),
            "estimator_params.lr: '<unset>' saved, 0.01 now",
        ),
        "epochs": (
            dict(estimator_params={"max_epochs": 4, "device": "cpu"}),
            "estimator_params.max_epochs: 3 saved, 4 now",
        ),
    }
    for change, message in changes.values():
        with pytest.raises(ValueError, match="another protocol") as info:
            run_comparison("digits", ["random"], [0], tmp_path, **{**small, **change})
        assert message in str(info.value)
    assert path.read_bytes() == saved
    # a strategy whose defaults changed since the folder was made is refused too
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["digits"]["strategies"]["random"] = {"some_param": 1}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="strategies.random.some_param"):
        run_comparison("digits", ["random"], [0], tmp_path, **small)
    manifest["digits"]["strategies"]["random"] = {"RandomSampling": {}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    # the device is not part of the protocol, more rounds and new strategies extend it
    run_comparison(
        "digits",
        ["random", "margin"],
        [0],
        tmp_path,
        **{**small, "n_rounds": 1, "estimator_params": {"max_epochs": 3}},
    )
    assert sorted(keys(load_rounds(path))) == [
        (s, 0, r) for s in ("margin", "random") for r in (0, 1)
    ]
    assert set(json.loads((tmp_path / "manifest.json").read_text())["digits"]["strategies"]) == {
        "random",
        "margin",
    }


def test_a_folder_of_another_schedule_without_manifest_is_refused(tmp_path):
    path = tmp_path / "rounds.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in fake_records()))
    with pytest.raises(ValueError, match="another schedule"):
        run_comparison("digits", ["random"], [0], tmp_path, **{**SMALL, "n_instances": 5})
    assert not (tmp_path / "manifest.json").exists()


class Interrupting:
    """A strategy that picks the first rows and is interrupted on its ``n``-th call."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, learner, X_pool, n_instances=1):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return np.arange(n_instances), None


def test_ctrl_c_in_a_query_ends_the_comparison_and_records_no_partial_round(
    tmp_path,
    monkeypatch,
    capsys,
):
    monkeypatch.setattr(compare, "get_strategy", lambda name, random_state: Interrupting(2))
    with pytest.raises(KeyboardInterrupt):
        run_comparison("digits", ["random"], [0], tmp_path / "api", **SMALL)
    assert [r["round"] for r in load_rounds(tmp_path / "api" / "rounds.jsonl")] == [0, 1]
    code = main(
        [
            "compare",
            "--strategies",
            "random",
            "--seeds",
            "0",
            "--n-rounds",
            "2",
            "--n-initial",
            "20",
            "--n-instances",
            "10",
            "--max-epochs",
            "2",
            "--device",
            "cpu",
            "--output-dir",
            str(tmp_path / "cli"),
            "--quiet",
        ]
    )
    assert code == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err
    assert [r["round"] for r in load_rounds(tmp_path / "cli" / "digits" / "rounds.jsonl")] == [0, 1]


def test_jobs_2_gives_the_records_of_jobs_1(tmp_path):
    small = {**SMALL, "n_rounds": 1, "estimator_params": {"max_epochs": 2, "device": "cpu"}}
    one = load_rounds(run_comparison("digits", ["random", "margin"], [0], tmp_path / "a", **small))
    code = main(
        [
            "compare",
            "--strategies",
            "random",
            "margin",
            "--seeds",
            "0",
            "--n-rounds",
            "1",
            "--n-initial",
            "20",
            "--n-instances",
            "10",
            "--max-epochs",
            "2",
            "--device",
            "cpu",
            "--output-dir",
            str(tmp_path / "b"),
            "--quiet",
            "--jobs",
            "2",
        ]
    )
    assert code == 0
    two = load_rounds(tmp_path / "b" / "digits" / "rounds.jsonl")

    def content(records):
        return sorted((keys([r])[0], r["new_rows"], r["accuracy"]) for r in records)

    assert len(two) == 4 and content(two) == content(one)


def test_a_protocol_without_records_is_replaced(tmp_path, monkeypatch):
    def no_data(setting, data_dir):
        raise FileNotFoundError("no data")

    monkeypatch.setattr(compare, "_cached_setting", no_data)
    with pytest.raises(FileNotFoundError):
        run_comparison("digits", ["random"], [0], tmp_path, **SMALL)
    monkeypatch.undo()
    # the failed first try left no record, so another protocol is free to start
    run_comparison("digits", ["random"], [0], tmp_path, **{**SMALL, "n_rounds": 0, "n_initial": 30})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["digits"]["n_initial"] == 30


# --- strategy variants: a label with a registered name and parameters ---

TINY_FISHER = dict(
    n_initial=20,
    n_instances=10,
    n_rounds=1,
    estimator_params={"max_epochs": 1, "device": "cpu"},
    progress=False,
)


@pytest.fixture(scope="module")
def tiny_setting():
    """digits with a 120-image pool and a 60-image test set, so a FisherMask query is quick."""
    X_pool, y_pool, X_test, y_test = compare.load_setting("digits")
    data = (X_pool[:120], y_pool[:120], X_test[:60], y_test[:60])
    return dict(
        name="tiny",
        dataset="digits",
        data=data,
        n_initial=20,
        n_instances=10,
        n_rounds=1,
        description="digits, 120-image pool",
    )


VARIANTS = {"default": "fisher_mask", "sparsity=0.005": ("fisher_mask", {"sparsity": 0.005})}


def test_variants_run_under_their_label_and_resume(tmp_path, monkeypatch, tiny_setting):
    reference = load_rounds(
        run_comparison(tiny_setting, VARIANTS, [0], tmp_path / "ref", **TINY_FISHER)
    )
    assert keys(reference) == [(s, 0, r) for s in VARIANTS for r in (0, 1)]
    manifest = json.loads((tmp_path / "ref" / "manifest.json").read_text())["tiny"]
    variant = manifest["strategies"]["sparsity=0.005"]
    assert variant["strategy"] == "fisher_mask" and variant["FisherMask"]["sparsity"] == 0.005
    assert manifest["strategies"]["default"]["FisherMask"]["sparsity"] == 0.002

    original = compare._append

    def crash_on_the_third(path, record):
        if len(load_rounds(path)) == 3:
            raise KeyboardInterrupt
        original(path, record)

    monkeypatch.setattr(compare, "_append", crash_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        run_comparison(tiny_setting, VARIANTS, [0], tmp_path / "run", **TINY_FISHER)
    monkeypatch.undo()
    run_comparison(tiny_setting, VARIANTS, [0], tmp_path / "run", **TINY_FISHER)
    resumed = load_rounds(tmp_path / "run" / "rounds.jsonl")
    assert [(keys([r])[0], r["new_rows"]) for r in resumed] == [
        (keys([r])[0], r["new_rows"]) for r in reference
    ]


def test_a_label_with_changed_parameters_is_refused(tmp_path, tiny_setting):
    small = {**TINY_FISHER, "n_rounds": 0}  # no query: the protocol is checked all the same
    run_comparison(
        tiny_setting, {"v": ("fisher_mask", {"sparsity": 0.005})}, [0], tmp_path, **small
    )
    for variant, message in [
        (
            ("fisher_mask", {"sparsity": 0.01}),
            "strategies.v.FisherMask.sparsity: 0.005 saved, 0.01 now",
        ),
        (("bait", {"sparsity": 0.005}), "strategies.v.strategy: 'fisher_mask' saved, 'bait' now"),
        (("fisher_mask", {}), "strategies.v.FisherMask.sparsity: 0.005 saved, 0.002 now"),
    ]:
        with pytest.raises(ValueError, match="another protocol") as info:
            run_comparison(tiny_setting, {"v": variant}, [0], tmp_path, **small)
        assert message in str(info.value)
    # the same parameters resume; a list of names is the variants {name: (name, {})}
    run_comparison(
        tiny_setting,
        {"v": ("fisher_mask", {"sparsity": 0.005}), "fisher_mask": ("fisher_mask", {})},
        [0],
        tmp_path,
        **small,
    )
    run_comparison(tiny_setting, ["fisher_mask"], [0, 1], tmp_path, **small)
    assert sorted(keys(load_rounds(tmp_path / "rounds.jsonl"))) == [
        ("fisher_mask", 0, 0),
        ("fisher_mask", 1, 0),
        ("v", 0, 0),
    ]


@pytest.mark.parametrize(
    "strategies, message",
    [
        (
            {"v": ("fisher_mask", {"sparsty": 0.005})},
            r"Strategy 'v': Query strategy 'fisher_mask' "
            r"has no parameter\(s\) \['sparsty'\]",
        ),
        ({"v": ("fisher_mask", {"sparsity": 2.0})}, "'sparsity' parameter of FisherMask"),
        (
            {"v": ("margin", {"lam": 1.0})},
            r"'margin' has no parameter\(s\) \['lam'\]; it takes none",
        ),
        ({"v": ("random", {"random_state": 1})}, "random_state is set by each run's seed"),
        ({"v": ("fisher_maks", {})}, r"Unknown strategies \['fisher_maks'\]"),
        ({"v": ("fisher_mask", 0.005)}, "A strategy variant is a non-empty label"),
        ({"": "margin"}, "A strategy variant is a non-empty label"),
        ("margin", "strategies must be a list of names or a dict"),
    ],
)
def test_bad_variants_fail_before_any_data_or_fit(tmp_path, monkeypatch, strategies, message):
    def no_data(setting, data_dir):
        raise AssertionError("data loaded")

    monkeypatch.setattr(compare, "_cached_setting", no_data)
    with pytest.raises(ValueError, match=message):
        run_comparison("digits", strategies, [0], tmp_path, **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_variants_in_parallel_jobs_equal_one_job(tmp_path, tiny_setting):
    import torch

    variants = {
        "kcenter, 64 rows a pass": ("kcenter_greedy", {"forward_batch_size": 64}),
        "rand": "random",
    }
    small = {**TINY_FISHER, "n_threads": 1}
    threads = torch.get_num_threads()
    one = load_rounds(run_comparison(tiny_setting, variants, [0], tmp_path / "a", **small))
    assert torch.get_num_threads() == threads  # n_threads holds inside the call only
    two = load_rounds(
        run_comparison(tiny_setting, variants, [0], tmp_path / "b", n_jobs=2, **small)
    )
    assert sorted((keys([r])[0], r["new_rows"], r["accuracy"]) for r in two) == sorted(
        (keys([r])[0], r["new_rows"], r["accuracy"]) for r in one
    )
    assert {r["strategy"] for r in two} == set(variants)
    message = r"'n_threads' parameter of run_comparison must be an int in the range \[1, inf\)"
    with pytest.raises(ValueError, match=message):
        run_comparison(tiny_setting, variants, [0], tmp_path / "c", **{**small, "n_threads": 0})


def test_summary_lists_the_strategies_in_the_order_given():
    records = fake_records(strategies=("random", "margin", "zeta", "alpha"), seeds=(0,))
    table = summarize(records, strategies={"alpha": ("margin", {}), "margin": "margin"})
    assert [line.split(" | ")[0][2:] for line in table.splitlines()[2:]] == [
        "alpha",
        "margin",
        "random",
        "zeta",
    ]
    # without an order: registered strategies first, in registry order, then the rest
    assert [line.split(" | ")[0][2:] for line in summarize(records).splitlines()[2:]] == [
        "random",
        "margin",
        "zeta",
        "alpha",
    ]


def test_a_small_setting_subsamples_pool_and_test_after_the_imbalance():
    from skfisher.datasets import FASHION_MNIST_DEFAULT_PATH

    if not os.path.isdir(FASHION_MNIST_DEFAULT_PATH):
        pytest.skip("Debian package dataset-fashion-mnist not installed")
    spec = compare.SETTINGS["fashion_imb10_small"]
    X, y, X_test, y_test = compare.load_setting("fashion_imb10_small")
    counts = np.bincount(y)
    assert len(y) == spec["pool_size"] and len(y_test) == spec["test_size"] == 2000
    assert X.shape[1:] == X_test.shape[1:] == (1, 28, 28)
    assert 7 < counts[0] / counts[1:].mean() < 13  # 10:1, up to the subsampling
    assert set(np.unique(y_test)) == set(range(10))
    again = compare.load_setting("fashion_imb10_small")
    assert np.array_equal(again[1], y) and np.array_equal(again[3], y_test)  # seeded


@pytest.mark.parametrize(
    "schedule, expected",
    [
        ({"n_initial": 0}, r"'n_initial' parameter of run_comparison must be an int in the range "),
        ({"n_instances": 0}, r"'n_instances' parameter of run_comparison must be an int in the "),
        ({"n_rounds": -1}, r"'n_rounds' parameter of run_comparison must be an int in the range "),
        ({"n_initial": True}, r"'n_initial' parameter of run_comparison must be an int in the "),
    ],
)
def test_a_bad_schedule_is_refused_before_any_work(tmp_path, schedule, expected):
    # 0 is not "the setting's value": only None is
    with pytest.raises(ValueError, match=expected):
        run_comparison("digits", ["random"], [0], tmp_path / "out", **schedule)
    assert not (tmp_path / "out").exists()

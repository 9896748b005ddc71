"""benchmarks/ablation.py: its variants, the statistics and tables of ABLATION.md on
hand-made records, and a quick run end to end."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from skfisher import FisherMask
from skfisher.experiments._compare import _variants, load_rounds

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def ablation():
    sys.path.insert(0, str(BENCHMARKS))
    sys.modules.pop("ablation", None)
    try:
        import ablation

        yield ablation
    finally:
        sys.path.remove(str(BENCHMARKS))


def records(setting, deltas, seeds=(0, 1, 2)):
    """Runs with budgets 10 and 20: the default at accuracies 0.5 and 0.7 (AULC 0.6),
    each other label ``deltas[label][i]`` higher at both budgets for seed ``seeds[i]``."""
    out = []
    for name, shifts in {"default": [0.0] * len(seeds), **deltas}.items():
        for seed, d in zip(seeds, shifts):
            for r, (n, acc) in enumerate([(10, 0.5), (20, 0.7)]):
                out.append(
                    {
                        "setting": setting,
                        "strategy": name,
                        "seed": seed,
                        "round": r,
                        "n_labels": n,
                        "accuracy": acc + d,
                        "query_seconds": 2.0 * r,
                        "fit_seconds": 1.0,
                        "new_rows": [],
                        "time": 0.0,
                    }
                )
    return out


DELTAS = {
    "lam=0.1": [0.01, 0.02, 0.03],  # mean 0.02, s 0.01: CI +-0.0248, within noise
    "lam=0.01": [0.02, 0.021, 0.022],  # mean 0.021, s 0.001: CI [0.0185, 0.0235], better
    "bait": [-0.05, -0.06, -0.04],  # mean -0.05, s 0.01: CI [-0.0748, -0.0252], worse
}


def test_paired_t_interval_on_a_hand_made_example(ablation):
    default = {0: 0.6, 1: 0.6, 2: 0.6}
    d = ablation.paired_difference({0: 0.61, 1: 0.62, 2: 0.63, 3: 0.9}, default)
    # t(0.975, 2) = 4.3027, s / sqrt(3) = 0.01 / 1.7321: half-width 0.024841
    assert d["n"] == 3 and d["better"] == 3
    assert d["deltas"] == pytest.approx([0.01, 0.02, 0.03])
    assert d["mean"] == pytest.approx(0.02)
    assert (d["low"], d["high"]) == pytest.approx((-0.0048413771, 0.0448413771))
    assert ablation.verdict(d) == "within noise"
    d = ablation.paired_difference({0: 0.62, 1: 0.621, 2: 0.622}, default)
    assert (d["low"], d["high"]) == pytest.approx((0.0185158623, 0.0234841377))
    assert ablation.verdict(d) == "better"
    assert ablation.verdict(ablation.paired_difference({0: 0.5, 1: 0.49}, default)) == "worse"
    one = ablation.paired_difference({0: 0.7}, default)
    assert one["n"] == 1 and np.isnan(one["low"]) and ablation.verdict(one) == "too few seeds"


def test_only_complete_runs_of_the_chosen_seeds_count(ablation):
    recs = records("s", {"lam=0.1": [0.01, 0.02, 0.03]}, seeds=(0, 1, 2))
    recs = [
        r for r in recs if not (r["strategy"] == "lam=0.1" and r["seed"] == 1 and r["round"] == 1)
    ]  # an unfinished run
    runs = ablation.complete_runs(recs, ["default", "lam=0.1"], [0, 1], [10, 20])
    assert {name: list(per_seed) for name, per_seed in runs.items()} == {
        "default": [0, 1],
        "lam=0.1": [0],
    }
    stats = ablation.run_stats(runs["lam=0.1"], [10, 20])
    assert stats["aulc"] == {0: pytest.approx(0.61)}
    assert stats["accuracy"] == pytest.approx([0.51, 0.71])
    assert stats["query_seconds"] == 2.0  # rounds after the first only


def test_factor_table_rows(ablation):
    budget = [10, 20]
    runs = ablation.complete_runs(
        records("s", DELTAS), ablation.variants(["lam"]), [0, 1, 2], budget
    )
    stats = {name: ablation.run_stats(r, budget) for name, r in runs.items()}
    rows = ["default", "lam=0.01", "lam=0.1", "bait", "margin"]
    lines = ablation.factor_table("lam", stats, budget, rows).splitlines()
    assert lines[0] == (
        "| variant | seeds | AULC | 10 | 20 | query s/round | Δ AULC [95 % CI] "
        "| Δ per seed | better in | vs default |"
    )
    assert lines[2] == (
        "| default (lam=1.0) | 3 | 0.600 ± 0.000 | 0.500 | 0.700 | 2.0 |  |  |  |  |"
    )
    assert lines[3] == (
        "| lam=0.01 | 3 | 0.621 ± 0.001 | 0.521 | 0.721 | 2.0 "
        "| +0.021 [+0.019, +0.023] | +0.020, +0.021, +0.022 | 3/3 | better |"
    )
    assert lines[4] == (
        "| lam=0.1 | 3 | 0.620 ± 0.008 | 0.520 | 0.720 | 2.0 "
        "| +0.020 [-0.005, +0.045] | +0.010, +0.020, +0.030 | 3/3 "
        "| within noise |"
    )
    assert lines[5].endswith("| -0.050 [-0.075, -0.025] | -0.050, -0.060, -0.040 | 0/3 | worse |")
    assert lines[6] == "| margin | 0 | not run | | | | | | | |"
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_summary_says_where_a_variant_beats_the_default(ablation):
    budget = [10, 20]
    results = {}
    for setting, deltas in (
        ("digits", DELTAS),
        ("fashion", {**DELTAS, "lam=0.1": [0.03, 0.031, 0.032]}),
    ):
        runs = ablation.complete_runs(
            records(setting, deltas), ablation.variants(["lam"]), [0, 1, 2], budget
        )
        results[setting] = {name: ablation.run_stats(r, budget) for name, r in runs.items()}
    lines = ablation.summary_table(results, ["lam"]).splitlines()
    assert lines[0] == (
        "| factor | variant | Δ AULC digits | Δ AULC fashion | better beyond noise on |"
    )
    assert lines[2] == "| lam | lam=0.01 | +0.021 (better) | +0.021 (better) | both |"
    assert lines[3] == "| lam | lam=0.1 | +0.020 (within noise) | +0.031 (better) | fashion |"
    assert lines[4] == "| baselines | reference | not run | not run | neither |"
    assert lines[5] == "| baselines | bait | -0.050 (worse) | -0.050 (worse) | neither |"


def test_report_from_records_on_disk(ablation, tmp_path):
    spec = dict(name="tiny", n_initial=10, n_instances=10, n_rounds=1, description="two rounds")
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "rounds.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records("tiny", DELTAS))
    )
    invocation = {"machine": "a CPU, 2 cores", "device": "cpu", "threads": 1, "jobs": 2}
    text = ablation.report(
        [spec],
        ["lam", "sparsity"],
        [0, 1, 2],
        tmp_path,
        "python benchmarks/ablation.py --factors lam sparsity",
        [invocation, invocation],
        generated="2026-01-02",
    )
    assert text.startswith(
        "# FisherMask ablation\n\nGenerated by `python benchmarks/ablation.py "
        "--factors lam sparsity` on 2026-01-02"
    )
    assert (
        "- seeds: 0, 1, 2\n- runs computed on: a CPU, 2 cores, device cpu, 1 torch "
        "thread(s) per run, 2 run(s) at once\n" in text
    )
    assert "paired t-test" in text and "excludes 0" in text
    sections = [line for line in text.splitlines() if line.startswith("#")]
    assert sections == [
        "# FisherMask ablation",
        "## Summary",
        "## tiny: two rounds",
        "### lam",
        "### sparsity",
    ]
    assert "| sparsity=0.005 | 0 | not run |" in text
    assert "| sparsity | sparsity=0.02 | not run | none |" in text


def test_the_variants_of_the_study(ablation):
    from skfisher import ResNet18

    chosen = ablation.variants(list(ablation.FACTORS))
    assert list(chosen)[0] == "default" and chosen["default"] == ("fisher_mask", {})
    assert list(chosen)[-4:] == ["reference", "bait", "margin", "random"]
    assert chosen["reference"] == (
        "fisher_mask",
        {"fisher_samples": 1024, "weighting": "unweighted"},
    )
    assert chosen["layers=layer4"] == ("fisher_mask", {"layers": ["layer4"]})
    assert len(chosen) == 1 + 14 + 4
    # every variant is valid, and "layer4" names the late ResNet-18 stage
    assert _variants(chosen) == chosen
    names = [n for n, _ in ResNet18(in_channels=1, width=16).named_parameters()]
    assert any(n.startswith("layer4.") for n in names)
    for factor, params in ablation.FACTORS.items():
        assert all(set(p) <= set(FisherMask().get_params()) for p in params)
        assert factor in FisherMask().get_params()
        assert FisherMask().get_params()[factor] not in [p.get(factor) for p in params]


def test_quick_run_end_to_end_resumes_and_regenerates(ablation, tmp_path, capsys):
    out = tmp_path / "quick"
    argv = ["--quick", "--factors", "lam", "--output-dir", str(out), "--quiet"]
    assert ablation.main(argv) == 0
    text = (out / "ABLATION.md").read_text()
    rounds = (out / "digits_quick" / "rounds.jsonl").read_bytes()
    recs = load_rounds(out / "digits_quick" / "rounds.jsonl")
    assert {r["strategy"] for r in recs} == set(ablation.variants(["lam"]))
    assert {r["seed"] for r in recs} == {0, 1} and len(recs) == 7 * 2 * 2
    assert "## digits_quick:" in text and "### lam" in text
    assert "| lam=0.01 | 2 |" in text and "| random | 2 |" in text
    command = text.splitlines()[2].split("`")[1]  # Generated by `...`
    assert command.split()[0] == "python" and command.split()[1].endswith("ablation.py")
    assert command.split()[2:] == argv
    # a rerun computes nothing; --report-only rewrites the same tables
    assert ablation.main(argv) == 0
    assert (out / "digits_quick" / "rounds.jsonl").read_bytes() == rounds
    (out / "ABLATION.md").unlink()
    assert ablation.main([*argv, "--report-only"]) == 0
    again = (out / "ABLATION.md").read_text()
    assert again.split("## Summary")[1] == text.split("## Summary")[1]
    assert again.splitlines()[2].split("`")[1] == command  # --report-only is not recorded
    assert len((out / "invocations.jsonl").read_text().splitlines()) == 2


def test_variants_option_runs_only_those(ablation, tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(
        ablation, "run_comparison", lambda setting, chosen, *a, **k: ran.append(sorted(chosen))
    )
    out = tmp_path / "v"
    argv = ["--quick", "--factors", "lam", "--output-dir", str(out), "--quiet"]
    assert ablation.main([*argv, "--variants", "lam=0.01", "bait"]) == 0
    assert ran == [["bait", "lam=0.01"]]
    with pytest.raises(SystemExit, match=r"unknown --variants \['sparsity=0.02'\]"):
        ablation.main([*argv, "--variants", "sparsity=0.02"])


def test_part_of_the_study_still_reports_the_whole_study(ablation, tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(
        ablation,
        "run_comparison",
        lambda setting, chosen, *a, **k: ran.append((setting, sorted(chosen))),
    )
    out, md = tmp_path / "runs", tmp_path / "ABLATION.md"
    study = ["--output-dir", str(out), "--markdown", str(md)]
    part = ["--settings", "digits", "--factors", "lam", "--jobs", "2", "--quiet"]
    assert ablation.main([*part, *study]) == 0
    assert ran == [("digits", sorted(ablation.variants(["lam"])))]
    text = md.read_text()
    # the document names the command for the whole study, not the part that ran
    assert text.splitlines()[2].split("`")[1].split()[2:] == study
    for name in ablation.SETTING_NAMES:
        assert f"## {name}:" in text
    for factor in ablation.FACTORS:
        assert f"### {factor}" in text
    assert "| default (sparsity=0.002) | 0 | not run |" in text
    assert ablation.study_arguments(
        ablation.build_parser().parse_args([*part, "--seeds", "0", "1", "2", "3"])
    ) == ["--seeds", "0", "1", "2", "3"]


@pytest.mark.parametrize("folder", ["digits", "ablation/digits", "ablation/fashion_imb10_small"])
def test_the_committed_records_resume(ablation, folder, tmp_path):
    """The schedule and training of benchmarks/runs/<folder>/manifest.json are
    those the benchmark runs now: label_efficiency.py (compare's defaults) for
    runs/digits, ablation.py for runs/ablation."""
    import shutil

    from skfisher.experiments._records import _check_protocol, _protocol, _read_rounds
    from skfisher.experiments._settings import _spec

    source = BENCHMARKS / "runs" / folder
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    name = Path(folder).name
    spec = _spec(name)
    training = ablation.estimator_params("cpu")  # compare's defaults too
    schedule = {key: spec[key] for key in ("n_initial", "n_instances", "n_rounds")}
    records, bad = _read_rounds(copy / "rounds.jsonl")
    assert records and not bad
    # strategies={}: each strategy's parameters are left to the manifest
    _check_protocol(copy, name, _protocol(schedule, training, {}))
    assert (copy / "manifest.json").read_bytes() == (source / "manifest.json").read_bytes()

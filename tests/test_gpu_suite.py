"""benchmarks/gpu_suite.sh: the pieces, the time budget and resuming, without a GPU."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
FASHION = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


@pytest.fixture
def suite(tmp_path):
    """Run the suite with its state in tmp_path; returns (exit code, output)."""
    fashion = tmp_path / "fashion"
    fashion.mkdir()
    for name in FASHION:
        (fashion / (name + ".gz")).touch()
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "SKFISHER_FASHION_MNIST": str(fashion),
        "GPU_SUITE_SITE": str(tmp_path / "site"),
    }

    def run(*args):
        out = subprocess.run(
            [
                "bash",
                str(ROOT / "benchmarks" / "gpu_suite.sh"),
                "--state-dir",
                str(tmp_path / "state"),
                *args,
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        return out.returncode, out.stdout + out.stderr

    return run


def _write_state(tmp_path, **statuses):
    state = tmp_path / "state" / "state.json"
    state.parent.mkdir(exist_ok=True)
    pieces = {
        name.replace("_", "-"): {"status": s, "seconds": 100.0, "device": "NVIDIA H100"}
        for name, s in statuses.items()
    }
    state.write_text(json.dumps({"pieces": pieces}))


def test_list_names_every_piece_and_what_remains(suite):
    rc, out = suite("--list")
    assert rc == 0, out
    for piece in [
        "cuda-tests",
        "bench-selection",
        "bench-query",
        "scale-w16-p50000",
        "scale-w64-p50000-bf16",
        "label-fashion_imb100",
        "label-fashion_4class",
    ]:
        assert f"\n{piece} " in out
    assert "--widths 64 --pools 50000 --n-instances 1000 --dtypes bfloat16" in out
    assert "--settings fashion_4class --seeds 0 1 2 --device cuda" in out
    assert out.strip().splitlines()[-1].startswith("remaining pieces: cuda-tests bench-selection")


def test_dry_run_skips_completed_pieces_and_keeps_to_the_budget(suite, tmp_path):
    _write_state(tmp_path, cuda_tests="passed", bench_selection="failed")
    rc, out = suite("--dry-run")
    assert rc == 0, out
    assert "would run cuda-tests" not in out and "would run bench-selection" not in out
    lines = out.splitlines()
    assert lines[1].startswith("would run bench-query (")
    assert "failed pieces (rerun by naming them): bench-selection" in out
    assert "remaining pieces: bench-query " in out
    # the pieces planned fit in 8.5 minutes; the rest are left for the next invocation
    planned = [line for line in lines if line.startswith("would run")]
    seconds = [
        min(
            60 * int(line.split("(~")[1].split(" min")[0]),
            int(line.split("timeout ")[1].split(" s)")[0]),
        )
        for line in planned
    ]
    assert 0 < sum(seconds) <= 510 and "min left in this invocation" in out


def test_named_pieces_run_again_and_patterns_match(suite, tmp_path):
    _write_state(tmp_path, cuda_tests="passed")
    rc, out = suite("--dry-run", "--budget", "3600", "cuda-tests", "scale-w64-*")
    assert rc == 0, out
    planned = [line.split()[2] for line in out.splitlines() if line.startswith("would run")]
    assert planned == [
        "cuda-tests",
        "scale-w64-p5750",
        "scale-w64-p20000-K250",
        "scale-w64-p20000-K1000",
        "scale-w64-p50000-bf16",
    ]


def test_resumable_labeling_starts_with_little_time_left(suite, tmp_path):
    _write_state(tmp_path, label_fashion="partial")
    rc, out = suite("--dry-run", "--budget", "220", "cuda-tests", "label-fashion")
    assert rc == 0, out
    assert re.search(r"skip cuda-tests: needs ~5.0 min, 3\.\d min left", out), out
    assert re.search(r"would run label-fashion \(~15 min, timeout (1\d\d|20\d) s\)", out), out


def test_missing_data_and_options_are_reported(suite, tmp_path):
    for name in FASHION:
        (tmp_path / "fashion" / (name + ".gz")).unlink()
    rc, out = suite("--dry-run", "--budget", "3600", "label-fashion", "bench-query-floor")
    assert rc == 0
    assert "skip label-fashion: FashionMNIST files missing" in out
    has_floor = '"--floor"' in (ROOT / "benchmarks" / "bench_query.py").read_text()
    assert ("skip bench-query-floor: " in out) is not has_floor


def test_unknown_piece_and_no_gpu(suite):
    rc, out = suite("--dry-run", "nonsense")
    assert rc == 2 and "no piece matches 'nonsense'" in out
    if not torch.cuda.is_available():
        rc, out = suite("bench-query")
        assert rc == 3 and "no CUDA GPU is visible" in out

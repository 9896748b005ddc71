"""The GPU evidence of issue 12 in resumable pieces (run it through gpu_suite.sh).

Each invocation runs the pieces that remain, in order, until its time budget
(8.5 minutes by default, counted from the start of gpu_suite.sh) is spent: a
piece starts only when its expected time fits in what is left, and runs
under ``timeout`` for at most what is left. The labeling pieces are
resumable (``skfisher compare`` continues from its last saved round), so
they start whenever three minutes are left and continue in the next
invocation. Every piece writes its results into ``benchmarks/results/`` (or
``benchmarks/runs/`` and ``RESULTS.md``) naming the GPU, its output into
``benchmarks/results/gpu_suite/<piece>.log``, and its status into
``benchmarks/results/gpu_suite/state.json``. A piece that passed is skipped
later; one that failed is skipped until it is named. With ``$OUT`` set (the
device machine), the results are packed into ``$OUT/gpu_suite-results.tgz``
after every piece.

Usage: bash benchmarks/gpu_suite.sh [--list] [--dry-run] [--budget SECONDS] [PIECE ...]
PIECE may be a name or a shell pattern (``'scale-*'``); named pieces run
even when they passed before.
"""

import argparse
import datetime
import fnmatch
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = Path("benchmarks/results/gpu_suite")
PACKED = ["benchmarks/results", "benchmarks/runs", "benchmarks/RESULTS.md"]
MARGIN = 15  # seconds kept for stopping a piece and packing the results
RESUME_MIN = 180  # a resumable piece starts when this many seconds are left
LABEL_SETTINGS = ["fashion", "fashion_imb10", "fashion_imb100", "fashion_4class"]
FASHION_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def _has_option(option, path):
    """Whether ``option`` is defined in the script or module at ``path``."""
    path = ROOT / path
    return path.exists() and f'"{option}"' in path.read_text()


def _fashion_missing():
    folder = Path(os.environ.get("SKFISHER_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
    missing = [
        f
        for f in FASHION_FILES
        if not (folder / f).is_file() and not (folder / (f + ".gz")).is_file()
    ]
    if missing:
        return (
            f"FashionMNIST files missing in {folder}; carry .data "
            "(made by `bash benchmarks/gpu_suite.sh --prepare`)"
        )
    return None


def _label_command(setting):
    cmd = [
        "benchmarks/label_efficiency.py",
        "--settings",
        setting,
        "--seeds",
        "0",
        "1",
        "2",
        "--device",
        "cuda",
        "--quiet",
        "--jobs",
        os.environ.get("GPU_SUITE_JOBS", "8"),
    ]
    return cmd + os.environ.get("GPU_SUITE_LABEL_ARGS", "").split()


def _scale(*args):
    return ["benchmarks/bench_scale.py", "--device", "cuda", *args]


def pieces():
    """name -> (python arguments, expected minutes on one H100, resumable, why not runnable)."""
    floor = (
        None
        if _has_option("--floor", "benchmarks/bench_query.py")
        else ("benchmarks/bench_query.py has no --floor option yet (issue 13)")
    )
    table = {
        "cuda-tests": (
            ["-m", "pytest", "-m", "cuda", "-rA", "-p", "no:cacheprovider", "tests/test_cuda.py"],
            5,
            False,
            None,
        ),
        "bench-selection": (["benchmarks/bench_selection.py", "--device", "cuda"], 1, False, None),
        "bench-query": (["benchmarks/bench_query.py", "--device", "cuda"], 2, False, None),
        "bench-query-floor": (
            ["benchmarks/bench_query.py", "--device", "cuda", "--floor"],
            3,
            False,
            floor,
        ),
        # issue 6's grid; targets: narrow 50 000 / K 1000 <= 15 s; full width <= 60 s, 40 GB
        "scale-w16-p5750-20000": (
            _scale("--widths", "16", "--pools", "5750", "20000"),
            4,
            False,
            None,
        ),
        "scale-w16-p50000": (_scale("--widths", "16", "--pools", "50000"), 4, False, None),
        "scale-w64-p5750": (_scale("--widths", "64", "--pools", "5750"), 5, False, None),
        "scale-w64-p20000-K250": (
            _scale("--widths", "64", "--pools", "20000", "--n-instances", "250"),
            6,
            False,
            None,
        ),
        "scale-w64-p20000-K1000": (
            _scale("--widths", "64", "--pools", "20000", "--n-instances", "1000"),
            6,
            False,
            None,
        ),
        "scale-w64-p50000-bf16": (
            _scale(
                "--widths",
                "64",
                "--pools",
                "50000",
                "--n-instances",
                "1000",
                "--dtypes",
                "bfloat16",
            ),
            5,
            False,
            None,
        ),
    }
    missing = _fashion_missing()
    for setting in LABEL_SETTINGS:
        table[f"label-{setting}"] = (_label_command(setting), 15, True, missing)
    return table


def load_state(path):
    return json.loads(path.read_text()) if path.exists() else {"pieces": {}}


def save_state(path, state):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def _status(state, name):
    return state["pieces"].get(name, {}).get("status", "remaining")


def _expected_seconds(state, name, minutes):
    """The last full run's seconds when there is one, else the estimate."""
    entry = state["pieces"].get(name, {})
    if entry.get("status") in ("passed", "failed") and entry.get("seconds"):
        return entry["seconds"]
    return 60 * minutes


def _commit():
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() or None


def _gpu_name(python):
    """The CUDA device's name, or None without one; prints the package versions."""
    code = (
        "import sys, numpy, sklearn, torch\n"
        "print('python', sys.version.split()[0], 'torch', torch.__version__, 'numpy',"
        " numpy.__version__, 'scikit-learn', sklearn.__version__, file=sys.stderr)\n"
        "assert torch.cuda.is_available()\nprint(torch.cuda.get_device_name())"
    )
    out = subprocess.run([python, "-c", code], cwd=ROOT, capture_output=True, text=True)
    for line in out.stderr.splitlines():
        if line.startswith("python "):
            print("gpu_suite:", line)
    return out.stdout.strip() if out.returncode == 0 else None


def pack(out_dir):
    """Results and runs into ``$OUT/gpu_suite-results.tgz`` (extract it in the repository root)."""
    target = Path(out_dir) / "gpu_suite-results.tgz"
    tmp = target.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for name in PACKED:
            if (ROOT / name).exists():
                tar.add(
                    ROOT / name,
                    arcname=name,
                    filter=lambda t: None if t.name.endswith((".lock", ".tmp")) else t,
                )
    tmp.replace(target)


def run_piece(name, argv, timeout, python, log_path, device):
    """Run one piece under ``timeout``, its output to stdout and the log; returns (rc, seconds)."""
    command = ["timeout", "--kill-after=20", str(int(timeout)), python, *argv]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tic = time.time()
    with open(log_path, "a") as log:
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        header = f"# {name} on {device}, {now}, commit {_commit()}\n# $ python {' '.join(argv)}\n"
        log.write(header)
        print(header, end="", flush=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        for line in proc.stdout:
            log.write(line)
            print(line, end="", flush=True)
        rc = proc.wait()
        log.write(f"# exit {rc} after {time.time() - tic:.0f} s\n")
    return rc, time.time() - tic


def select(names, table, state, parser):
    """The pieces to consider: the named ones (patterns allowed), else those not yet done."""
    if not names:
        return [n for n in table if _status(state, n) not in ("passed", "failed")]
    chosen = []
    for pattern in names:
        hits = [n for n in table if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            parser.error(f"no piece matches {pattern!r}; pieces: {', '.join(table)}")
        chosen += [n for n in hits if n not in chosen]
    return chosen


def remaining_line(table, state):
    left = [n for n in table if _status(state, n) not in ("passed", "failed")]
    failed = [n for n in table if _status(state, n) == "failed"]
    line = "remaining pieces: " + (" ".join(left) if left else "none")
    if failed:
        line += "\nfailed pieces (rerun by naming them): " + " ".join(failed)
    return line


def list_pieces(table, state):
    print(f"{'piece':<24} {'status':<10} {'~min':>5}  command")
    for name, (argv, minutes, resumable, blocked) in table.items():
        entry = state["pieces"].get(name, {})
        status = _status(state, name)
        note = f"  [{entry.get('device')}, {entry.get('date')}]" if entry.get("device") else ""
        if blocked:
            note += f"  [not runnable: {blocked}]"
        kind = "resumable" if resumable else ""
        print(f"{name:<24} {status:<10} {minutes:>5}  python {' '.join(argv)} {kind}{note}")
    print(remaining_line(table, state))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pieces", nargs="*", metavar="PIECE")
    parser.add_argument("--list", action="store_true", help="print the pieces and their status")
    parser.add_argument("--dry-run", action="store_true", help="print what would run")
    parser.add_argument(
        "--budget",
        type=float,
        default=510,
        help="seconds for this invocation, from --started (default 510)",
    )
    parser.add_argument(
        "--started",
        type=float,
        default=None,
        help="epoch seconds the invocation started (gpu_suite.sh sets it)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=ROOT / STATE_DIR,
        help="where state.json and the logs are kept",
    )
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument(
        "--allow-cpu",
        action="store_true",
        help="run without a CUDA GPU (to test this script; results are wrong)",
    )
    args = parser.parse_args(argv)
    start = args.started or time.time()
    state_path = args.state_dir / "state.json"
    state = load_state(state_path)
    table = pieces()
    if args.list:
        list_pieces(table, state)
        return 0
    todo = select(args.pieces, table, state, parser)
    device = "(dry run)" if args.dry_run else _gpu_name(args.python)
    if device is None:
        if not args.allow_cpu:
            print("gpu_suite: no CUDA GPU is visible to python; nothing was run.", file=sys.stderr)
            return 3
        device = "CPU (--allow-cpu)"
    print(f"gpu_suite: device {device}; budget {args.budget:.0f} s")
    clock = 0.0  # seconds a dry run pretends have passed
    for name in todo:
        argv_, minutes, resumable, blocked = table[name]
        left = args.budget - (time.time() - start) - clock - MARGIN
        if blocked:
            print(f"skip {name}: {blocked}")
            continue
        need = RESUME_MIN if resumable else _expected_seconds(state, name, minutes)
        if need > left:
            print(
                f"skip {name}: needs ~{need / 60:.1f} min, {max(left, 0) / 60:.1f} min left "
                "in this invocation"
            )
            continue
        limit = left if resumable else min(left, max(3 * need, 120))
        if args.dry_run:
            print(
                f"would run {name} (~{minutes} min, timeout {limit:.0f} s): "
                f"python {' '.join(argv_)}"
            )
            clock += min(60 * minutes, left)
            continue
        print(f"run {name} (~{minutes} min, timeout {limit:.0f} s)", flush=True)
        rc, seconds = run_piece(
            name, argv_, limit, args.python, args.state_dir / f"{name}.log", device
        )
        timed_out = rc in (124, 137)
        entry = state["pieces"].get(name, {})
        before = entry.get("seconds", 0) if entry.get("status") == "partial" else 0
        status = (
            ("partial" if resumable else "timeout")
            if timed_out
            else ("passed" if rc == 0 else "failed")
        )
        state["pieces"][name] = {
            "status": status,
            "rc": rc,
            "seconds": round(before + seconds, 1),
            "device": device,
            "date": datetime.date.today().isoformat(),
            "commit": _commit(),
            "command": "python " + " ".join(argv_),
        }
        save_state(state_path, state)
        print(f"{name}: {status} (exit {rc}, {seconds:.0f} s)", flush=True)
        if os.environ.get("OUT") and not args.dry_run:
            pack(os.environ["OUT"])
    print(remaining_line(table, state))
    return 0


if __name__ == "__main__":
    sys.exit(main())

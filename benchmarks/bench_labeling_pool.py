"""Peak memory of a labeling project on 10 000 and 100 000 images.

For each pool size, generates that many 32x32 RGB PNG files (smooth colour
ramps with a little noise, two labeled classes of 10 images each), then runs
``skfisher label init`` and one ``skfisher label query`` on them, each in a
fresh process, and records its peak resident memory (``ru_maxrss``) and wall
time. The pool lives on disk (``pool.npy``, memory-mapped), ``init`` writes it
as it reads the images, and a query reads only the rows it scores
(``--max-candidates``, the same for both sizes), so the target is: peak memory
on 100 000 images within 1.5x of that on 10 000, for init and for query.

The result goes to ``benchmarks/results/bench_labeling_pool-cpu.json``.

Usage: python benchmarks/bench_labeling_pool.py [--sizes 10000 100000] [--workdir DIR]
       [--strategy fisher_mask] [--max-candidates 1000] [-n 20]
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

RESULTS = Path(__file__).parent / "results"
SOURCE = str(Path(__file__).resolve().parents[1])
TARGET_RATIO = 1.5

#: Runs one ``skfisher`` command in this fresh process and prints its peak memory.
CHILD = """
import json, resource, sys, time
from skfisher.cli import main
tic = time.perf_counter()
code = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
seconds = time.perf_counter() - tic
print(json.dumps({"exit": code, "seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1)}))
"""


def make_images(folder, n, seed):
    """``n`` 32x32 RGB PNGs under ``folder`` (1000 per sub-folder), all different."""
    rng = np.random.RandomState(seed)
    ramp = np.linspace(0, 1, 32, dtype=np.float32)
    for start in range(0, n, 1000):
        sub = folder / f"{start // 1000:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        k = min(1000, n - start)
        a, b = rng.rand(k, 1, 1, 3) * 255, rng.rand(k, 1, 1, 3) * 255
        noise = rng.randint(0, 8, size=(k, 32, 32, 3))
        for j in range(k):
            t = (
                (ramp[:, None, None] * 0.5 + ramp[None, :, None] * 0.5)
                if j % 2
                else ramp[:, None, None]
            )
            image = (a[j] * (1 - t) + b[j] * t + noise[j]).clip(0, 255).astype(np.uint8)
            Image.fromarray(image).save(sub / f"{start + j:06d}.png", compress_level=1)


def command(args, *cli):
    env = {**os.environ, "PYTHONPATH": SOURCE, "OMP_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *cli], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cli)} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["exit"] != 0:
        raise SystemExit(f"{' '.join(cli)} exited {result['exit']}:\n{proc.stderr[-3000:]}")
    return result


def measure(args, work, n):
    """Generate ``n`` images, then init and query a project on them."""
    root = work / f"images-{n}"
    tic = time.perf_counter()
    for c, cls in enumerate(("dark", "light")):
        make_images(root / "labeled" / cls, 10, seed=100 + c)
    make_images(root / "new", n - 20, seed=n)
    generated = time.perf_counter() - tic
    project = work / f"project-{n}"
    init = command(
        args, "label", "init", str(project), "--labeled", str(root / "labeled"),
        "--unlabeled", str(root / "new"), "--image-size", "32", "--max-epochs", "2",
    )  # fmt: skip
    query = command(
        args, "label", "query", str(project), "-n", str(args.n), "--strategy", args.strategy,
        "--max-candidates", str(args.max_candidates), "--device", "cpu",
    )  # fmt: skip
    pool_mb = (project / "pool.npy").stat().st_size / 2**20
    shutil.rmtree(root)
    shutil.rmtree(project)
    return {
        "n_images": n,
        "generate_seconds": round(generated, 1),
        "pool_npy_mb": round(pool_mb, 1),
        "init": init,
        "query": query,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 100_000])
    parser.add_argument("--workdir", default=None, help="default: a temporary folder")
    parser.add_argument("--strategy", default="fisher_mask")
    parser.add_argument("--max-candidates", type=int, default=1000)
    parser.add_argument("-n", type=int, default=20, help="images per query")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_labeling_pool-"))
    work.mkdir(parents=True, exist_ok=True)
    runs = [measure(args, work, n) for n in args.sizes]
    small, large = runs
    targets = {}
    for step in ("init", "query"):
        ratio = large[step]["peak_rss_mb"] / small[step]["peak_rss_mb"]
        targets[step] = {
            "peak_rss_ratio": round(ratio, 3),
            "target": f"<= {TARGET_RATIO}",
            "met": ratio <= TARGET_RATIO,
            "missed_by": None if ratio <= TARGET_RATIO else round(ratio - TARGET_RATIO, 3),
        }
    result = {
        "benchmark": "bench_labeling_pool",
        "date": datetime.date.today().isoformat(),
        "device": f"CPU {platform.machine()} ({args.threads} thread(s) per command)",
        "device_type": "cpu",
        "setting": (
            f"32x32 RGB PNGs; label init --image-size 32 --max-epochs 2, then label query "
            f"-n {args.n} --strategy {args.strategy} --max-candidates {args.max_candidates}; "
            "each command in a fresh process, peak RSS (ru_maxrss)"
        ),
        "runs": runs,
        "targets": targets,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "bench_labeling_pool-cpu.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

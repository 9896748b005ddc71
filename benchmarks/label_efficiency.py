"""Regenerate benchmarks/RESULTS.md: the labeling-efficiency comparison.

A thin wrapper around ``skfisher compare``; runs are resumable, so an
interrupted regeneration picks up where it stopped.

    python benchmarks/label_efficiency.py                       # digits, CPU, 5 seeds
    python benchmarks/label_efficiency.py --settings fashion fashion_imb10 \\
        fashion_imb100 fashion_4class --seeds 0 1 2 --device cuda --jobs 4   # on a GPU

Any other ``skfisher compare`` option passes through.
"""

import os
import sys
from pathlib import Path

from skfisher.cli import main

HERE = Path(os.path.relpath(Path(__file__).parent))  # relative: the command is recorded

if __name__ == "__main__":
    args = sys.argv[1:]
    defaults = ["--output-dir", str(HERE / "runs"), "--markdown", str(HERE / "RESULTS.md")]
    sys.exit(main(["compare", *defaults, *args]))

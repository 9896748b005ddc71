"""examples/sharded_query.py under torchrun with 2 CPU processes (gloo)."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "examples" / "sharded_query.py"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_ranks_agree(tmp_path):
    env = {**os.environ, "SKFISHER_FAST": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    env["PYTHONPATH"] = os.pathsep.join([str(SCRIPT.parents[1]), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    cmd += ["--master-port", str(_free_port()), str(SCRIPT)]  # the torchrun command
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    picks = dict(re.findall(r"rank (\d)/2: \d+ rows, picks (\[[\d, ]+\])", proc.stdout))
    assert set(picks) == {"0", "1"} and picks["0"] == picks["1"]
    assert len(eval(picks["0"])) == 10
    assert "accuracy after one sharded query" in proc.stdout

"""Shared helpers of the benchmark scripts: device naming and result files."""

import json
import platform
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def device_name(device):
    """A human name for the machine a result was measured on."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device):
    """Run ``fn()`` and return ``(result, seconds)``, synchronising the device."""
    synchronize(device)
    tic = time.perf_counter()
    out = fn()
    synchronize(device)
    return out, time.perf_counter() - tic


def write_result(name, result, folder=RESULTS):
    """Print the result as JSON and write it to <folder>/<name>-<device>.json
    (benchmarks/results/ by default)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tag = "gpu" if result["device_type"] == "cuda" else "cpu"
    path = folder / f"{name}-{tag}.json"
    text = json.dumps(result, indent=2)
    path.write_text(text + "\n")
    print(text)
    print(f"wrote {path}")
    return path

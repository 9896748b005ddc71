"""Devices and memory: where tensors go, how much fits, and optional peak profiling.

One home for the device and memory helpers that every layer uses: the
estimator's ``device="auto"`` and its check, the model's device, the free
memory of a device and how many rows fit in a budget, and the per-phase
timing of a query, whose CUDA peak-memory statistics are reset only inside
:func:`profile_memory` (resetting them otherwise would change figures the
user's own code may read).
"""

import contextlib
import contextvars
import os
import time

import torch

from .._config import get_config

__all__ = [
    "auto_device",
    "check_torch_device",
    "fits",
    "fitting_rows",
    "free_memory",
    "model_device",
    "phase",
    "profile_memory",
    "resolve_device",
]

_PROFILING = contextvars.ContextVar("skfisher_profile_memory", default=False)


def resolve_device(device):
    """A torch.device: None or "auto" is CUDA when available; CUDA gets its index."""
    if device is None or (isinstance(device, str) and device == "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def auto_device(device):
    """skorch's ``device`` with ``"auto"`` resolved: ``"cuda"`` when CUDA is
    available, else ``"cpu"``; any other value (None included: skorch then
    leaves the module where it is) is returned unchanged."""
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def check_torch_device(device):
    """Raise ValueError unless ``device`` names a torch device that exists here.

    ``device`` is skorch's: None or ``"auto"`` pass (see :func:`auto_device`).
    """
    resolved = auto_device(device)
    if resolved is None:
        return
    try:
        torch_device = torch.device(resolved)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda'."
        ) from None
    if torch_device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} but CUDA is not available here (no GPU or no "
                "driver); use device='auto' or 'cpu'."
            )
        if (torch_device.index or 0) >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} but only {torch.cuda.device_count()} CUDA "
                "device(s) are available."
            )


def model_device(model):
    """The device of a torch module's first parameter."""
    return next(model.parameters()).device


def free_memory(device):
    """Bytes free on ``device``: CUDA's free memory, or the host's available memory."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def fitting_rows(row_bytes, budget_bytes, *, low=1, high=None):
    """How many rows of ``row_bytes`` fit in ``budget_bytes``, clipped to [low, high]."""
    rows = max(int(budget_bytes // max(row_bytes, 1)), low)
    return rows if high is None else min(rows, high)


def fits(device, nbytes):
    """Whether ``nbytes`` fit in the configured ``embedding_memory_fraction`` of
    the free memory of ``device`` (see :func:`skfisher.set_config`)."""
    return nbytes <= get_config()["embedding_memory_fraction"] * free_memory(device)


@contextlib.contextmanager
def profile_memory(enabled=True):
    """Record the peak CUDA memory of every phase of the queries run inside.

    Each phase resets the device's peak-memory statistics
    (``torch.cuda.reset_peak_memory_stats``), which is why this is opt-in:
    outside this context the statistics are left alone and
    ``last_query_["peak_memory"]`` holds None for every phase.

    Examples
    --------
    >>> from skfisher import profile_memory
    >>> with profile_memory():  # doctest: +SKIP
    ...     learner.query(X_pool)
    """
    token = _PROFILING.set(bool(enabled))
    try:
        yield
    finally:
        _PROFILING.reset(token)


@contextlib.contextmanager
def phase(name, device, seconds, peaks):
    """Time a phase into ``seconds[name]``; record its peak CUDA memory into
    ``peaks[name]`` inside :func:`profile_memory` (else None)."""
    cuda = device.type == "cuda"
    profile = cuda and _PROFILING.get()
    if cuda:
        torch.cuda.synchronize(device)
    if profile:
        torch.cuda.reset_peak_memory_stats(device)
    tic = time.perf_counter()
    yield
    if cuda:
        torch.cuda.synchronize(device)
    seconds[name] = time.perf_counter() - tic
    peaks[name] = torch.cuda.max_memory_allocated(device) if profile else None

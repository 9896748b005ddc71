"""The CUDA memory arithmetic, run on the CPU with faked device-memory figures.

``torch.cuda``'s memory queries are replaced by a fake GPU whose free memory
and peak allocation the tests set, so the sizing of stored embeddings,
chunks, forward batches and per-phase peaks is checked without a GPU (the
same paths on a real GPU: tests/test_cuda.py).
"""

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import skfisher
from skfisher.fisher import _persample, _storage
from skfisher.fisher._storage import EmbeddingRows, allocate, on_device
from skfisher.selection import _problem, _space
from skfisher.selection._fishers import FisherFactor
from skfisher.utils._device import fits, fitting_rows, free_memory, phase, profile_memory

GPU = torch.device("cuda", 0)  # constructing a device needs no GPU
GiB, MiB = 2**30, 2**20


class FakeGPU:
    """Free memory, allocation and peak figures that torch.cuda reports."""

    def __init__(self, monkeypatch):
        self.free, self.total = 8 * GiB, 80 * GiB
        self.allocated = self.peak = 0
        self.calls = []
        cuda = torch.cuda
        monkeypatch.setattr(cuda, "mem_get_info", lambda device=None: (self.free, self.total))
        monkeypatch.setattr(cuda, "memory_allocated", lambda device=None: self.allocated)
        monkeypatch.setattr(cuda, "max_memory_allocated", lambda device=None: self.peak)
        monkeypatch.setattr(cuda, "synchronize", lambda device=None: self.calls.append("sync"))
        monkeypatch.setattr(
            cuda, "reset_peak_memory_stats", lambda device=None: self.calls.append("reset")
        )


@pytest.fixture
def gpu(monkeypatch):
    return FakeGPU(monkeypatch)


def test_free_memory_and_fits_read_the_gpu_figure(gpu):
    gpu.free = 10 * GiB
    assert free_memory(GPU) == 10 * GiB
    assert fits(GPU, 8 * GiB) and not fits(GPU, 8 * GiB + 1)  # 80 % of the free memory


@pytest.mark.parametrize(
    "storage, nbytes, expected",
    [
        ("auto", 4 * GiB, True),
        ("auto", 7 * GiB, False),  # above 80 % of 8 GiB free
        ("device", 100 * GiB, True),  # asked for: the caller gets CUDA's out-of-memory error
        ("host", 1, False),
    ],
)
def test_on_device_follows_storage_and_free_memory(gpu, storage, nbytes, expected):
    assert on_device(GPU, storage, nbytes) is expected
    assert on_device("cpu", storage, nbytes)  # no host copy off CUDA


@pytest.fixture
def empty_spy(monkeypatch):
    """torch.empty recording its keyword arguments and allocating on the CPU."""
    calls, real = [], torch.empty

    def spy(*shape, **kwargs):
        calls.append(kwargs)
        return real(*shape, dtype=kwargs["dtype"])

    monkeypatch.setattr(_storage.torch, "empty", spy)
    return calls


def test_allocate_falls_back_to_pinned_host_memory(gpu, empty_spy):
    gpu.free = 1 * GiB
    shape = (1000, 10, 5000)  # 100 MB of bfloat16
    allocate(shape, torch.bfloat16, GPU, "auto")
    allocate(shape, torch.bfloat16, GPU, "auto", reserve=800 * MiB)  # with it: too much
    allocate(shape, torch.bfloat16, GPU, "host")
    assert empty_spy == [
        {"dtype": torch.bfloat16, "device": GPU},
        {"dtype": torch.bfloat16, "pin_memory": True},
        {"dtype": torch.bfloat16, "pin_memory": True},
    ]


def test_chunks_take_a_fraction_of_free_gpu_memory(gpu):
    data = torch.zeros(500, 1000, dtype=torch.bfloat16)  # on the host, streamed to the GPU
    gpu.free = 8 * GiB
    rows = EmbeddingRows(data, GPU, group=10)
    # one float64 chunk in 2.5 % of the free memory, in whole candidates (10 rows);
    # no 64 MB cap on CUDA
    config = skfisher.get_config()
    expected = int(config["chunk_memory_fraction"] * 8 * GiB // 8000) // 10 * 10
    assert rows.chunk_rows == expected == 26840
    assert 8 * 1000 * rows.chunk_rows <= config["chunk_memory_fraction"] * gpu.free
    assert 8 * 1000 * rows.chunk_rows > config["cpu_chunk_bytes"]
    with skfisher.config_context(chunk_memory_fraction=0.0025):
        assert EmbeddingRows(data, GPU, group=10).chunk_rows == 2680
    gpu.free = 1 * MiB  # a candidate is never split, however short memory is
    assert EmbeddingRows(data, GPU, group=10).chunk_rows == 10


class _FakeCudaModel:
    """Parameters that claim to live on the GPU; rows are served by iter_chunks."""

    def parameters(self):
        yield type("P", (), {"device": GPU, "dtype": torch.float32})()


@pytest.fixture
def probe(gpu, monkeypatch):
    """``probe(n_rows, per_row)``: auto_forward_batch_size on a fake GPU whose work takes
    ``per_row`` bytes a row above the allocation; returns the batch and the
    probes' rows. Resetting the peak statistics fails the test."""
    monkeypatch.setattr(
        _persample, "iter_chunks", lambda X, n, model: iter([(0, torch.as_tensor(X[:n]))])
    )
    monkeypatch.setattr(
        torch.cuda,
        "reset_peak_memory_stats",
        lambda device=None: pytest.fail("auto_forward_batch_size reset the peak-memory statistics"),
    )

    def run(n_rows, per_row):
        """The batch and the probes' rows for ``n_rows`` rows of ``per_row`` bytes."""
        probed = []

        def work(rows):
            probed.append(len(rows))
            gpu.peak = max(gpu.peak, gpu.allocated + len(rows) * per_row)

        X = np.zeros((n_rows, 1, 8, 8), dtype=np.float32)
        return _persample.auto_forward_batch_size(_FakeCudaModel(), X, work), probed

    return run


@pytest.mark.parametrize(
    "per_row, free, expected",
    [
        (10 * MiB, 10 * GiB, 153),  # 15 % of 10 GiB at 10 MiB a row: 153.6 rows
        (1000, 10 * GiB, 2048),  # capped at max_forward_batch_size
        (4 * GiB, 10 * GiB, 1),  # at least one row
    ],
)
def test_auto_forward_batch_size_probe_arithmetic(gpu, probe, per_row, free, expected):
    gpu.free, gpu.allocated = free, 3 * GiB
    gpu.peak = gpu.allocated  # no earlier peak above the allocation: the probe's shows
    assert probe(100, per_row) == (expected, [_persample._PROBE_ROWS])
    config = skfisher.get_config()
    assert expected == fitting_rows(
        per_row, config["forward_memory_fraction"] * free, high=config["max_forward_batch_size"]
    )


def _budget_of(nbytes, gpu):
    """Free memory and fraction giving auto_forward_batch_size a budget of exactly ``nbytes``
    (the fraction inside the returned context)."""
    gpu.free, gpu.allocated = 4 * nbytes, 3 * GiB
    return skfisher.config_context(forward_memory_fraction=0.25)


def test_auto_forward_batch_size_grows_a_probe_whose_peak_is_hidden(gpu, probe):
    """An earlier peak 1 GiB above the allocation hides the small probes'
    peaks; the probe doubles until its own peak shows, then is exact."""
    with _budget_of(3 * GiB, gpu):
        gpu.peak = gpu.allocated + 1 * GiB
        batch, probed = probe(5000, 10 * MiB)
    assert probed == [8, 16, 32, 64, 128]  # 128 rows: 1280 MiB, above the old peak
    assert batch == 307 == fitting_rows(10 * MiB, 3 * GiB)  # as if measured from a reset
    assert gpu.calls.count("sync") == 2 * len(probed)


def test_auto_forward_batch_size_probes_stay_inside_the_budget(gpu, probe):
    """Hidden probes grow no further than the budget allows at their bound."""
    budget = 3 * GiB
    with _budget_of(budget, gpu):
        hidden = 2 * GiB  # above the allocation, more than half the budget
        gpu.peak = gpu.allocated + hidden
        batch, probed = probe(5000, 4 * MiB)
    assert batch == 768 == fitting_rows(4 * MiB, budget)
    assert probed[0] == _persample._PROBE_ROWS and len(probed) > 5
    for before, rows in zip(probed, probed[1:]):
        assert before < rows <= 2 * before
        assert rows * hidden / before <= budget  # at the bound the last probe gave
    assert [r * 4 * MiB > hidden for r in probed] == [False] * (len(probed) - 1) + [True]


@pytest.mark.parametrize(
    "n_rows, hidden, expected, probes",
    [
        # the bound allows no larger probe: sized from it (3 GiB // 5 GiB: one row)
        (5000, 40 * GiB, 1, [8]),
        # the whole pool ran without showing: sized from its 20 rows' bound, 64 MiB a row
        (20, 1280 * MiB, 48, [8, 16, 20]),
    ],
)
def test_auto_forward_batch_size_sizes_from_the_bound_of_a_hidden_peak(
    gpu, probe, n_rows, hidden, expected, probes
):
    with _budget_of(3 * GiB, gpu):
        gpu.peak = gpu.allocated + hidden
        assert probe(n_rows, 1 * MiB) == (expected, probes)
    assert expected == fitting_rows(hidden / probes[-1], 3 * GiB)


def test_auto_forward_batch_size_skips_the_probe_for_tiny_inputs(gpu):
    X = np.zeros((_persample._PROBE_ROWS, 1, 8, 8), dtype=np.float32)
    batch = _persample.auto_forward_batch_size(
        _FakeCudaModel(), X, lambda rows: pytest.fail("probed")
    )
    assert batch == skfisher.get_config()["cpu_forward_batch_size"]


def test_only_profiling_phases_reset_the_peak_statistics():
    """The one call of reset_peak_memory_stats in the package is in phase()
    (which makes it only inside profile_memory, as tested below)."""
    package = Path(skfisher.__file__).parent
    callers = set()
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                callers.update(
                    (path.name, func.name)
                    for node in ast.walk(func)
                    if isinstance(node, ast.Attribute) and node.attr == "reset_peak_memory_stats"
                )
    assert callers == {("_device.py", "phase")}


def test_phases_record_peak_gpu_memory_when_profiling(gpu):
    seconds, peaks = {}, {}
    gpu.peak = 5 * GiB
    with profile_memory(), phase("embeddings", GPU, seconds, peaks):
        assert gpu.calls == ["sync", "reset"]
    assert gpu.calls == ["sync", "reset", "sync"]
    assert peaks == {"embeddings": 5 * GiB} and seconds["embeddings"] >= 0
    with profile_memory(), phase("selection", torch.device("cpu"), seconds, peaks):
        pass
    assert peaks["selection"] is None and len(gpu.calls) == 3  # no CUDA call on the CPU


def test_phases_leave_the_peak_statistics_alone_unless_profiling(gpu):
    seconds, peaks = {}, {}
    gpu.peak = 5 * GiB
    with phase("embeddings", GPU, seconds, peaks):
        pass
    assert gpu.calls == ["sync", "sync"]  # timed, never reset
    assert peaks == {"embeddings": None} and seconds["embeddings"] >= 0
    with profile_memory(), profile_memory(False), phase("selection", GPU, seconds, peaks):
        pass
    assert "reset" not in gpu.calls and peaks["selection"] is None


def test_host_rows_stay_on_the_host_when_the_gpu_is_short(gpu):
    t = torch.zeros(100, 10, 50, dtype=torch.bfloat16)  # 1 MB
    gpu.free = 1 * GiB
    assert _problem._place(t, GPU, "host") is t
    assert _problem._place(t, GPU, "auto", reserve=900 * MiB) is t  # 1 MB + reserve > 80 %


def test_sample_space_only_when_its_grams_fit(gpu):
    n, C, d, steps = 50, 10, 5000, 10  # d large: the Gram form is cheaper
    rows = EmbeddingRows(torch.zeros(n * C, d), "cpu", group=C)
    pool = FisherFactor([rows], 1.0 / n)
    costs = _space._costs(rows, C, steps, pool, None)
    assert costs["gram"] < costs["covariance"]
    # float64 rows of the candidates and the pool factor (here the same), and Z
    grams = 8 * (2 * n * C * d + n * C * (n * C + n * C))
    fraction = skfisher.get_config()["embedding_memory_fraction"]
    gpu.free = int(grams / fraction) + 8
    assert _space.cheaper_space(rows, C, steps, pool, None, GPU) == "gram"
    gpu.free = int(grams / fraction) - 8
    assert _space.cheaper_space(rows, C, steps, pool, None, GPU) == "covariance"
    with skfisher.config_context(embedding_memory_fraction=fraction / 2):
        gpu.free = int(grams / fraction) + 8  # no longer fits in the smaller fraction
        assert _space.cheaper_space(rows, C, steps, pool, None, GPU) == "covariance"

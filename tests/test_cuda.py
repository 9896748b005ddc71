"""The CUDA path against the CPU float64 result (``pytest -m cuda``).

Every test is skipped without a CUDA GPU. Run them on one with
``pytest -m cuda tests/test_cuda.py`` (or ``bash benchmarks/gpu_suite.sh
cuda-tests``). The memory arithmetic behind them is also checked on the CPU
with faked device figures in tests/test_memory_sizing.py.
"""

import copy
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from skfisher import (
    FisherMask,
    ResNet18Classifier,
    config_context,
    fisher,
    get_config,
    profile_memory,
)
from skfisher.active import PoolLearner
from skfisher.fisher import (
    EmbeddingRows,
    ParamLayout,
    _diagonal,
    _embeddings,
    _persample,
    build_mask,
)
from skfisher.nets import ResNet18
from skfisher.selection import select_batch
from skfisher.strategies import _fisher_mask

# the distributed cases live beside the selection tests, a folder pytest may not have visited
sys.path.append(str(Path(__file__).parent / "selection"))
from test_distributed import CASES, _free_port, _problem  # noqa: E402

CUDA = "cuda"
LOW_PRECISION_RTOL = {"float32": 1e-6, "bfloat16": 1e-3, "float16": 1e-3}  # objective drift
K = 10
STRATEGIES = {"fisher_mask": {}, "bait": {"mask": "output", "backward_steps": 1}}

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA GPU (torch.cuda.is_available() is False)",
    ),
]


def _moved(net, device, dtype):
    """A copy of a fitted net with its module on ``device`` in ``dtype``."""
    net = copy.deepcopy(net)
    net.module_.to(device=device, dtype=dtype)
    net.device = device
    return net


@pytest.fixture(scope="module")
def nets(fitted_net):
    """The digits net on the CPU in float64, and on the GPU in float64 and float32."""
    return {
        "cpu64": _moved(fitted_net, "cpu", torch.float64),
        "cuda64": _moved(fitted_net, CUDA, torch.float64),
        "cuda32": _moved(fitted_net, CUDA, torch.float32),
    }


@pytest.fixture(scope="module")
def rows(digits):
    """(pool, labeled) digits images."""
    X = digits[0]
    return X[200:600], X[:100]


def _query(net, rows, **params):
    """A FisherMask query with a labeled set; returns (picks, gains, the strategy)."""
    pool, labeled = rows
    strategy = FisherMask(fisher_samples=128, random_state=0, **params)
    idx, gains = strategy(PoolLearner(net, labeled), pool, n_instances=K)
    return idx, gains, strategy


@pytest.mark.parametrize("params", STRATEGIES.values(), ids=STRATEGIES.keys())
def test_picks_on_cuda_equal_the_cpu_float64_picks(nets, rows, params):
    idx_cpu, gains_cpu, cpu = _query(nets["cpu64"], rows, **params)
    idx_gpu, gains_gpu, gpu = _query(nets["cuda64"], rows, **params)
    assert gpu.last_query_["mask_layers"] == cpu.last_query_["mask_layers"]
    assert gpu.last_query_["storage"] == "device"
    np.testing.assert_array_equal(idx_gpu, idx_cpu)
    np.testing.assert_allclose(gains_gpu, gains_cpu, rtol=1e-8)
    np.testing.assert_allclose(
        gpu.last_query_["objective"], cpu.last_query_["objective"], rtol=1e-9
    )


@pytest.mark.parametrize("dtype", LOW_PRECISION_RTOL)
def test_low_precision_storage_on_cuda_stays_within_the_objective_drift(nets, rows, dtype):
    idx_cpu, _, cpu = _query(nets["cpu64"], rows)
    idx_gpu, _, gpu = _query(nets["cuda64"], rows, embedding_dtype=dtype)
    exact = cpu.last_query_["objective"]
    drift = abs(gpu.last_query_["objective"] - exact) / exact
    assert drift <= LOW_PRECISION_RTOL[dtype], f"{dtype} objective drift {drift:.2e}"
    assert len(set(idx_gpu) & set(idx_cpu)) >= K // 2


@pytest.mark.parametrize("storage", ["host", "auto"])
def test_host_storage_streams_pinned_memory_with_the_same_picks(nets, rows, monkeypatch, storage):
    # with "auto", embeddings that do not fit on the device go to the host
    fraction = 1e-12 if storage == "auto" else None
    seen, streamed = {}, []
    prepare, chunks = _fisher_mask.prepare, EmbeddingRows.chunks

    def prepare_spy(V, *args, **kwargs):
        seen["V"] = V
        return prepare(V, *args, **kwargs)

    def chunks_spy(self, dtype=None):
        for start, chunk in chunks(self, dtype):
            streamed.append((self.data.device.type, self.data.is_pinned(), chunk.device.type))
            yield start, chunk

    monkeypatch.setattr(_fisher_mask, "prepare", prepare_spy)
    monkeypatch.setattr(EmbeddingRows, "chunks", chunks_spy)
    with config_context(embedding_memory_fraction=fraction):
        idx_gpu, gains_gpu, gpu = _query(nets["cuda64"], rows, storage=storage)
    V = seen["V"].G.data  # the stored (non-output) entries of the factored rows
    assert V.device.type == "cpu" and V.is_pinned()
    assert gpu.last_query_["storage"] == "host"
    assert streamed and all(s == ("cpu", True, "cuda") for s in streamed), set(streamed)

    monkeypatch.undo()
    idx_cpu, gains_cpu, _ = _query(nets["cpu64"], rows)
    np.testing.assert_array_equal(idx_gpu, idx_cpu)
    np.testing.assert_allclose(gains_gpu, gains_cpu, rtol=1e-8)


@pytest.mark.parametrize("earlier_peak", [0, 2**29, 2**32])  # none, below, above the budget
@pytest.mark.parametrize("work", ["fisher_diagonal", "masked_embeddings"])
def test_auto_forward_batch_size_stays_inside_free_memory(monkeypatch, work, earlier_peak):
    """The batches stay inside the budget whether or not an earlier
    allocation hides the probe's peak (auto_forward_batch_size never resets it)."""
    device = torch.device(CUDA, torch.cuda.current_device())
    model = ResNet18(width=64).to(device).eval()  # full width: megabytes of memory a row
    X = torch.rand(2048, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    free = torch.cuda.mem_get_info(device)[0]
    budget = 2**30  # one batch's temporaries may take 1 GiB of the free memory
    chosen, bases, auto = [], [], _persample.auto_forward_batch_size

    def auto_spy(*args):
        torch.cuda.synchronize(device)
        bases.append(torch.cuda.memory_allocated(device))
        torch.cuda.reset_peak_memory_stats(device)  # the test's own reset
        if earlier_peak:  # freed at once: only the peak statistic keeps it
            torch.empty(earlier_peak, dtype=torch.uint8, device=device)
            torch.cuda.empty_cache()
        chosen.append(auto(*args))
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)  # the batches' peak from here
        return chosen[-1]

    for module in (_diagonal, _embeddings):  # where the two works look it up
        monkeypatch.setattr(module, "auto_forward_batch_size", auto_spy)
    with config_context(forward_memory_fraction=budget / free):
        if work == "fisher_diagonal":
            fisher.fisher_diagonal(model, X, forward_batch_size="auto")
        else:
            mask = build_mask(None, ParamLayout(model), 0.0005, method="random", random_state=0)
            out = torch.empty(len(X), 10, len(mask))  # on the host: only temporaries on the GPU
            fisher.masked_embeddings(model, X, mask, forward_batch_size="auto", out=out)
    torch.cuda.synchronize(device)
    (batch,), (base,) = chosen, bases
    peak = torch.cuda.max_memory_allocated(device) - base
    if earlier_peak < budget:  # the probe's peak shows, at once or once it has grown
        assert _persample._PROBE_ROWS < batch < get_config()["max_forward_batch_size"], batch
    else:  # sized from the hidden bound: 4 GiB over 8 rows, 2 rows in 1 GiB
        assert 1 <= batch <= 2, batch
    # the probe's memory per row, extrapolated to the batch, holds (10 % slack)
    assert peak <= 1.1 * budget, (batch, peak / 2**20)
    assert peak < free


def test_chunks_stay_inside_free_memory(monkeypatch):
    device = torch.device(CUDA, torch.cuda.current_device())
    n, C, d = 4000, 10, 2000
    gen = torch.Generator().manual_seed(0)
    V = torch.randn(n, C, d, generator=gen).to(torch.bfloat16).pin_memory()
    free = torch.cuda.mem_get_info(device)[0]
    rows = EmbeddingRows(V.view(n * C, d), device, group=C)
    assert C <= rows.chunk_rows
    assert 8 * d * rows.chunk_rows <= 1.001 * get_config()["chunk_memory_fraction"] * free
    sizes, chunks = [], EmbeddingRows.chunks

    def chunks_spy(self, dtype=None):
        for start, chunk in chunks(self, dtype):
            sizes.append(chunk.numel() * chunk.element_size())
            yield start, chunk

    monkeypatch.setattr(EmbeddingRows, "chunks", chunks_spy)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    # small chunks, so that a step streams many of them
    with config_context(chunk_memory_fraction=0.9 * 2**23 / free):
        idx, _, objective = select_batch(
            V, 5, device=device, storage="host", space="covariance", return_gains=True
        )
    peak = torch.cuda.max_memory_allocated(device) - base
    assert len(sizes) > 100 and max(sizes) <= 2**23
    # the state (A, F: 2 d x d; P, Q and a step's products: 4 n C x C) and a few chunks
    state = 8 * (2 * d * d + 4 * n * C * C)
    assert peak <= state + 8 * 2**23, peak / 2**20
    monkeypatch.undo()
    exact = select_batch(V, 5, device="cpu", return_gains=True)
    np.testing.assert_array_equal(idx, exact[0])
    assert abs(objective - exact[2]) <= 1e-6 * abs(exact[2])


def test_peak_memory_of_every_phase_is_recorded(nets, rows):
    _, _, strategy = _query(nets["cuda32"], rows)  # the default float32 net, batch "auto"
    assert set(strategy.last_query_["peak_memory"].values()) == {None}  # not asked for
    with profile_memory():
        _, _, strategy = _query(nets["cuda32"], rows)
    peaks = strategy.last_query_["peak_memory"]
    assert set(peaks) == {"fisher_diagonal", "embeddings", "selection"}
    weights = sum(p.numel() * p.element_size() for p in nets["cuda32"].module_.parameters())
    total = torch.cuda.mem_get_info()[1]
    for phase, peak in peaks.items():
        assert isinstance(peak, int) and weights <= peak <= total, (phase, peak)


def _nccl_worker(rank, world, port, out):
    from skfisher.selection import select_batch_sharded

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.cuda.set_device(rank)
    torch.distributed.init_process_group("nccl", rank=rank, world_size=world)
    try:
        for i, (_n, _C, _d, K, n_labeled, b, split, _) in enumerate(CASES):  # as with gloo
            V, L = _problem(i)
            shard = V if world == 1 else (V[:split] if rank == 0 else V[split:])
            picks = select_batch_sharded(
                shard,
                K,
                labeled_fisher=L if n_labeled else None,
                n_labeled=n_labeled,
                backward_steps=b,
                device=f"cuda:{rank}",
            )
            out[(rank, i)] = picks.tolist()
    finally:
        torch.distributed.destroy_process_group()


def test_sharded_selection_over_nccl_picks_what_one_process_picks():
    import torch.multiprocessing as mp

    if not torch.distributed.is_nccl_available():
        pytest.skip("this torch build has no NCCL")
    world = min(2, torch.cuda.device_count())  # NCCL wants one GPU a rank
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_nccl_worker, args=(world, _free_port(), out), nprocs=world, join=True)
        out = dict(out)
    for i, (_n, _C, _d, K, n_labeled, b, _, dtype) in enumerate(CASES):
        V, L = _problem(i)
        # float64 against the CPU; bfloat16 (float32 passes) against one process on the GPU
        single = select_batch(
            V,
            K,
            labeled_fisher=L if n_labeled else None,
            n_labeled=n_labeled,
            backward_steps=b,
            device="cpu" if dtype == "float64" else CUDA,
        )
        assert all(out[(r, i)] == single.tolist() for r in range(world)), (i, out)


def test_resnet_fits_on_cuda_and_unpickles_on_a_cpu_only_machine(digits, monkeypatch):
    from skorch.exceptions import DeviceWarning

    X, y, X_test, _ = digits
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # CPU-comparable
        net = ResNet18Classifier(max_epochs=10, random_state=0, device=CUDA)
        net.fit(X[:200], y[:200])
        assert all(p.is_cuda for p in net.module_.parameters())
        proba = net.predict_proba(X_test[:100])
        pred = net.predict(X_test[:100])
    assert net.score(X_test, digits[3]) > 0.5
    blob = pickle.dumps(net)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a CPU machine
    with pytest.warns(DeviceWarning, match="no CUDA devices"):
        restored = pickle.loads(blob)
    monkeypatch.undo()
    assert torch.device(restored.device).type == "cpu"
    assert all(p.device.type == "cpu" for p in restored.module_.parameters())
    restored_proba = restored.predict_proba(X_test[:100])
    np.testing.assert_allclose(restored_proba, proba, atol=1e-4)
    top2 = np.sort(proba, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-3
    np.testing.assert_array_equal(restored.predict(X_test[:100])[clear], pred[clear])

"""Stored embedding rows: chunked products equal the dense algebra; memory stays bounded."""

import numpy as np
import pytest
import torch

from skfisher import config_context
from skfisher.fisher._storage import EmbeddingRows, allocate, storage_dtype
from skfisher.utils._device import fits, fitting_rows, free_memory

CPU = torch.device("cpu")


@pytest.fixture
def data():
    return torch.randn(23, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("chunk_rows", [None, 1, 4, 100])
def test_products_match_the_dense_matrix(data, dtype, chunk_rows):
    stored = data.to(dtype)
    exact = stored.double() * 0.5  # what the rows represent, at storage precision
    rows = EmbeddingRows(stored, CPU, scale=0.5, chunk_rows=chunk_rows)
    M = torch.randn(7, 3, dtype=torch.float64)
    tol = 1e-12 if dtype == torch.float64 else 1e-5  # products run in float32 below float64
    torch.testing.assert_close(rows.matmul(M), exact @ M, rtol=tol, atol=tol)
    torch.testing.assert_close(rows.gram(), exact.T @ exact, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rows.rows(3, 9), exact[3:9], rtol=0, atol=0)
    torch.testing.assert_close(rows.dense(), exact, rtol=0, atol=0)
    assert rows.matmul(M).dtype == rows.gram().dtype == torch.float64


def test_scaled_shares_the_storage(data):
    rows = EmbeddingRows(data, CPU, scale=2.0)
    half = rows.scaled(0.25)
    assert half.data is rows.data and half.scale == 0.5 and rows.scale == 2.0
    torch.testing.assert_close(half.dense(), data * 0.5)


def test_chunks_are_bounded_and_aligned_to_groups(data):
    rows = EmbeddingRows(data.float(), CPU, chunk_rows=10, group=3)
    assert rows.chunk_rows == 9
    chunks = list(rows.chunks(torch.float64))
    assert [start for start, _ in chunks] == [0, 9, 18]
    assert [len(c) for _, c in chunks] == [9, 9, 5]
    assert all(c.dtype == torch.float64 for _, c in chunks)
    # rows stored as asked are read at once, as a view
    ((start, view),) = rows.chunks(torch.float32)
    assert start == 0 and view.data_ptr() == rows.data.data_ptr()


def test_default_chunks_follow_the_cpu_cap():
    with config_context(cpu_chunk_bytes=8 * 50 * 10):
        rows = EmbeddingRows(torch.zeros(1000, 50, dtype=torch.bfloat16), CPU, group=4)
    assert rows.chunk_rows == 8  # 10 float64 rows fit, rounded down to whole groups


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_check_finite_names_the_argument(data, bad):
    data[17, 2] = bad
    with pytest.raises(ValueError, match="pool_fisher contains NaN or infinity"):
        EmbeddingRows(data.half(), CPU, chunk_rows=5).check_finite("pool_fisher")


def test_storage_dtype_names():
    assert storage_dtype("bfloat16") is torch.bfloat16
    assert storage_dtype(torch.float16) is torch.float16
    with pytest.raises(ValueError, match=r"embedding dtype must be one of \['bfloat16'"):
        storage_dtype("int8")


def test_fitting_rows_and_memory():
    assert fitting_rows(10, 95) == 9
    assert fitting_rows(10, 5) == 1  # at least one row
    assert fitting_rows(10, 1000, high=30) == 30
    assert free_memory(CPU) > 0
    assert fits(CPU, 1) and not fits(CPU, 10**18)


def test_allocate_on_the_cpu_ignores_host_storage():
    t = allocate((2, 3, 4), torch.bfloat16, CPU, storage="host")
    assert t.shape == (2, 3, 4) and t.dtype == torch.bfloat16 and t.device == CPU

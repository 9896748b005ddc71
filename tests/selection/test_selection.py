"""select_batch against the brute-force algebra of docs/design.md (Greedy selection)."""

import numpy as np
import pytest
import torch
from _reference import brute_force_select, exact_greedy_select

from skfisher import config_context
from skfisher.fisher import _storage
from skfisher.selection import _covariance, _problem, _space
from skfisher.selection._select import select_batch


def _select(*args, **kwargs):
    """``select_batch`` with its gains and objective."""
    return select_batch(*args, return_gains=True, **kwargs)


CASES = [
    # n, C, d, K, n_labeled, backward_steps
    (30, 3, 5, 4, 0, 0),
    (30, 3, 40, 4, 0, 0),
    (40, 3, 8, 5, 10, 0),
    (40, 3, 8, 5, 10, 1),
    (25, 2, 100, 3, 6, 1),
    (30, 4, 6, 5, 0, 2),
    (60, 10, 12, 6, 20, 0),
]


@pytest.mark.parametrize("space", ["covariance", "gram"])
@pytest.mark.parametrize("n, C, d, K, n_labeled, b", CASES)
def test_identical_picks_and_objective_to_brute_force(n, C, d, K, n_labeled, b, space):
    rng = np.random.RandomState(n + d + K)
    V = rng.randn(n, C, d)
    L = rng.randn(n_labeled, C, d) if n_labeled else None
    F_lab = np.einsum("xcd,xce->de", L, L) / n_labeled if n_labeled else None
    ref, ref_obj = brute_force_select(V, K, F_lab=F_lab, n_labeled=n_labeled, backward_steps=b)
    idx, gains, obj = _select(
        V, K, labeled_fisher=L, n_labeled=n_labeled, backward_steps=b, device="cpu", space=space
    )
    np.testing.assert_array_equal(idx, ref)
    assert obj == pytest.approx(ref_obj, rel=1e-9)
    assert gains.shape == (K,) and np.all(gains > 0)


@pytest.mark.parametrize("space", ["covariance", "gram"])
def test_explicit_pool_fisher_matrix_or_embeddings(space):
    rng = np.random.RandomState(3)
    V, P = rng.randn(30, 3, 7), rng.randn(12, 3, 7)
    F_pool = np.einsum("xcd,xce->de", P, P) / 12
    ref, _ = brute_force_select(V, 5, F_pool=F_pool)
    given = P if space == "gram" else F_pool
    idx, _, _ = _select(V, 5, pool_fisher=given, device="cpu", space=space)
    np.testing.assert_array_equal(idx, ref)


def test_matrix_and_embedding_forms_of_the_labeled_fisher_agree():
    rng = np.random.RandomState(4)
    V, L = rng.randn(30, 3, 6), rng.randn(9, 3, 6)
    F_lab = np.einsum("xcd,xce->de", L, L) / 9
    a = select_batch(V, 6, labeled_fisher=L, n_labeled=9, lam=0.3, device="cpu")
    b = select_batch(V, 6, labeled_fisher=F_lab, n_labeled=9, lam=0.3, device="cpu")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, brute_force_select(V, 6, F_lab=F_lab, n_labeled=9, lam=0.3)[0])


def test_large_d_never_forms_a_d_by_d_matrix(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("parameter space used")

    monkeypatch.setitem(_space.BACKENDS, "covariance", forbidden)
    rng = np.random.RandomState(5)
    V, L = rng.randn(10, 3, 500), rng.randn(4, 3, 500)
    idx = select_batch(V, 3, labeled_fisher=L, n_labeled=4, device="cpu")
    monkeypatch.undo()
    F_lab = np.einsum("xcd,xce->de", L, L) / 4
    np.testing.assert_array_equal(idx, brute_force_select(V, 3, F_lab=F_lab, n_labeled=4)[0])


def test_ties_go_to_the_lowest_index():
    V = np.tile(np.random.RandomState(6).randn(1, 2, 4), (8, 1, 1))
    np.testing.assert_array_equal(select_batch(V, 3, device="cpu"), [0, 1, 2])


def test_float32_torch_input_and_return_type():
    V = torch.randn(20, 3, 6, generator=torch.Generator().manual_seed(0))
    idx = select_batch(V, 4, device="cpu")
    assert isinstance(idx, np.ndarray) and idx.dtype == np.int64
    np.testing.assert_array_equal(idx, brute_force_select(V.double().numpy(), 4)[0])


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((np.full((5, 2, 3), np.nan), 2), {}, "embeddings contains NaN"),
        ((np.zeros((5, 6)), 2), {}, "embeddings must have 3 dimensions"),
        ((np.ones((5, 2, 3)), 0), {}, r"'n_instances' parameter of select_batch must be an int"),
        ((np.ones((5, 2, 3)), 6), {}, r"n_instances must be an int in \[1, 5\]"),
        ((np.ones((5, 2, 3)), 3), {"backward_steps": 1}, r"\(backward_steps \+ 1\) \* n_instances"),
        ((np.ones((5, 2, 3)), 2), {"lam": 0}, "'lam' parameter of select_batch must be a float"),
        (
            (np.ones((5, 2, 3)), 2),
            {"pool_fisher": np.eye(4)},
            r"pool_fisher must have shape \(3, 3\)",
        ),
        (
            (np.ones((5, 2, 3)), 2),
            {"labeled_fisher": np.ones((2, 3, 3)), "n_labeled": 2},
            r"labeled_fisher given as embeddings must have shape \(m, 2, 3\)",
        ),
        ((np.ones((5, 2, 3)), 2), {"labeled_fisher": np.eye(3)}, "n_labeled is 0"),
        (
            (np.ones((5, 2, 3)), 2),
            {"pool_fisher": np.full((3, 3), np.inf)},
            "pool_fisher contains NaN",
        ),
        (
            (np.ones((5, 2, 3)), 2),
            {"pool_fisher": [np.ones((2, 2, 3)), np.ones((2, 3, 3))]},
            r"pool_fisher given as embeddings must have shape \(m, 2, 3\)",
        ),
        ((np.ones((5, 2, 3)), 2), {"pool_fisher": [np.ones((0, 2, 3))] * 2}, "holds no rows"),
        (
            (np.ones((5, 2, 3)), 2),
            {"storage": "disk"},
            "'storage' parameter of select_batch must be a str",
        ),
        ((np.ones((5, 2, 3), dtype=np.complex64), 2), {}, "must be a real numeric array"),
    ],
)
def test_bad_input_is_named(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        select_batch(*args, device="cpu", **kwargs)


@pytest.mark.parametrize("labeled", [False, True])
def test_float32_storage_keeps_the_float64_picks(labeled):
    rng = np.random.RandomState(8)
    V, L = rng.randn(200, 5, 30), rng.randn(20, 5, 30)
    kwargs = dict(labeled_fisher=L, n_labeled=20) if labeled else {}
    idx64, _, obj64 = _select(V, 12, device="cpu", space="covariance", **kwargs)
    idx32, _, obj32 = _select(V.astype(np.float32), 12, device="cpu", space="covariance", **kwargs)
    np.testing.assert_array_equal(idx32, idx64)
    assert abs(obj32 - obj64) <= 1e-4 * abs(obj64)  # float32 passes: measured ~3e-5
    V32 = V.astype(np.float32).astype(np.float64)
    F_lab = np.einsum("xcd,xce->de", L, L) / 20 if labeled else None
    ref, _ = brute_force_select(V32, 12, F_lab=F_lab, n_labeled=20 if labeled else 0)
    np.testing.assert_array_equal(idx32, ref)


LOW = [torch.float32, torch.bfloat16, torch.float16]


@pytest.mark.parametrize(
    "dtype, rtol", [(torch.float32, 1e-7), (torch.bfloat16, 1e-3), (torch.float16, 1e-3)]
)
def test_low_precision_storage_objective_drift(dtype, rtol):
    # the target for bf16: final objective within 1e-3 of float64
    # (measured here: 2e-9 float32, 4e-6 bfloat16, 2e-6 float16)
    rng = np.random.RandomState(9)
    V, L = rng.randn(400, 5, 300), rng.randn(40, 5, 300)
    kwargs = dict(n_labeled=40, device="cpu", space="covariance")
    idx64, _, obj64 = _select(V, 20, labeled_fisher=L, **kwargs)
    low = [torch.from_numpy(a).to(dtype) for a in (V, L)]
    idx, _, obj = _select(low[0], 20, labeled_fisher=low[1], **kwargs)
    assert abs(obj - obj64) <= rtol * abs(obj64)
    assert np.mean(idx == idx64) >= 0.9


def test_objective_is_the_trace_of_the_final_state():
    # tr(A F) of the returned batch, computed from scratch in float64
    rng = np.random.RandomState(13)
    V, L = rng.randn(50, 3, 6), rng.randn(5, 3, 6)
    idx, gains, obj = _select(V, 4, labeled_fisher=L, n_labeled=5, device="cpu", space="covariance")
    F = np.einsum("xcd,xce->de", V, V) / len(V)  # pool_fisher defaults to the candidates
    F_lab = np.einsum("xcd,xce->de", L, L) / 5
    F_B = np.einsum("xcd,xce->de", V[idx], V[idx])
    A = np.linalg.inv(np.eye(6) + 5 / 9 * F_lab + 4 / 9 * F_B)
    np.testing.assert_allclose(obj, np.trace(A @ F), rtol=1e-12)
    np.testing.assert_allclose(
        obj, np.trace(np.linalg.inv(np.eye(6) + 5 / 9 * F_lab) @ F) - gains.sum(), rtol=1e-10
    )


@pytest.mark.parametrize("dtype", [torch.float64] + LOW)
def test_chunked_reads_bound_memory_and_change_nothing(monkeypatch, dtype):
    rng = np.random.RandomState(10)
    V = torch.from_numpy(rng.randn(60, 4, 16)).to(dtype)
    L = torch.from_numpy(rng.randn(8, 4, 16)).to(dtype)
    kwargs = dict(
        pool_fisher=[V, L],
        labeled_fisher=L,
        n_labeled=8,
        device="cpu",
        space="covariance",
        backward_steps=1,
    )
    whole = _select(V, 5, **kwargs)
    seen = []
    chunks = _storage.EmbeddingRows.chunks

    def spy(self, dtype=None):
        for start, chunk in chunks(self, dtype):
            if chunk.dtype != self.data.dtype:  # an upcast copy, not a view
                seen.append(len(chunk))
            yield start, chunk

    monkeypatch.setattr(_storage.EmbeddingRows, "chunks", spy)
    with config_context(cpu_chunk_bytes=8 * 16 * 12):  # 12 float64 rows
        chunked = _select(V, 5, **kwargs)
    np.testing.assert_array_equal(chunked[0], whole[0])
    np.testing.assert_allclose(chunked[2], whole[2], rtol=1e-6)
    # no full-size copy, whatever the storage type (float64 is read as views)
    assert max(seen, default=0) <= 12 and (seen or dtype == torch.float64)


def test_pool_fisher_blocks_equal_their_concatenation():
    rng = np.random.RandomState(11)
    V, L = rng.randn(30, 3, 7), rng.randn(6, 3, 7)
    kwargs = dict(labeled_fisher=L, n_labeled=6, device="cpu")
    for space in ("covariance", "gram"):
        a = _select(V, 4, pool_fisher=[V, L], space=space, **kwargs)
        b = _select(V, 4, pool_fisher=np.concatenate([V, L]), space=space, **kwargs)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_allclose(a[2], b[2], rtol=1e-12)


def test_host_storage_gives_the_device_picks():
    V = np.random.RandomState(12).randn(40, 3, 9)
    a = _select(V, 5, device="cpu", storage="host")
    b = _select(V, 5, device="cpu", storage="device")
    np.testing.assert_array_equal(a[0], b[0])
    assert a[2] == b[2]


def test_low_precision_input_is_not_copied(monkeypatch):
    V = torch.randn(30, 3, 8, generator=torch.Generator().manual_seed(0)).bfloat16()
    stored = []
    rows = _problem._embedding_rows

    def spy(*args, **kwargs):
        out = rows(*args, **kwargs)
        stored.append(out.data)
        return out

    monkeypatch.setattr(_problem, "_embedding_rows", spy)
    _select(V, 4, device="cpu", space="covariance")
    assert stored[0].dtype == torch.bfloat16 and stored[0].data_ptr() == V.data_ptr()


def test_fisher_matrices_given_are_not_modified():
    rng = np.random.RandomState(14)
    V, L = rng.randn(20, 3, 5), rng.randn(4, 3, 5)
    F_lab = torch.from_numpy(np.einsum("xcd,xce->de", L, L) / 4)
    F_pool = torch.from_numpy(np.einsum("xcd,xce->de", V, V) / 20)
    before = F_lab.clone(), F_pool.clone()
    idx = select_batch(V, 3, pool_fisher=F_pool, labeled_fisher=F_lab, n_labeled=4, device="cpu")
    assert torch.equal(F_lab, before[0]) and torch.equal(F_pool, before[1])
    np.testing.assert_array_equal(
        idx, brute_force_select(V, 3, F_lab=F_lab.numpy(), n_labeled=4)[0]
    )


def test_candidates_in_the_pool_fisher_are_read_once(monkeypatch):
    rng = np.random.RandomState(15)
    V, L = rng.randn(30, 3, 6), rng.randn(5, 3, 6)
    wrapped = []
    rows = _problem._embedding_rows

    def spy(name, t, *args, **kwargs):
        wrapped.append((name, len(t)))
        return rows(name, t, *args, **kwargs)

    monkeypatch.setattr(_problem, "_embedding_rows", spy)
    a = _select(V, 4, pool_fisher=[V, L], labeled_fisher=L, n_labeled=5, device="cpu")
    # V is validated once, as the embeddings; its pool block reuses those rows
    assert wrapped == [("embeddings", 30), ("pool_fisher", 5), ("labeled_fisher", 5)]
    monkeypatch.undo()
    b = _select(V, 4, pool_fisher=[V.copy(), L], labeled_fisher=L, n_labeled=5, device="cpu")
    np.testing.assert_array_equal(a[0], b[0])
    assert a[2] == b[2]


def _scaled_problem(seed, n, C, d):
    """Embeddings whose norms vary over orders of magnitude (small lam is hard)."""
    rs = np.random.RandomState(seed)
    return rs.randn(n, C, d) * 30 * rs.gamma(1, 1, (n, 1, 1))


@pytest.mark.parametrize("space", ["covariance", "gram"])
@pytest.mark.parametrize("seed, d, lam", [(0, 40, 0.01), (1, 80, 0.01), (2, 80, 1e-4)])
def test_removals_are_exact_greedy_when_lam_is_small(seed, d, lam, space):
    # the reproductions: the incremental state lost its digits in removals
    V = _scaled_problem(seed, 20, 3, d)
    ref, ref_obj = exact_greedy_select(V, 4, lam=lam, backward_steps=1)
    idx, gains, obj = _select(V, 4, lam=lam, backward_steps=1, device="cpu", space=space)
    assert idx.tolist() == ref
    assert obj == pytest.approx(ref_obj, rel=1e-9)
    assert np.all(gains > 0)


@pytest.mark.parametrize("seed", range(6))
def test_backward_steps_are_exact_greedy_on_random_hard_problems(seed):
    rs = np.random.RandomState(100 + seed)
    n, C, K, b = rs.randint(14, 26), rs.randint(2, 5), rs.randint(2, 5), rs.randint(1, 3)
    b = b if (b + 1) * K <= n else 1
    lam, n_L = rs.choice([1e-2, 1e-3, 1e-4]), rs.choice([0, 3])
    spaces = ["covariance"]
    d = rs.choice([12, 60, 150])
    if d >= ((b + 1) * K + n_L) * C:
        spaces.append("gram")  # the Gram space serves rows that do not span
    V = _scaled_problem(seed, n, C, d)
    L = rs.randn(n_L, C, d) * 30 if n_L else None
    ref, ref_obj = exact_greedy_select(V, K, L=L, lam=lam, backward_steps=b)
    kwargs = dict(pool_fisher=[V, L], labeled_fisher=L, n_labeled=n_L) if n_L else {}
    for space in spaces:
        idx, _, obj = _select(V, K, lam=lam, backward_steps=b, device="cpu", space=space, **kwargs)
        assert idx.tolist() == ref, space
        assert obj == pytest.approx(ref_obj, rel=1e-6)


@pytest.mark.parametrize("space", ["covariance", "gram"])
def test_hopelessly_small_lam_is_a_clear_error(space):
    # rows that span the space and lam far below float64's resolution of them
    V = _scaled_problem(0, 20, 3, 8)
    with pytest.raises(ValueError, match="ill-conditioned.*increase lam"):
        _select(V, 4, lam=1e-20, backward_steps=1, device="cpu", space=space)


@pytest.mark.parametrize("b", [0, 1])
@pytest.mark.parametrize("space", ["covariance", "gram"])
def test_all_zero_embeddings_are_ties_not_an_error(space, b):
    # a network certain of every row: nothing to gain, nothing ill-conditioned
    V = np.zeros((6, 2, 30))
    idx, gains, obj = _select(V, 2, device="cpu", space=space, backward_steps=b)
    assert idx.tolist() == brute_force_select(V, 2, backward_steps=b)[0].tolist()
    assert obj == 0 and np.all(gains == 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lam": -1.0}, "'lam' parameter of select_batch"),
        ({"lam": float("nan")}, "'lam' parameter of select_batch"),
        ({"lam": True}, "'lam' parameter of select_batch"),
        ({"backward_steps": -1}, "'backward_steps' parameter of select_batch"),
        ({"device": 3}, "'device' parameter of select_batch"),
    ],
)
def test_select_batch_validates_its_parameters_at_entry(kwargs, message):
    with pytest.raises(ValueError, match=message):
        select_batch(np.ones((5, 2, 3)), 2, **kwargs)


@pytest.mark.parametrize("space", ["parameter", "sample"])
def test_unknown_space_names_are_refused(space):
    with pytest.raises(ValueError, match="'space' parameter of select_batch must be a str among"):
        select_batch(np.ones((5, 2, 3)), 2, space=space)


def test_gram_space_refuses_a_fisher_matrix():
    V = np.random.RandomState(18).randn(10, 2, 4)
    with pytest.raises(ValueError, match="space='gram' needs the Fisher matrices"):
        select_batch(V, 2, pool_fisher=np.eye(4), device="cpu", space="gram")


def test_state_is_rebuilt_when_the_objective_falls_far_below_its_build(monkeypatch):
    # a small lam: once the picks span the space, tr(A F) drops by orders of magnitude
    rng = np.random.RandomState(3)
    V = rng.randn(40, 2, 6)
    refresh, calls = _covariance.CovarianceSpace.refresh, []
    monkeypatch.setattr(
        _covariance.CovarianceSpace,
        "refresh",
        lambda self, B: calls.append(len(B)) or refresh(self, B),
    )
    idx, _, obj = _select(V, 8, lam=1e-3, device="cpu", space="covariance")
    ref, ref_obj = brute_force_select(V, 8, lam=1e-3)
    assert calls  # rebuilt from a fresh factorisation of the chosen rows
    np.testing.assert_array_equal(idx, ref)
    assert obj == pytest.approx(ref_obj, rel=1e-9)


@pytest.mark.parametrize("lam, b", [(1.0, 0), (1.0, 1), (0.05, 1)])
def test_woodbury_a0_from_few_labeled_rows_is_exact_greedy(monkeypatch, lam, b):
    # 4 labeled rows x 2 classes span 8 of d = 30 dimensions: A0 by Woodbury
    rng = np.random.RandomState(7)
    V, L = rng.randn(30, 2, 30), rng.randn(4, 2, 30)
    used, woodbury = [], _covariance._woodbury_inverse
    monkeypatch.setattr(_covariance, "_woodbury_inverse", lambda *a: used.append(1) or woodbury(*a))
    idx, _, obj = _select(
        V,
        5,
        labeled_fisher=L,
        n_labeled=4,
        lam=lam,
        backward_steps=b,
        device="cpu",
        space="covariance",
    )
    F_lab = np.einsum("xcd,xce->de", L, L) / 4
    ref, ref_obj = brute_force_select(V, 5, F_lab=F_lab, n_labeled=4, lam=lam, backward_steps=b)
    assert used
    np.testing.assert_array_equal(np.sort(idx), np.sort(ref))
    if not b:
        np.testing.assert_array_equal(idx, ref)
    assert obj == pytest.approx(ref_obj, rel=1e-9)


def test_a0_is_factorised_when_lam_is_far_below_the_labeled_fisher(monkeypatch):
    rng = np.random.RandomState(8)
    V, L = rng.randn(30, 2, 30), 100 * rng.randn(4, 2, 30)  # tr(ΨᵀΨ) / lam ≫ 1e4
    monkeypatch.setattr(_covariance, "_woodbury_inverse", lambda *a: pytest.fail("Woodbury"))
    idx, _, obj = _select(
        V, 5, labeled_fisher=L, n_labeled=4, lam=0.1, device="cpu", space="covariance"
    )
    ref, ref_obj = brute_force_select(
        V, 5, F_lab=np.einsum("xcd,xce->de", L, L) / 4, n_labeled=4, lam=0.1
    )
    np.testing.assert_array_equal(idx, ref)
    assert obj == pytest.approx(ref_obj, rel=1e-9)

"""Greedy Fisher (BAIT objective) batch selection: pure linear algebra.

Notation as in the design notes: candidates' embeddings ``V_x`` (C x d),
``K = n_select``, ``n_L`` labeled points, ridge ``lam``.
``A0 = (lam I + n_L/(n_L+K) F_lab)^-1`` and ``Ṽ_x = sqrt(K/(n_L+K)) V_x``.
A forward step picks the candidate that most lowers ``tr(A F_pool)``::

    gain(x) = tr[(I + Ṽ_x A Ṽ_xᵀ)^-1 Ṽ_x A F_pool A Ṽ_xᵀ]

and updates ``A`` by Woodbury. Instead of recomputing ``Ṽ A F A Ṽᵀ`` for every
candidate at every step (O(n C d²)), the C x C matrices ``P_x = Ṽ_x A Ṽ_xᵀ``
and ``Q_x = Ṽ_x A F A Ṽ_xᵀ`` are kept and updated (O(n C² d) a step).
Their rounding errors are relative to their size when the state was built,
so it is rebuilt from a fresh factorisation of ``A⁻¹`` when ``tr(A F)`` has
fallen far below that. Backward (removal) steps do not use it: for a chosen
row, ``I - P_x`` is a difference that has lost its digits when ``lam`` is
small (design notes §6). They run on ``E = I - B A Bᵀ`` and
``W = B A F A Bᵀ`` of the chosen rows ``B``, factorised afresh
(:func:`_backward`).

Two equivalent backends supply the products a step needs:

* parameter space: ``A`` and ``F_pool`` as d x d matrices;
* sample space: the Grams of the stacked embeddings, so no d x d matrix is
  ever formed; cheaper when d is large against the number of embedding rows
  (``space="auto"`` counts the multiply-adds of both).

The embeddings are stored once, in their own type, and read in chunks
(:class:`skfisher._storage.EmbeddingRows`). The greedy loop itself
(:func:`greedy_loop`) asks a pool object where the candidates live:
:class:`LocalPool` here, or a pool sharded over processes
(:mod:`skfisher.distributed`).
"""

import numbers

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, validate_params

from ._storage import STORAGE_DTYPES, EmbeddingRows, fits, resolve_device

__all__ = ["LocalPool", "greedy_loop", "greedy_select", "select_batch"]


def _to_tensor(name, value, ndims):
    """A real numeric array or tensor with allowed ndims, as a tensor (no copy when possible).

    Floating types of :data:`STORAGE_DTYPES` are kept; other numbers become float64.
    """
    if isinstance(value, torch.Tensor):
        t = value.detach()
    else:
        arr = np.asarray(value)
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise ValueError(f"{name} must be a real numeric array; got dtype {arr.dtype}.")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex():
        raise ValueError(f"{name} must be a real numeric array; got dtype {t.dtype}.")
    if t.ndim not in ndims:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, ndims))} dimensions; got shape "
            f"{tuple(t.shape)}."
        )
    return t if t.dtype in STORAGE_DTYPES.values() else t.double()


def _place(t, device, storage, reserve=0):
    """Where the stored rows live: ``device``, or the host when it is short of memory.

    ``storage="auto"`` keeps rows already on the device there, and moves host
    rows to the device when they and ``reserve`` bytes fit (see
    :func:`skfisher._storage.fits`); host rows stay as given (pass pinned
    tensors for the fastest streaming).
    """
    if storage == "device" or device.type == "cpu":
        return t.to(device)
    if storage == "host":
        return t.cpu()
    if t.device == device or fits(device, t.numel() * t.element_size() + reserve):
        return t.to(device)
    return t.cpu()


def _embedding_rows(name, t, device, storage, reserve=0):
    """:class:`EmbeddingRows` over a validated (m, C, d) tensor, checked finite."""
    m, C, d = t.shape
    rows = EmbeddingRows(_place(t, device, storage, reserve).reshape(m * C, d), device, group=C)
    rows.check_finite(name)
    return rows


def _same_tensor(a, b):
    return (a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.dtype == b.dtype
            and a.device == b.device and a.stride() == b.stride())


def _fisher_arg(name, value, n_classes, dim, device, storage, known=None):
    """A Fisher given as a (d, d) matrix or as (m, C, d) embeddings (their mean
    outer product), possibly as a list of such blocks.

    ``known`` is ``(tensor, rows)``: a block that is ``tensor`` reuses its
    validated :class:`EmbeddingRows`. Returns ``("matrix", F)`` or
    ``("factor", [rows, ...], w)`` with ``F = w Σ rowsᵀ rows``.
    """
    blocks = value if isinstance(value, (list, tuple)) else [value]
    tensors = [_to_tensor(name, b, (2, 3) if len(blocks) == 1 else (3,)) for b in blocks]
    if tensors[0].ndim == 2:
        t = tensors[0].to(device, torch.float64)
        if t.shape != (dim, dim):
            raise ValueError(
                f"{name} must have shape ({dim}, {dim}) to match the embeddings; "
                f"got {tuple(t.shape)}."
            )
        if not torch.isfinite(t.sum()):
            raise ValueError(f"{name} contains NaN or infinity.")
        return "matrix", t
    for t in tensors:
        if t.shape[1:] != (n_classes, dim) or (len(tensors) == 1 and t.shape[0] == 0):
            raise ValueError(
                f"{name} given as embeddings must have shape (m, {n_classes}, {dim}) "
                f"with m >= 1; got {tuple(t.shape)}."
            )
    m = sum(len(t) for t in tensors)
    if m == 0:
        raise ValueError(f"{name} given as blocks of embeddings holds no rows.")
    rows = [
        known[1] if known is not None and _same_tensor(t, known[0])
        else _embedding_rows(name, t, device, storage)
        for t in tensors if len(t)
    ]
    return "factor", rows, 1.0 / m


def _dense(fisher):
    """The d x d float64 matrix of a Fisher given either way (a new tensor
    for embeddings; the caller's for a matrix)."""
    if fisher[0] == "matrix":
        return fisher[1]
    d = fisher[1][0].shape[1]
    out = torch.zeros(d, d, dtype=torch.float64, device=fisher[1][0].device)
    for rows in fisher[1]:
        rows.gram(out=out)
    return out.mul_(fisher[2])


def _scaled_rows(fisher, scale=1.0):
    """Rows Φ (float64) with ``scale * F = Φᵀ Φ`` for a Fisher given as a factor."""
    return torch.cat([r.dense() for r in fisher[1]]) * np.sqrt(fisher[2] * scale)


def _n_rows(fisher):
    return 0 if fisher is None or fisher[0] == "matrix" else sum(len(r.data) for r in fisher[1])


class _ParameterSpace:
    """Products of a step from explicit d x d matrices ``A`` and ``F`` (float64).

    ``V`` (:class:`EmbeddingRows`, the scaled candidates ``Ṽ``) stays in its
    storage: the per-step pass over it runs in its compute type, chunk by
    chunk, everything else in float64.
    """

    #: rebuild the state when tr(A F) falls below this fraction of its value
    #: at the last build (the state's rounding errors are relative to that)
    rebuild_below = 1e-2

    def __init__(self, V, n_classes, pool, labeled, lam, alpha):
        self.V = V
        self.shape = (len(V.data) // n_classes, n_classes)
        self.F = _dense(pool)
        self.lam, self.labeled, self.alpha = lam, labeled, alpha
        self.A = None  # A0 = lam⁻¹ I unless labeled; d x d buffers are updated in place
        if labeled is not None:
            self.A = torch.cholesky_inverse(torch.linalg.cholesky(self._precision()))

    def _precision(self, B=None):
        """``lam I + alpha F_lab + BᵀB`` (d x d, a new tensor) for chosen rows ``B``."""
        d = self.F.shape[0]
        if self.labeled is None:
            M = torch.zeros(d, d, dtype=torch.float64, device=self.F.device)
        else:
            M = _dense(self.labeled)
            M = M * self.alpha if self.labeled[0] == "matrix" else M.mul_(self.alpha)
        if B is not None:
            M.addmm_(B.T, B)
        M.diagonal().add_(self.lam)
        return M

    def final_objective(self, B, running):
        """``tr(A F)`` for the chosen rows ``B``, from a fresh factorisation of
        ``A⁻¹`` when they span the space (else ``running`` is the accurate one)."""
        if len(B) < B.shape[1]:
            return running
        factor = torch.linalg.cholesky(self._precision(B))
        return torch.trace(torch.cholesky_solve(self.F, factor)).item()

    def refresh(self, B):
        """The state rebuilt from ``A = (lam I + alpha F_lab + BᵀB)⁻¹`` for the
        chosen rows ``B``, factorised afresh: ``(P, Q, objective)``."""
        self.A = None
        self.A = torch.cholesky_inverse(torch.linalg.cholesky(self._precision(B)))
        return self.initial_state()

    def initial_state(self):
        n, C = self.shape
        d = self.V.shape[1]
        P = torch.empty(n, C, C, dtype=torch.float64, device=self.V.device)
        Q = torch.empty_like(P)
        s2 = self.V.scale**2  # Ṽ = s V: the scale goes onto the C x C results
        for start, V in self.V.chunks(torch.float64):
            B = V / self.lam if self.A is None else V @ self.A  # V A
            m, x = len(V) // C, start // C
            P[x : x + m] = torch.einsum("xcd,xed->xce", B.view(m, C, d), V.view(m, C, d)) * s2
            Q[x : x + m] = torch.einsum(
                "xcd,xed->xce", (B @ self.F).view(m, C, d), B.view(m, C, d)
            ) * s2
        if self.A is None:
            self.A = torch.eye(d, dtype=torch.float64, device=self.V.device).div_(self.lam)
        return P, Q, self.objective(None)

    def objective(self, running):
        """``tr(A F)`` from the state (A and F symmetric): exact, where the
        running value (initial trace minus the gains) loses digits to
        cancellation."""
        return torch.dot(self.A.reshape(-1), self.F.reshape(-1)).item()

    def rows(self, u):
        """Ũ_u, the scaled embedding rows of local candidate ``u``, in float64."""
        C = self.shape[1]
        return self.V.rows(u * C, (u + 1) * C)

    def members(self, B):
        """``E = I - B A Bᵀ`` and ``W = B A F A Bᵀ`` for the chosen rows ``B`` (m C x d).

        Computed afresh from the smaller Gram (see :func:`_removal_state`);
        the incremental ``A`` is not used again, and its memory goes to the
        factorisation.
        """
        self.A = None
        if len(B) >= B.shape[1]:  # B spans (nearly) everything: factor A⁻¹ (d x d)
            X = torch.cholesky_solve(B.T, torch.linalg.cholesky(self._precision(B))).T  # B A
            E = torch.eye(len(B), dtype=B.dtype, device=B.device) - X @ B.T
            E = (E + E.T) / 2
        else:
            if self.labeled is None:
                BA0 = B / self.lam
            else:
                BA0 = torch.cholesky_solve(B.T, torch.linalg.cholesky(self._precision())).T
            E, X = _removal_state(BA0, B)
        return E, X @ self.F @ X.T

    def step(self, u, rows_u, S_inv):
        n, C = self.shape
        W = self.A @ rows_u.T  # d x C
        # T = Ṽ A Ũᵀ and R = Ṽ A F A Ũᵀ in one pass over the embeddings
        TR = self.V.matmul(torch.cat([W, self.A @ (self.F @ W)], dim=1))
        self.A.addmm_(W @ S_inv, W.T, alpha=-1)
        return TR[:, :C].reshape(n, C, C), TR[:, C:].reshape(n, C, C)


class _SampleSpace:
    """Products of a step from Grams of the stacked embeddings (no d x d matrix).

    With ``H`` the candidates' rows followed by the pool Fisher's factor rows,
    it keeps ``Z = Ṽ A Hᵀ``; ``A0`` is applied through Woodbury on the
    labeled factor ``Ψ``: ``A0 = (I - Ψᵀ (lam I + ΨΨᵀ)^-1 Ψ) / lam``.
    """

    rebuild_below = 1e-9  # no rebuild: below this, the problem is refused

    def __init__(self, V, n_classes, pool, labeled, lam, alpha):
        V = V.dense()
        n = len(V) // n_classes
        Phi = _scaled_rows(pool)
        H = torch.cat([V, Phi])
        Z = V @ H.T
        self.V, self.Phi, self.Psi, self.lam = V, Phi, None, lam
        if labeled is not None:
            Psi = _scaled_rows(labeled, alpha)
            M = lam * torch.eye(len(Psi), dtype=V.dtype, device=V.device) + Psi @ Psi.T
            self.Psi, self.M = Psi, M
            Z -= (V @ Psi.T) @ torch.linalg.solve(M, Psi @ H.T)
            PhiPsi = Phi @ Psi.T
            tr0 = (Phi * Phi).sum() - torch.trace(PhiPsi @ torch.linalg.solve(M, PhiPsi.T))
        else:
            tr0 = (Phi * Phi).sum()
        self.Z = Z / lam
        self.tr0 = (tr0 / lam).item()
        self.shape = (n, n_classes)

    def initial_state(self):
        n, C = self.shape
        Zv = self.Z[:, : n * C].view(n, C, n, C)
        idx = torch.arange(n, device=self.Z.device)
        P = Zv[idx, :, idx, :]
        Y = self.Z[:, n * C :].view(n, C, -1)
        Q = torch.einsum("xcm,xem->xce", Y, Y)
        return P, Q, self.tr0

    def objective(self, running):
        return running

    def final_objective(self, B, running):
        return running

    def refresh(self, B):
        """Not available: the Woodbury form of ``A`` cannot be rebuilt accurately."""
        _check_gain(float("nan"), 0.0, ", or use space='parameter'")

    def rows(self, u):
        C = self.shape[1]
        return self.V[u * C : (u + 1) * C]

    def members(self, B):
        """``E = I - B A Bᵀ`` and ``W = B A F A Bᵀ`` for the chosen rows ``B``, from
        Grams of the rows (see :func:`_removal_state`)."""
        BA0 = B
        if self.Psi is not None:  # A0 = (I - Ψᵀ M⁻¹ Ψ) / lam
            BA0 = B - (B @ self.Psi.T) @ torch.linalg.solve(self.M, self.Psi)
        E, X = _removal_state(BA0 / self.lam, B)
        Y = X @ self.Phi.T
        return E, Y @ Y.T

    def step(self, u, rows_u, S_inv):
        n, C = self.shape
        Zu = self.Z[u * C : (u + 1) * C].clone()  # C x cols
        T = self.Z[:, u * C : (u + 1) * C].reshape(n, C, C).clone()
        R = (self.Z[:, n * C :] @ Zu[:, n * C :].T).view(n, C, C)
        self.Z -= T.reshape(n * C, C) @ (S_inv @ Zu)
        return T, R


def _removal_state(BA0, B):
    """``E = N⁻¹`` and ``B A = N⁻¹ B A0`` with ``N = I + B A0 Bᵀ``, by Cholesky.

    ``E = I - B A Bᵀ`` is small for rows that ``A`` pins down well; taken
    from ``N`` it keeps its digits, where ``I - B A Bᵀ`` would not (design
    notes §6). For rows that span the space, factor ``A⁻¹`` instead.
    """
    N = BA0 @ B.T
    N = (N + N.T) / 2
    N.diagonal().add_(1.0)
    factor = torch.linalg.cholesky(N)
    return torch.cholesky_inverse(factor), torch.cholesky_solve(BA0, factor)


def _costs(nC, C, d, steps, pool, labeled):
    """Multiply-adds of each backend (set-up plus all steps), to pick the cheaper."""
    n_phi, n_psi = _n_rows(pool), _n_rows(labeled)
    parameter = n_phi * d * d + nC * d * d + steps * (2 * nC * C * d + 3 * d * d * C)
    if labeled is not None:
        parameter += n_psi * d * d + d**3 + nC * d * d
    cols = nC + n_phi
    sample = nC * cols * d + nC * C * n_phi + steps * 2 * nC * cols * C
    if labeled is not None:
        sample += (nC + cols) * n_psi * d + n_psi**3
    return {"parameter": parameter, "sample": sample}


def _update_state(P, Q, T, R, S_inv, Qu):
    """Rank-C update of every candidate's P_x, Q_x after a step (design notes §1).

    ``P -= T S⁻¹ Tᵀ`` and ``Q -= R S⁻¹ Tᵀ + T S⁻¹ Rᵀ - T S⁻¹ Qu S⁻¹ Tᵀ``,
    written as ``Q -= X Tᵀ + T Xᵀ`` with ``X = R S⁻¹ - ½ T S⁻¹ Qu S⁻¹``; in
    place, to avoid fresh (n, C, C) buffers.
    """
    n, C, _ = T.shape
    T2 = T.reshape(n * C, C)
    Tt = T.transpose(1, 2)
    P.baddbmm_((T2 @ S_inv).view(n, C, C), Tt, alpha=-1)
    X = torch.addmm(R.reshape(n * C, C) @ S_inv, T2, S_inv @ Qu @ S_inv, alpha=-0.5)
    XT = torch.bmm(X.view(n, C, C), Tt)
    Q -= XT
    Q -= XT.transpose(1, 2)


def _scores(P, Q, sign):
    """tr[(sign I + P_x)^-1 Q_x] for every candidate (Q_x symmetric)."""
    C = P.shape[-1]
    eye = torch.eye(C, dtype=P.dtype, device=P.device)
    return (torch.linalg.inv(sign * eye + P) * Q).sum((1, 2))


_TIE_RTOL = 1e-12  # gains this close to the best are ties (rounding differs by row)


def _argmax_lowest(score):
    """Index of the maximum; among near-equal maxima, the lowest index (-1 if empty)."""
    if score.numel() == 0:
        return -1
    best = score.max().item()
    return int(torch.nonzero(score >= best - _TIE_RTOL * abs(best))[0])


def _check_int(name, value, low, high, why=""):
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or not low <= value <= high
    ):
        raise ValueError(f"{name} must be an int in [{low}, {high}]{why}; got {value!r}.")
    return int(value)


def _check_lam(lam):
    if (not isinstance(lam, numbers.Real) or isinstance(lam, bool)
            or not (np.isfinite(lam) and lam > 0)):
        raise ValueError(f"lam must be a positive finite number; got {lam!r}.")


def greedy_select(
    embeddings,
    n_select,
    *,
    pool_fisher=None,
    labeled_fisher=None,
    n_labeled=0,
    lam=1.0,
    backward_steps=0,
    device=None,
    space="auto",
    storage="auto",
):
    """:func:`select_batch` that also returns the gains and the objective.

    Parameters
    ----------
    embeddings, n_select, pool_fisher, labeled_fisher, n_labeled, lam, backward_steps, device
        As in :func:`select_batch`.
    space : {"auto", "parameter", "sample"}, default="auto"
        Where the algebra runs; ``"auto"`` picks the one with fewer
        multiply-adds (the sample space needs the Fisher matrices given as
        embeddings, and wins when ``d`` is large against their rows).
    storage : {"auto", "device", "host"}, default="auto"
        Where the embeddings are kept (once, in their own type): on
        ``device``, or in host memory and streamed to the device in chunks
        every step (slower; for pools whose embeddings do not fit on the
        GPU). ``"auto"`` keeps them where they are when that is the device,
        and moves them there when they fit.

    ``pool_fisher`` may also be a list of (m_i, C, d) blocks whose rows
    together define ``F_pool`` (so that, e.g., candidates and labeled rows
    need not be concatenated into a copy).

    Returns
    -------
    indices : ndarray of shape (n_select,), dtype int64
        Chosen rows in the order they were chosen.
    gains : ndarray of shape (n_select,)
        Each chosen row's drop of ``tr(A F_pool)`` when it was added.
    objective : float
        ``tr(A F_pool)`` for the returned batch.
    """
    dev = resolve_device(device)
    if storage not in ("auto", "device", "host"):
        raise ValueError(f"storage must be 'auto', 'device' or 'host'; got {storage!r}.")
    V = _to_tensor("embeddings", embeddings, (3,))
    n, C, d = V.shape
    if n == 0 or C == 0 or d == 0:
        raise ValueError(f"embeddings must be non-empty; got shape {tuple(V.shape)}.")
    b = _check_int("backward_steps", backward_steps, 0, n)
    K = _check_int(
        "n_select", n_select, 1, n // (b + 1),
        f" with (backward_steps + 1) * n_select <= {n} candidates" if b else
        f" for {n} candidates",
    )
    n_labeled = _check_int("n_labeled", n_labeled, 0, np.iinfo(np.int64).max)
    _check_lam(lam)
    if space not in ("auto", "parameter", "sample"):
        raise ValueError(f"space must be 'auto', 'parameter' or 'sample'; got {space!r}.")
    # beside the embeddings: A and F (d x d), P and Q, one step's products
    reserve = 8 * (2 * d * d + 2 * n * C * C + 2 * n * C * C)
    rows = _embedding_rows("embeddings", V, dev, storage, reserve)
    pool = (
        ("factor", [rows], 1.0 / n)
        if pool_fisher is None
        else _fisher_arg("pool_fisher", pool_fisher, C, d, dev, storage, known=(V, rows))
    )
    labeled = (
        None
        if labeled_fisher is None
        else _fisher_arg("labeled_fisher", labeled_fisher, C, d, dev, storage)
    )
    if labeled is not None and n_labeled == 0:
        raise ValueError("labeled_fisher is given but n_labeled is 0; pass n_labeled > 0.")

    alpha = n_labeled / (n_labeled + K)
    if n_labeled:
        rows = rows.scaled(np.sqrt(K / (n_labeled + K)))  # Ṽ, without a copy
    _check_resolvable(lam, _largest_trace(rows, C))
    if space == "auto":
        space = _cheaper_space(n * C, C, d, (2 * b + 1) * K, pool, labeled, dev)
    elif space == "sample" and any(f is not None and f[0] == "matrix" for f in (pool, labeled)):
        raise ValueError("space='sample' needs the Fisher matrices given as embeddings.")
    backend = (_SampleSpace if space == "sample" else _ParameterSpace)(
        rows, C, pool, labeled, float(lam), alpha
    )
    P, Q, objective = backend.initial_state()
    order, gains, objective = greedy_loop(P, Q, objective, backend, K, b, LocalPool(n))
    return np.asarray(order, dtype=np.int64), np.asarray(gains), objective


def _cheaper_space(nC, C, d, steps, pool, labeled, device):
    """``"sample"`` when the Fishers are factors, it needs fewer multiply-adds and
    its float64 Grams fit in memory; else ``"parameter"``."""
    if any(f is not None and f[0] == "matrix" for f in (pool, labeled)):
        return "parameter"
    costs = _costs(nC, C, d, steps, pool, labeled)
    rows = nC + _n_rows(pool) + _n_rows(labeled)
    sample_bytes = 8 * (rows * d + nC * (nC + _n_rows(pool)))
    if costs["sample"] < costs["parameter"] and fits(device, sample_bytes):
        return "sample"
    return "parameter"


class LocalPool:
    """All candidates live in this process (see :mod:`skfisher.distributed`)."""

    def __init__(self, n):
        self.offset, self.n_total = 0, n

    def best(self, score, index):
        """Global index and value of the best entry; near-ties go to the lowest index."""
        k = _argmax_lowest(score)
        return int(index[k]), score[k].item()

    def winner(self, u, P, Q, backend):
        """``P_u``, ``Q_u`` and ``Ũ_u`` of the chosen candidate (global index ``u``)."""
        return P[u].clone(), Q[u].clone(), backend.rows(u)


def greedy_loop(P, Q, objective, backend, K, b, pool):
    """Forward then backward greedy steps on the per-candidate state (in place).

    ``pool`` says where candidates live: :class:`LocalPool` or a sharded pool
    whose ``best`` and ``winner`` talk to the other processes. The removals
    of the backward steps run on a fresh factorisation of the chosen set
    (:func:`_backward`), not on the incremental state.

    Returns
    -------
    order : list of int
        Global indices in the order chosen.
    gains : list of float
    objective : float
        ``tr(A F_pool)`` of the returned batch.
    """
    n, C = P.shape[0], P.shape[1]
    dev = P.device
    eye = torch.eye(C, dtype=P.dtype, device=dev)
    local_index = torch.arange(n, device=dev) + pool.offset
    chosen = torch.zeros(n, dtype=torch.bool, device=dev)
    order, gains, picked_rows = [], [], []
    built = backend.objective(objective)  # tr(A F) when the state was last built

    for _ in range((b + 1) * K):
        score = _scores(P, Q, 1.0).masked_fill(chosen, -torch.inf)
        u, gain = pool.best(score, local_index)
        _check_gain(gain, objective)
        order.append(u)
        gains.append(gain)
        objective -= gain
        Pu, Qu, rows_u = pool.winner(u, P, Q, backend)
        picked_rows.append(rows_u)
        S_inv = torch.linalg.inv(eye + Pu)
        mine = pool.offset <= u < pool.offset + n
        T, R = backend.step(u - pool.offset if mine else None, rows_u, S_inv)
        _update_state(P, Q, T, R, S_inv, Qu)
        if mine:
            chosen[u - pool.offset] = True
        # the state's rounding errors are relative to its build: when tr(A F)
        # has dropped far below that, rebuild it (design notes §6)
        if built > 0 and not backend.objective(objective) > backend.rebuild_below * built:
            try:
                P[:], Q[:], objective = backend.refresh(torch.cat(picked_rows))
            except torch.linalg.LinAlgError:
                _check_gain(float("nan"), objective)
            built = objective
    objective = backend.objective(objective)
    if b:
        order, gains, objective = _backward(order, gains, objective, picked_rows, backend, K)
    return order, gains, objective




def _check_gain(gain, objective, remedy=""):
    """A gain is >= 0 in exact arithmetic: a negative one (beyond rounding) or a
    non-finite one means float64 cannot resolve the problem."""
    if not np.isfinite(gain) or gain < -1e-9 * abs(objective):
        raise ValueError(
            f"The selection is numerically ill-conditioned (a step's gain is {gain!r}): "
            f"lam is too small against the scale of the embeddings; increase lam{remedy}."
        )


def _block_diagonal(M, C):
    m = len(M) // C
    idx = torch.arange(m, device=M.device)
    return M.view(m, C, m, C)[idx, :, idx, :]


_LAM_RESOLUTION = 1e3 * np.finfo(np.float64).eps


def _largest_trace(rows, C):
    """The largest ``tr(Ṽ_xᵀ Ṽ_x)`` over the candidates of ``rows``."""
    return max(
        (chunk.double().square().view(-1, C * chunk.shape[1]).sum(1).max().item()
         for _, chunk in rows.chunks() if len(chunk)), default=0.0,
    ) * rows.scale**2


def _check_resolvable(lam, scale):
    """Refuse a ``lam`` below float64's resolution of the largest ``Ṽ_xᵀ Ṽ_x``
    (``scale``): ``lam I + Σ Ṽᵀ Ṽ`` would round ``lam`` away."""
    if lam < _LAM_RESOLUTION * scale:
        raise ValueError(
            f"lam={lam!r} is too small against the scale of the embeddings (the largest "
            f"tr(Ṽ_xᵀ Ṽ_x) is {scale:.3g}): the selection is numerically ill-conditioned "
            f"below lam ≈ {_LAM_RESOLUTION * scale:.1e} in float64; increase lam."
        )


def _members(backend, rows, objective):
    """The backend's fresh ``(E, W)`` for the chosen ``rows``, checked finite."""
    try:
        E, W = backend.members(torch.cat(rows))
    except torch.linalg.LinAlgError:
        E = W = torch.tensor(float("nan"))
    if not (torch.isfinite(E).all() and torch.isfinite(W).all()):
        _check_gain(float("nan"), objective)
    return E, W


def _backward(order, gains, objective, rows, backend, K):
    """Backward steps: drop the chosen row whose removal raises ``tr(A F)`` least.

    For the chosen rows ``B`` (``rows``, in the order chosen), the backend's
    ``members`` gives ``E = I - B A Bᵀ`` and ``W = B A F A Bᵀ`` from a fresh
    factorisation: removing ``x`` raises ``tr(A F)`` by ``tr(E_xx⁻¹ W_xx)``,
    and leaves ``E`` and ``W`` downdated by the Schur complement of the
    block ``E_xx``. They are factorised afresh when the rows left stop
    spanning the parameter space (the regime whose small ``E`` a downdate
    cannot resolve). The objective is recomputed for the final batch where
    the backend can.
    """
    order, gains, rows = list(order), list(gains), list(rows)
    C, d = rows[0].shape
    E, W = _members(backend, rows, objective)
    while len(order) > K:
        Ed = _block_diagonal(E, C)
        inc = (torch.linalg.inv(Ed) * _block_diagonal(W, C)).sum((1, 2))
        by_index = np.argsort(order)  # near-ties go to the lowest row index
        j = int(by_index[_argmax_lowest(-inc[by_index])])
        _check_gain(inc[j].item(), objective)
        objective += inc[j].item()
        del order[j], gains[j], rows[j]
        if len(rows) * C < d <= (len(rows) + 1) * C:
            E, W = _members(backend, rows, objective)
            continue
        u = torch.arange(j * C, (j + 1) * C, device=E.device)
        r = torch.cat([torch.arange(j * C, device=E.device),
                       torch.arange((j + 1) * C, len(E), device=E.device)])
        T = E[r][:, u] @ torch.linalg.inv(E[u][:, u])
        Wru = W[r][:, u]
        E = E[r][:, r] - T @ E[u][:, r]
        W = W[r][:, r] - T @ Wru.T - Wru @ T.T + T @ W[u][:, u] @ T.T
    return order, gains, backend.final_objective(torch.cat(rows), objective)


@validate_params(
    {
        "embeddings": ["array-like"],
        "n_select": [Interval(numbers.Integral, 1, None, closed="left")],
        "pool_fisher": ["array-like", list, None],
        "labeled_fisher": ["array-like", list, None],
        "n_labeled": [Interval(numbers.Integral, 0, None, closed="left")],
        "lam": [Interval(numbers.Real, 0, None, closed="neither")],
        "backward_steps": [Interval(numbers.Integral, 0, None, closed="left")],
        "device": [str, torch.device, None],
    },
    prefer_skip_nested_validation=True,
)
def select_batch(
    embeddings,
    n_select,
    *,
    pool_fisher=None,
    labeled_fisher=None,
    n_labeled=0,
    lam=1.0,
    backward_steps=0,
    device=None,
):
    """Pick a batch by greedy Fisher selection (the BAIT objective).

    Parameters
    ----------
    embeddings : array-like or Tensor of shape (n, C, d)
        Unscaled candidate embeddings ``V_x``; ``V_xᵀ V_x`` is x's Fisher.
    n_select : int
        Batch size ``K``, with ``(backward_steps + 1) * K <= n``.
    pool_fisher : array-like of shape (d, d) or (m, C, d), default=None
        ``F_pool``, as a matrix or as embeddings whose mean ``V_xᵀ V_x`` it
        is. Defaults to that mean over ``embeddings``.
    labeled_fisher : array-like of shape (d, d) or (m, C, d), default=None
        ``F_lab``, in either form; zero when None.
    n_labeled : int, default=0
        ``n_L``, the number of labeled points behind ``labeled_fisher``.
    lam : float, default=1.0
        Ridge ``λ > 0``. A ``lam`` below float64's resolution of the
        embeddings (``1e3 * eps`` times the largest ``tr(Ṽ_xᵀ Ṽ_x)``), or
        one that leaves a step's gain negative or not finite, raises a
        ValueError that says so.
    backward_steps : int, default=0
        ``b``: with ``b > 0``, ``(b + 1) K`` forward steps, then backward
        steps drop the chosen rows that raise ``tr(A F_pool)`` least until
        ``K`` remain (official BAIT uses 1). The removals are computed from
        a fresh factorisation of the chosen rows, so they equal exact greedy
        even when ``lam`` is small against the embeddings.
    device : str or torch.device, default=None
        Where the algebra runs; None picks CUDA when available. The state
        (``A``, ``F_pool`` and every C x C matrix) is float64. Embeddings
        given in float32, float16 or bfloat16 are kept in that type (no
        copy) and each pass over them runs in float32, chunk by chunk;
        others are float64. Embeddings on the host are streamed to the
        device when they do not fit there.

    Returns
    -------
    indices : ndarray of shape (n_select,), dtype int64
        Chosen rows of ``embeddings`` in the order they were chosen; ties go
        to the lowest index.

    Notes
    -----
    Each step costs one pass over the embeddings: O(n C² d) in parameter
    space, plus O(d² C) for the d x d state. When ``d`` exceeds the number of
    rows of the stacked embeddings (and the Fisher matrices are given as
    embeddings or defaulted) the same algebra runs on their Grams and no
    d x d matrix is formed.

    Examples
    --------
    >>> import numpy as np
    >>> from skfisher.selection import select_batch
    >>> V = np.random.RandomState(0).randn(20, 3, 5)
    >>> select_batch(V, 4, device="cpu").shape
    (4,)
    """
    return greedy_select(
        embeddings,
        n_select,
        pool_fisher=pool_fisher,
        labeled_fisher=labeled_fisher,
        n_labeled=n_labeled,
        lam=lam,
        backward_steps=backward_steps,
        device=device,
    )[0]

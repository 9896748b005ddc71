"""Greedy Fisher (BAIT objective) batch selection: pure linear algebra.

Notation as in docs/design.md (The algorithm): candidates' embeddings
``V_x`` (C x d), ``K = n_instances`` labels to pick, ``n_L`` labeled
points, ridge ``lam``.
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
small (docs/design.md, Numerics), so they run on a fresh factorisation of
the chosen rows.

The parts, in the order a call uses them:

* :mod:`skfisher.selection._problem` validates the inputs, stores the
  embeddings once (:class:`skfisher.fisher.EmbeddingRows`) and picks the
  backend;
* :mod:`skfisher.selection._fishers`: the Fishers a backend reads;
  :mod:`skfisher.selection._covariance` and :mod:`skfisher.selection._gram`:
  the covariance (d x d) and Gram (sample-space) backends behind one
  protocol (:mod:`skfisher.selection._backends`);
* :mod:`skfisher.selection._greedy`: the forward and backward steps, over a
  pool that lives in this process or is sharded
  (:mod:`skfisher.selection._sharded`).
"""

from ..utils._validation import StrOptions, validate_params
from ._greedy import LocalPool
from ._problem import COMMON_CONSTRAINTS, prepare

__all__ = ["select_batch"]


@validate_params(
    {
        **COMMON_CONSTRAINTS,
        "pool_fisher": ["array-like", list, None],
        "space": [StrOptions({"auto", "covariance", "gram"})],
        "storage": [StrOptions({"auto", "device", "host"})],
        "return_gains": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def select_batch(
    embeddings,
    n_instances,
    *,
    pool_fisher=None,
    labeled_fisher=None,
    n_labeled=0,
    lam=1.0,
    backward_steps=0,
    device=None,
    space="auto",
    storage="auto",
    return_gains=False,
):
    """Pick a batch by greedy Fisher selection (the BAIT objective).

    Parameters
    ----------
    embeddings : array-like or Tensor of shape (n, C, d)
        Unscaled candidate embeddings ``V_x``; ``V_xᵀ V_x`` is x's Fisher.
    n_instances : int
        ``K``, the labels to pick, with ``(backward_steps + 1) * K <= n``.
    pool_fisher : array-like of shape (d, d) or (m, C, d), or list, default=None
        ``F_pool``, as a matrix or as embeddings whose mean ``V_xᵀ V_x`` it
        is, or as a list of (m_i, C, d) blocks of such embeddings (so that,
        e.g., candidates and labeled rows need not be concatenated into a
        copy). Defaults to that mean over ``embeddings``.
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
    space : {"auto", "covariance", "gram"}, default="auto"
        Where the algebra runs: ``"covariance"`` keeps ``A`` and ``F_pool``
        as d x d matrices; ``"gram"`` works on Grams of the stacked
        embeddings and never forms a d x d matrix (it needs the Fisher
        matrices given as embeddings, and wins when ``d`` is large against
        their rows). ``"auto"`` picks the one with fewer multiply-adds.
    storage : {"auto", "device", "host"}, default="auto"
        Where the embeddings are kept (once, in their own type): on
        ``device``, or in host memory and streamed to the device in chunks
        every step (slower; for pools whose embeddings do not fit on the
        GPU). ``"auto"`` keeps them where they are when that is the device,
        and moves them there when they fit.
    return_gains : bool, default=False
        Also return each pick's gain and the final objective.

    Returns
    -------
    indices : ndarray of shape (n_instances,), dtype int64
        Chosen rows of ``embeddings`` in the order they were chosen; ties go
        to the lowest index.
    gains : ndarray of shape (n_instances,)
        Only with ``return_gains=True``: each chosen row's drop of
        ``tr(A F_pool)`` when it was added.
    objective : float
        Only with ``return_gains=True``: ``tr(A F_pool)`` for the returned
        batch.

    Notes
    -----
    Each step costs one pass over the embeddings: O(n C² d) in parameter
    space, plus O(d² C) for the d x d state. When ``d`` exceeds the number of
    rows of the stacked embeddings (and the Fisher matrices are given as
    embeddings or defaulted) the same algebra runs on their Grams
    (``space="gram"``) and no d x d matrix is formed.

    Examples
    --------
    >>> import numpy as np
    >>> from skfisher.selection import select_batch
    >>> V = np.random.RandomState(0).randn(20, 3, 5)
    >>> select_batch(V, 4, device="cpu").shape
    (4,)
    """
    problem = prepare(
        embeddings,
        n_instances,
        pool_fisher=pool_fisher,
        labeled_fisher=labeled_fisher,
        n_labeled=n_labeled,
        lam=lam,
        backward_steps=backward_steps,
        device=device,
        space=space,
        storage=storage,
        make_pool=LocalPool,
    )
    indices, gains, objective = problem.solve()
    return (indices, gains, objective) if return_gains else indices

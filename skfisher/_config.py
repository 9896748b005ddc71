"""Global configuration of skfisher's memory budgets and chunk sizes.

As scikit-learn's ``working_memory``: :func:`set_config` changes a value,
:func:`config_context` changes it for a ``with`` block, and every module
reads the value when it runs, through :func:`get_config`. As in
scikit-learn, the configuration is local to the thread that sets it (a
:class:`contextvars.ContextVar`); new threads and processes start from the
defaults.
"""

import contextvars
from contextlib import contextmanager

_DEFAULTS = {
    "embedding_memory_fraction": 0.8,
    "chunk_memory_fraction": 0.025,
    "cpu_chunk_bytes": 64 * 2**20,
    "factored_chunk_bytes": 64 * 2**20,
    "forward_memory_fraction": 0.15,
    "cpu_forward_batch_size": 128,
    "max_forward_batch_size": 2048,
    "dense_ratio": 32,
    "gather_elements": 2**24,
    "square_elements": 2**21,
    "pair_factor": 2,
    "jacobian_elements": 2**24,
    "factored_output": True,
}

_CONFIG = contextvars.ContextVar("skfisher_config", default=_DEFAULTS)


def get_config():
    """The current configuration.

    Returns
    -------
    config : dict
        Keys as in :func:`set_config`; a copy, so changing it changes nothing.

    Examples
    --------
    >>> import skfisher
    >>> skfisher.get_config()["factored_output"]
    True
    """
    return dict(_CONFIG.get())


def _updated(params):
    unknown = sorted(set(params) - set(_DEFAULTS))
    if unknown:
        raise TypeError(
            f"Unknown configuration key(s) {unknown}; the keys are {sorted(_DEFAULTS)}."
        )
    return {**_CONFIG.get(), **{k: v for k, v in params.items() if v is not None}}


def set_config(
    embedding_memory_fraction=None,
    chunk_memory_fraction=None,
    cpu_chunk_bytes=None,
    factored_chunk_bytes=None,
    forward_memory_fraction=None,
    cpu_forward_batch_size=None,
    max_forward_batch_size=None,
    dense_ratio=None,
    gather_elements=None,
    square_elements=None,
    pair_factor=None,
    jacobian_elements=None,
    factored_output=None,
):
    """Set skfisher's memory budgets and chunk sizes for this thread.

    A value left at None keeps its current setting. The defaults suit both
    a laptop CPU and a large GPU; change them to trade memory for speed, or
    to test the chunked paths on small problems.

    Parameters
    ----------
    embedding_memory_fraction : float, default=0.8
        Fraction of the free memory of the selection's device that the stored
        embeddings (and the selection's state) may take; beyond it they stay
        in host memory and are streamed in chunks.
    chunk_memory_fraction : float, default=0.025
        Fraction of the free memory of the selection's device for one
        float64 chunk of embedding rows, or, on CUDA, for the float64
        temporaries of one chunk of candidates whose output-layer block is
        factored (a selection step holds a few such chunks).
    cpu_chunk_bytes : int, default=64 MiB
        Cap on one float64 chunk of embedding rows off CUDA (cache-sized
        chunks, bounded temporaries).
    factored_chunk_bytes : int, default=64 MiB
        Float64 temporaries of one chunk of candidates whose output-layer
        block is factored, off CUDA.
    forward_memory_fraction : float, default=0.15
        Fraction of the free GPU memory one forward batch of the Fisher
        passes may take when ``forward_batch_size="auto"``.
    cpu_forward_batch_size : int, default=128
        Rows per forward pass for ``forward_batch_size="auto"`` where device
        memory cannot be measured (the CPU).
    max_forward_batch_size : int, default=2048
        Largest automatic forward batch on a GPU.
    dense_ratio : int, default=32
        A masked layer's per-sample gradients come from one product over
        whole output rows when that computes at most this many entries per
        needed one; otherwise the needed entries are gathered.
    gather_elements : int, default=2**24
        Elements of one chunk of the gathered (rows, entries, positions)
        products.
    square_elements : int, default=2**21
        Values of one chunk's per-sample weight gradients, or position-pair
        products, for the Fisher diagonal.
    pair_factor : int, default=2
        The diagonal of a conv layer uses position-pair products when it has
        at most this many positions per backward pass.
    jacobian_elements : int, default=2**24
        Values of one chunk's (rows, classes, parameters) Jacobian on the
        torch.func path.
    factored_output : bool, default=True
        Store the output layer's block of the embeddings as the Kronecker
        factors ``(e_c - p) ⊗ h`` instead of dense rows (same picks, less
        memory and time); False is for comparing the two.

    Examples
    --------
    >>> import skfisher
    >>> skfisher.set_config(cpu_forward_batch_size=64)
    >>> skfisher.get_config()["cpu_forward_batch_size"]
    64
    >>> skfisher.set_config(cpu_forward_batch_size=128)
    """
    _CONFIG.set(_updated(dict(locals())))


@contextmanager
def config_context(**params):
    """Change skfisher's configuration inside a ``with`` block.

    Parameters
    ----------
    **params
        Keys and values as in :func:`set_config`.

    Examples
    --------
    >>> import skfisher
    >>> with skfisher.config_context(factored_output=False):
    ...     skfisher.get_config()["factored_output"]
    False
    >>> skfisher.get_config()["factored_output"]
    True
    """
    token = _CONFIG.set(_updated(params))
    try:
        yield
    finally:
        _CONFIG.reset(token)

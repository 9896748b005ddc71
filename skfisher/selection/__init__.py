"""Greedy Fisher (BAIT objective) batch selection: pure linear algebra, in one
process or over a pool sharded across processes."""

from ._select import select_batch
from ._sharded import select_batch_sharded

__all__ = ["select_batch", "select_batch_sharded"]

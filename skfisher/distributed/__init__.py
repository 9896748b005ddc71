"""Queries over a pool sharded across processes and hosts (torch.distributed):
each rank passes its own rows, every rank gets the same global indices."""

from ._agree import model_checksum
from ._badge import kmeanspp_sharded
from ._query import query_sharded

__all__ = ["kmeanspp_sharded", "model_checksum", "query_sharded"]

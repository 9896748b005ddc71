"""Fisher information of a network: per-sample gradients, the Fisher diagonal,
the sparse mask and the masked per-class gradient embeddings."""

from ._diagonal import DIAGONAL_METHODS, fisher_diagonal
from ._embeddings import factorable_output, factored_embeddings, masked_embeddings
from ._factored import FactoredRows
from ._mask import MASK_METHODS, build_mask, mask_candidates, mask_summary, output_params
from ._persample import ParamLayout
from ._storage import STORAGE_DTYPES, EmbeddingRows

__all__ = [
    "DIAGONAL_METHODS",
    "MASK_METHODS",
    "STORAGE_DTYPES",
    "EmbeddingRows",
    "FactoredRows",
    "ParamLayout",
    "build_mask",
    "factorable_output",
    "factored_embeddings",
    "fisher_diagonal",
    "mask_candidates",
    "mask_summary",
    "masked_embeddings",
    "output_params",
]

"""How the ranks of a sharded query stay in step: a failure on one rank is an
error on every rank, and what must be equal everywhere is checked first.

Every collective of a query runs under the process group's ``timeout`` (the
``timeout`` of ``torch.distributed.init_process_group``): a rank that dies
makes the others raise, at the latest after that timeout, instead of
waiting forever. A rank whose local step fails (bad rows, a non-finite
model output) does not leave the others waiting either: each local step is
followed by an exchange of errors, and every rank raises.
"""

import hashlib

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["Ranks", "model_checksum"]


def model_checksum(model):
    """SHA-256 of a module's parameters and buffers (names, shapes, types, values)."""
    digest = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        digest.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class Ranks:
    """The process group of a sharded query and its agreement steps.

    Parameters
    ----------
    group : ProcessGroup or None
        None: the default group, which must be initialised.
    what : str
        The query's name, for the error messages.
    """

    def __init__(self, group, what):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                f"{what}: a sharded query needs an initialised torch.distributed process "
                "group (torch.distributed.init_process_group, e.g. under torchrun)."
            )
        self.group, self.what = group, what
        self.rank = dist.get_rank(group)
        self.size = dist.get_world_size(group)

    def gather(self, obj):
        """Every rank's ``obj`` (picklable), in rank order."""
        out = [None] * self.size
        dist.all_gather_object(out, obj, group=self.group)
        return out

    def run(self, step):
        """``step()`` on this rank; when it raises on any rank, raise on every rank.

        The error is a ValueError when the failing rank's was one, else a
        RuntimeError, and names that rank and its message.
        """
        try:
            result, error = step(), None
        except Exception as exc:  # shared with the other ranks below
            result, error = None, exc
        errors = self.gather(None if error is None else (type(error).__name__, str(error)))
        failed = [(r, e) for r, e in enumerate(errors) if e is not None]
        if failed:
            r, (kind, message) = failed[0]
            cls = ValueError if kind == "ValueError" else RuntimeError
            raise cls(f"{self.what} failed on rank {r}: {message}") from error
        return result

    def check_same(self, facts):
        """Raise a ValueError on every rank unless every rank's ``facts`` (a dict)
        agree; a None fact (e.g. the shape of an empty shard) agrees with any."""
        every = self.gather(facts)
        for key in facts:
            values = [f[key] for f in every]
            known = [v for v in values if v is not None]
            if any(v != known[0] for v in known):
                listed = ", ".join(f"rank {r}: {v}" for r, v in enumerate(values))
                raise ValueError(f"{self.what}: the ranks disagree on {key} ({listed}).")

    def counts(self, n_local):
        """Rows per rank and each rank's first global row: ``(counts, offsets)``."""
        counts = np.asarray(self.gather(int(n_local)), dtype=np.int64)
        return counts, np.concatenate([[0], np.cumsum(counts)])

    def all_reduce(self, tensor):
        """Sum ``tensor`` over the ranks, in place."""
        dist.all_reduce(tensor, group=self.group)
        return tensor

    def broadcast(self, tensor, src):
        """``tensor`` from group rank ``src`` to every rank, in place."""
        root = src if self.group is None else dist.get_global_rank(self.group, src)
        dist.broadcast(tensor, src=root, group=self.group)
        return tensor

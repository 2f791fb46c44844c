"""A least-recently-used store bounded by entries and by bytes: the simulator's caches.

The search revisits partitions, so the simulator keeps per-partition arrays; on the largest
workloads (mlp_k on eight chips) one entry can hold tens of megabytes, so every cache is bounded
by bytes as well as by entries.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import scipy.sparse as sps


def nbytes(value) -> int:
    """Bytes held by the numpy arrays and scipy sparse matrices among a dataclass's fields."""
    total = 0
    for v in vars(value).values():
        if isinstance(v, np.ndarray):
            total += v.nbytes
        elif sps.issparse(v):
            total += v.data.nbytes + v.indices.nbytes + v.indptr.nbytes
    return total


class LRU(OrderedDict):
    """Least-recently-used store bounded by entries and by the bytes of its entries' arrays."""

    def __init__(self, max_entries: int, max_bytes: int | None = None) -> None:
        super().__init__()
        self.max_entries, self.max_bytes, self.bytes = max_entries, max_bytes, 0

    def get_or_make(self, key, make):
        hit = self.get(key)
        if hit is not None:
            self.move_to_end(key)
            return hit
        value = make()
        self[key] = value
        self.bytes += nbytes(value)
        while len(self) > 1 and (
            len(self) > self.max_entries
            or (self.max_bytes is not None and self.bytes > self.max_bytes)
        ):
            _, old = self.popitem(last=False)
            self.bytes -= nbytes(old)
        return value

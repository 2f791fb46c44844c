"""Per-(layer, partition) synapse statistics: the shared, cached basis of resource checks and
traffic.

A layer's *partition* is its boundaries array ``B`` (``B[0] = 0 < B[1] < ... < B[c] = n_out``):
slice ``j`` holds the layer's neurons ``B[j]:B[j+1]`` on one core. Everything here depends only on
(network, layer, B), never on placement, so a search that re-places cores or revisits a core count
hits the cache.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sps

from ..network import NetworkIR
from .lru import LRU

_CACHE_ENTRIES = 2048  # per network; each entry is O(n_in x cores) at worst ...
_CACHE_BYTES = 1 << 30  # ... and at most this much in all (one mlp_k layer split is up to ~20 MB)


@dataclass(frozen=True, eq=False)
class SliceStats:
    """Synapse statistics of one layer under one partition.

    Attributes
    ----------
    counts : scipy.sparse.csr_matrix
        ``(n_in, c)`` int32: non-zero synapses from source neuron ``i`` onto slice ``j``.
    incidence : scipy.sparse.csr_matrix
        ``(n_in, c)`` float64 0/1 pattern of ``counts`` (one message per active source and
        destination core).
    neurons, input_axons, dense_words, sparse_words, synmem_words : numpy.ndarray
        ``(c,)`` per slice; ``synmem_words`` is the cheaper of the two encodings.
    fanout : numpy.ndarray
        ``(n_in,)`` distinct destination slices per source neuron (messages it sends when active).
    words_per_axon : scipy.sparse.csr_matrix
        ``(n_in, c)`` SynMem words read per message, under the encoding each slice uses.
    """

    counts: sps.csr_matrix
    incidence: sps.csr_matrix
    neurons: np.ndarray
    input_axons: np.ndarray
    dense_words: np.ndarray
    sparse_words: np.ndarray
    synmem_words: np.ndarray
    fanout: np.ndarray
    words_per_axon: sps.csr_matrix


def _compute(weights: sps.csr_matrix, bounds: np.ndarray, dense_per_word: int,
             sparse_per_word: int) -> SliceStats:
    _n_out, n_in = weights.shape
    c = len(bounds) - 1
    neurons = np.diff(bounds)
    row_slice = np.repeat(np.arange(c, dtype=np.int64), neurons)
    nnz_slice = np.repeat(row_slice, np.diff(weights.indptr))
    flat = weights.indices.astype(np.int64) * c + nnz_slice
    binned = np.bincount(flat, minlength=n_in * c)
    keys = np.flatnonzero(binned)
    rows, cols = np.divmod(keys, c)
    vals = binned[keys].astype(np.int32)
    counts = sps.csr_matrix((vals, (rows, cols)), shape=(n_in, c))
    incidence = sps.csr_matrix((np.ones(len(vals)), (rows, cols)), shape=(n_in, c))
    input_axons = np.bincount(cols, minlength=c)
    sparse_each = -(-vals // sparse_per_word)
    sparse_words = np.bincount(cols, weights=sparse_each, minlength=c).astype(np.int64)
    dense_per_axon = -(-neurons // dense_per_word)
    # Dense stores every input axon's full row of the slice, zeros included (LOIHI2.md §2 item 5).
    dense_words = n_in * dense_per_axon
    use_dense = dense_words < sparse_words
    words_each = np.where(use_dense[cols], dense_per_axon[cols], sparse_each).astype(np.float64)
    return SliceStats(
        counts=counts,
        incidence=incidence,
        neurons=neurons,
        input_axons=input_axons,
        dense_words=dense_words,
        sparse_words=sparse_words,
        synmem_words=np.minimum(dense_words, sparse_words),
        fanout=np.diff(incidence.indptr),
        words_per_axon=sps.csr_matrix((words_each, (rows, cols)), shape=(n_in, c)),
    )


_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def slice_stats(network: NetworkIR, layer: int, bounds: np.ndarray, dense_per_word: int = 4,
                sparse_per_word: int = 2) -> SliceStats:
    """Cached :class:`SliceStats` of ``network.layers[layer]`` split at ``bounds`` (LRU per
    network)."""
    cache = _caches.get(network)
    if cache is None:
        cache = LRU(_CACHE_ENTRIES, _CACHE_BYTES)
        _caches[network] = cache
    b = np.ascontiguousarray(bounds, dtype=np.int64)
    key = (layer, dense_per_word, sparse_per_word, b.tobytes())
    return cache.get_or_make(
        key, lambda: _compute(network.layers[layer].weights, b, dense_per_word, sparse_per_word))


def even_bounds(n: int, c: int) -> np.ndarray:
    """Boundaries splitting ``n`` neurons evenly over ``c`` cores (sizes differ by at most one)."""
    return (np.arange(c + 1, dtype=np.int64) * n) // c

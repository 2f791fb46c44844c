"""Traffic: per sample and per core, the synaptic ops, neuron updates, messages in and out, and the
core-to-core message counts, all as sparse products over the measured activity.

Execution model (../shared/WORKLOADS.md): sample ``s`` is integrated by layer ``k`` (0-based) at
timestep ``t = s + k``; during that timestep the cores of layer ``k - 1`` (or the host, for
``k = 0``) send population ``k``'s spikes of sample ``s`` -- one message per (active source neuron,
destination core holding one of its non-zero synapses) -- and layer ``k``'s cores do one synaptic op
per non-zero synapse of each message. Every core updates all its neurons every timestep. Input
spikes enter from the host through one port at chip 0, router (0, 0); output spikes are read by the
host from the last layer's neurons and are not NoC traffic.

Everything here is placement-free and cached per (layer, partition), so only placement-dependent
work (routes, links) is redone when a search moves cores around.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sps

from ..model.activity import ActivityProfile
from ..model.lru import LRU
from ..model.resources import SliceStats

_LAYER_ENTRIES = 4096
_PAIR_ENTRIES = 256  # pair traffic is (n_samples x pairs): larger, keep fewer
_PAIR_BYTES = 512 << 20  # and at most this much of it (one mlp_k layer pair is ~16 MB)
_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True, eq=False)
class LayerCounts:
    """Per-sample, per-slice counts of one layer (rows: samples, columns: the layer's slices).

    Attributes
    ----------
    syn_ops, msgs_in : numpy.ndarray
        ``(N, c)`` synaptic ops and messages received while integrating sample ``s``.
    spikes : numpy.ndarray
        ``(N, c)`` neurons of the slice that spike on sample ``s``.
    msgs_out : numpy.ndarray
        ``(N, c)`` messages the slice sends for sample ``s`` (0 for the last layer).
    neurons : numpy.ndarray
        ``(c,)`` neurons per slice.
    """

    syn_ops: np.ndarray
    msgs_in: np.ndarray
    spikes: np.ndarray
    msgs_out: np.ndarray
    neurons: np.ndarray


@dataclass(frozen=True, eq=False)
class PairTraffic:
    """Messages from the slices of layer ``k - 1`` (or the host, ``src = 0``) to those of layer
    ``k``.

    Attributes
    ----------
    src, dst : numpy.ndarray
        ``(P,)`` slice indices of each pair with any traffic.
    messages, syn_ops : numpy.ndarray
        ``(N, P)`` float32 messages and synaptic ops of each pair per sample.
    """

    src: np.ndarray
    dst: np.ndarray
    messages: np.ndarray
    syn_ops: np.ndarray


class _ActivityCache:
    def __init__(self, activity: ActivityProfile) -> None:
        self.csr = [sps.csr_matrix(s.astype(np.float64)) for s in activity.spikes]
        self.dense = [s.astype(np.float64) for s in activity.spikes]
        self.dense_t = [np.ascontiguousarray(d.T) for d in self.dense]  # (n, N): sparse.T @ dense_t
        self.layers = LRU(_LAYER_ENTRIES)
        self.pairs = LRU(_PAIR_ENTRIES, _PAIR_BYTES)


def _cache(activity: ActivityProfile) -> _ActivityCache:
    c = _caches.get(activity)
    if c is None:
        c = _ActivityCache(activity)
        _caches[activity] = c
    return c


def layer_counts(
    activity: ActivityProfile,
    k: int,
    bounds: np.ndarray,
    stats: SliceStats,
    next_stats: SliceStats | None,
) -> LayerCounts:
    """Cached :class:`LayerCounts` of layer ``k`` (0-based) split at ``bounds``; ``next_stats`` is
    layer ``k + 1``'s (None for the last layer)."""
    ac = _cache(activity)
    nb = None if next_stats is None else len(next_stats.neurons)
    key = (
        k,
        np.asarray(bounds, dtype=np.int64).tobytes(),
        nb,
        None if next_stats is None else next_stats.neurons.tobytes(),
    )

    def make() -> LayerCounts:
        # sparse x dense: one pass over the synapses per sample, no sparse product
        a_t = ac.dense_t[k]
        starts = bounds[:-1]
        spikes = np.add.reduceat(ac.dense[k + 1], starts, axis=1)
        if next_stats is None:
            out = np.zeros_like(spikes)
        else:
            out = np.add.reduceat(ac.dense[k + 1] * next_stats.fanout, starts, axis=1)
        return LayerCounts(
            syn_ops=np.ascontiguousarray((stats.counts.T @ a_t).T),
            msgs_in=np.ascontiguousarray((stats.incidence.T @ a_t).T),
            spikes=spikes,
            msgs_out=out,
            neurons=stats.neurons.astype(np.float64),
        )

    return ac.layers.get_or_make(key, make)


def pair_traffic(
    activity: ActivityProfile,
    k: int,
    prev_bounds: np.ndarray | None,
    bounds: np.ndarray,
    stats: SliceStats,
) -> PairTraffic:
    """Cached :class:`PairTraffic` into layer ``k`` from layer ``k - 1`` split at ``prev_bounds``
    (or from the host when ``prev_bounds`` is None)."""
    ac = _cache(activity)
    pkey = b"host" if prev_bounds is None else np.asarray(prev_bounds, dtype=np.int64).tobytes()
    key = (k, np.asarray(bounds, dtype=np.int64).tobytes(), pkey)

    def make() -> PairTraffic:
        a_t = ac.dense_t[k]
        n_in, c = stats.counts.shape
        if prev_bounds is None:
            src_of = np.zeros(n_in, dtype=np.int64)
            n_src = 1
        else:
            n_src = len(prev_bounds) - 1
            src_of = np.repeat(np.arange(n_src, dtype=np.int64), np.diff(prev_bounds))
        # column (source slice, destination slice) of every synapse block: one dense x sparse
        # product
        shift = np.repeat(src_of * c, np.diff(stats.incidence.indptr))
        cols = stats.incidence.indices + shift

        def spread(m: sps.csr_matrix) -> np.ndarray:
            return (sps.csr_matrix((m.data, cols, m.indptr), shape=(n_in, n_src * c)).T @ a_t).T

        msgs, ops = spread(stats.incidence), spread(stats.counts)
        used = np.flatnonzero(msgs.any(axis=0))
        src, dst = np.divmod(used, c)
        return PairTraffic(
            src, dst, msgs[:, used].astype(np.float32), ops[:, used].astype(np.float32)
        )

    return ac.pairs.get_or_make(key, make)

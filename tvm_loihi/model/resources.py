"""Per-core resources: the one place a per-core limit or a synapse encoding is defined.

Owns the per-(layer, partition) synapse statistics (the cached basis of resource checks and of the
simulator's traffic), the per-core usage of a layer split, the fit check (:func:`first_violation`,
:func:`counts_violation`), the fewest cores per layer (:func:`min_cores_per_layer`) and the
capacity errors raised at compile time (:class:`LoihiCapacityError`). Changing a limit or an
encoding means changing this module (and the constants in :mod:`tvm_loihi.model.hardware`).

Resource rules (constants in :class:`~tvm_loihi.model.hardware.CoreLimits`):

* neurons per core <= ``max_neurons``;
* SynMem words per core <= ``synmem_words``, where the core uses the cheaper of two encodings:
  *dense* (``ceil((n_neurons_on_core + dense_extra_synapses) / dense_synapses_per_word)``, by
  default ``ceil((n + 3) / 4)``, words per input axon of the layer, zeros stored) or
  *sparse* (``ceil(nnz / 2)`` words per source neuron with a non-zero synapse onto the core);
* input axons per core (distinct source neurons with a non-zero synapse onto it)
  <= ``max_input_axons``;
* output axon entries per core (sum over its neurons of the distinct destination cores they reach;
  one per neuron for the output layer, whose spikes go to the host) <= ``max_output_axons``;
* neuron groups per core (one: a core holds one slice of one layer) <= ``max_neuron_groups``.

The Lava default mapping applies the same rules (the compiler keeps the cheaper encoding per core)
and gives each layer the fewest cores that satisfy them (LOIHI2.md §2). Output axons of layer k
depend on layer k+1's split, so layers are sized from the last to the first.

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

from .lru import LRU
from .network import Layer, NetworkIR

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


def _compute(
    weights: sps.csr_matrix,
    bounds: np.ndarray,
    dense_per_word: int,
    sparse_per_word: int,
    dense_extra: int = 0,
) -> SliceStats:
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
    dense_per_axon = -(-(neurons + dense_extra) // dense_per_word)
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


def slice_stats(
    network: NetworkIR,
    layer: int,
    bounds: np.ndarray,
    dense_per_word: int = 4,
    sparse_per_word: int = 2,
    dense_extra: int = 0,
) -> SliceStats:
    """Cached :class:`SliceStats` of ``network.layers[layer]`` split at ``bounds`` (LRU per
    network); a dense row of ``n`` synapses takes ``ceil((n + dense_extra) / dense_per_word)``
    words."""
    cache = _caches.get(network)
    if cache is None:
        cache = LRU(_CACHE_ENTRIES, _CACHE_BYTES)
        _caches[network] = cache
    b = np.ascontiguousarray(bounds, dtype=np.int64)
    key = (layer, dense_per_word, sparse_per_word, dense_extra, b.tobytes())
    return cache.get_or_make(
        key,
        lambda: _compute(
            network.layers[layer].weights, b, dense_per_word, sparse_per_word, dense_extra
        ),
    )


def even_bounds(n: int, c: int) -> np.ndarray:
    """Boundaries splitting ``n`` neurons evenly over ``c`` cores (sizes differ by at most one)."""
    return (np.arange(c + 1, dtype=np.int64) * n) // c


class MappingError(ValueError):
    """A mapping that does not fit the hardware (names the layer, core, limit and excess)."""


class LoihiCapacityError(ValueError):
    """A layer (or an offloaded network) does not fit on the selected Loihi hardware."""


# A violation: (layer, limit name, slice index, used, cap).
Violation = tuple[int, str, int, int, int]


def layer_stats(network: NetworkIR, hardware, k: int, bounds: np.ndarray) -> SliceStats:
    """Cached :class:`SliceStats` of layer ``k`` split at ``bounds`` under ``hardware``'s
    encodings."""
    lim = hardware.limits
    return slice_stats(
        network,
        k,
        bounds,
        lim.dense_synapses_per_word,
        lim.sparse_synapses_per_word,
        lim.dense_extra_synapses,
    )


def layer_usage(stats: SliceStats, next_stats: SliceStats | None, bounds: np.ndarray) -> dict:
    """Per-slice resource use of one layer: ``{limit name: (c,) array}``."""
    if next_stats is None:
        out_axons = stats.neurons  # output layer: one entry per neuron, to the host
    else:
        out_axons = np.add.reduceat(next_stats.fanout, bounds[:-1])
    return {
        "max_neurons": stats.neurons,
        "synmem_words": stats.synmem_words,
        "max_input_axons": stats.input_axons,
        "max_output_axons": out_axons,
        "max_neuron_groups": np.ones_like(stats.neurons),
    }


def _over(usage: dict, limits) -> tuple[str, int, int, int] | None:
    for limit, used in usage.items():
        cap = getattr(limits, limit)
        bad = np.flatnonzero(used > cap)
        if bad.size:
            j = int(bad[0])
            return limit, j, int(used[j]), int(cap)
    return None


def layer_violation(
    network: NetworkIR, hardware, k: int, bounds: np.ndarray, next_bounds: np.ndarray | None
) -> Violation | None:
    """The first per-core limit layer ``k``'s cores break when split at ``bounds`` (its successor
    split at ``next_bounds``, None for the output layer), else None. THE fit rule."""
    nxt = None if next_bounds is None else layer_stats(network, hardware, k + 1, next_bounds)
    found = _over(
        layer_usage(layer_stats(network, hardware, k, bounds), nxt, bounds), hardware.limits
    )
    return None if found is None else (k, *found)


def first_violation(
    network: NetworkIR, hardware, bounds: tuple[np.ndarray, ...]
) -> Violation | None:
    """The first per-core limit broken when every layer ``k`` is split at ``bounds[k]``, else
    None."""
    depth = len(bounds)
    for k in range(depth):
        v = layer_violation(
            network, hardware, k, bounds[k], bounds[k + 1] if k + 1 < depth else None
        )
        if v is not None:
            return v
    return None


def counts_violation(network: NetworkIR, hardware, counts) -> Violation | None:
    """:func:`first_violation` of the even split of layer ``k`` over ``counts[k]`` cores."""
    sizes = network.layer_sizes[1:]
    return first_violation(
        network, hardware, tuple(even_bounds(n, int(c)) for n, c in zip(sizes, counts))
    )


def describe_violation(network: NetworkIR, v: Violation, core: int | None = None) -> str:
    """``layer k ('name') slice j on core g: limit used > cap (over by x)``."""
    k, limit, j, used, cap = v
    where = f" on core {core}" if core is not None else ""
    return (
        f"layer {k} ({network.layers[k].name!r}) slice {j}{where}: {limit} {used} > {cap} "
        f"(over by {used - cap})"
    )


def _fits_layer(
    network: NetworkIR, hardware, k: int, c: int, next_bounds: np.ndarray | None
) -> bool:
    b = even_bounds(network.layer_sizes[k + 1], c)
    return layer_violation(network, hardware, k, b, next_bounds) is None


def min_cores_per_layer(network: NetworkIR, hardware) -> tuple[int, ...]:
    """Fewest cores per layer (even split) satisfying every per-core limit, sized last layer first.

    Feasibility is assumed monotone in the core count (it is, up to even-split rounding), so a
    binary search finds the boundary; Lava's compiler likewise raises the count until nothing is
    violated.
    """
    lim = hardware.limits
    cores: list[int] = []
    next_bounds: np.ndarray | None = None
    for k in reversed(range(network.depth)):
        n = network.layer_sizes[k + 1]
        if not _fits_layer(network, hardware, k, n, next_bounds):
            raise MappingError(
                f"layer {k} ({network.layers[k].name!r}) does not fit even at one "
                f"neuron per core on {hardware.name!r}"
            )
        lo, hi = max(1, -(-n // lim.max_neurons)), n  # hi always fits
        while lo < hi:
            mid = (lo + hi) // 2
            if _fits_layer(network, hardware, k, mid, next_bounds):
                hi = mid
            else:
                lo = mid + 1
        cores.append(lo)
        next_bounds = even_bounds(n, lo)
    return tuple(reversed(cores))


def _fits_on_all_cores(network: NetworkIR, hardware) -> bool:
    # Feasibility is monotone in the core count, so one check that shares every core among the
    # layers in proportion to their neurons settles the common case without the binary search of
    # min_cores_per_layer (which then only runs to explain a failure).
    sizes = np.array(network.layer_sizes[1:], dtype=np.int64)
    if hardware.n_cores < len(sizes):
        return False
    share = np.maximum(1, (hardware.n_cores - len(sizes)) * sizes // sizes.sum())
    return counts_violation(network, hardware, np.minimum(sizes, share).tolist()) is None


def _min_cores_or_reason(network: NetworkIR, hardware) -> tuple[tuple[int, ...] | None, str]:
    try:
        return min_cores_per_layer(network, hardware), ""
    except MappingError as err:
        return None, str(err)


def layer_capacity_problem(name: str, weight_out_in: np.ndarray, hardware) -> str | None:
    """None when a float layer ``(n_out, n_in)`` fits on ``hardware``, else a one-line reason."""
    pattern = sps.csr_matrix((np.asarray(weight_out_in) != 0).astype(np.int8))
    n_out, n_in = pattern.shape
    layer = Layer(name, pattern, 0, np.zeros(n_out, dtype=np.int32), False)
    network = NetworkIR((layer,), name=name)
    if _fits_on_all_cores(network, hardware):
        return None
    cores, err = _min_cores_or_reason(network, hardware)
    what = f"layer {name!r} ({n_out} neurons, {n_in} inputs, {pattern.nnz} synapses)"
    if cores is None:
        return f"{what} does not fit on {hardware.name!r}: {err}"
    if cores[0] > hardware.n_cores:
        return (
            f"{what} needs {cores[0]} cores, {hardware.name!r} has {hardware.n_cores} "
            f"(over by {cores[0] - hardware.n_cores})"
        )
    return None


def check_network_fits(network: NetworkIR, hardware) -> None:
    """Raise :class:`LoihiCapacityError` (each layer's fewest cores) when ``network`` cannot fit."""
    if _fits_on_all_cores(network, hardware):
        return
    cores, err = _min_cores_or_reason(network, hardware)
    if cores is None:
        raise LoihiCapacityError(
            f"network {network.name!r} does not fit on {hardware.name!r}: {err}"
        )
    total = sum(cores)
    if total > hardware.n_cores:
        per_layer = ", ".join(f"{layer.name!r}: {c}" for layer, c in zip(network.layers, cores))
        raise LoihiCapacityError(
            f"network {network.name!r} needs {total} cores ({per_layer}), {hardware.name!r} has "
            f"{hardware.n_cores} (over by {total - hardware.n_cores}); choose a larger preset "
            "(target 'loihi2-2chip' or 'loihi2-kapoho')"
        )

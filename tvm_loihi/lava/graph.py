"""Serialisable description of the Lava process graph of a
:class:`~tvm_loihi.model.network.NetworkIR`.

The description is what gets saved with a compiled artifact, shipped to a remote Loihi host over RPC
and rebuilt there by :func:`tvm_loihi.lava.emit.build` -- plain JSON plus the network's integer
arrays, no pickle and no Lava objects, so it is independent of the Lava version and safe to load.

Graph shape
-----------
Population ``0`` is the host input (one process); populations ``1..L`` are the layers' neurons,
split into *slices* (one ``QNeuron`` process each). Without a mapping every layer is one slice; with
a :class:`~tvm_loihi.model.mapping.Mapping` every neuron slice becomes its own process and records
the global core id it is placed on. Every slice gets exactly one ``Sparse``/``Dense`` synapse
process holding its rows of ``W`` (all input columns); on Loihi the synapses live on the core of
their destination neuron, so it is placed with its slice.

Lava 0.10 cannot concatenate ports, so a source slice sends a vector as wide as its whole
population, zero outside its own neurons, and the synapse process's ``InPort`` sums the slices'
vectors -- which, with disjoint supports, *is* their concatenation. Each synapse therefore sees the
full input and shifts the complete sum once: ``weights = 2*W`` with ``SignMode.MIXED`` (Lava drops
the lowest bit of mixed-sign weights) and ``weight_exp = -(shift + 1)``, exact because the floor
shift comes after the sum. (Splitting the columns too would need the shift after adding the partial
sums, since ``floor(a / 2**s) + floor(b / 2**s) != floor((a + b) / 2**s)``, and one process per
block.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import scipy.sparse as sps

from ..model.network import ACCUMULATOR_LIMIT, NetworkIR, npz_bytes, npz_load

# Above this density Dense is as fast as Sparse in Lava's simulator (lava-0.10.md §5).
SPARSE_DENSITY_LIMIT = 0.3
SYNAPSE_MODES = ("auto", "sparse", "dense")
UNPLACED = -1  # core id of a slice when no mapping was given


class AccumulatorOverflowError(ValueError):
    """A layer whose worst-case ``sum |2 W x|`` would wrap Lava's int32 synapse accumulator."""


@dataclass(frozen=True, eq=False)
class LavaGraph:
    """The process graph of one network, ready to be emitted into Lava processes.

    Parameters
    ----------
    network : NetworkIR
        The network (weights, biases, shifts, saturation).
    bounds : tuple of tuple of int
        Per layer the slice boundaries ``(0, ..., n_k)``.
    cores : tuple of tuple of int
        Per layer the global core id of every slice (``-1`` when unplaced).
    kinds : tuple of tuple of str
        Per layer and slice the synapse process: ``"sparse"`` (Lava ``Sparse``) or ``"dense"``.
    mapping : dict or None
        ``Mapping.to_json()`` of the placement this graph was built from.
    """

    network: NetworkIR
    bounds: tuple[tuple[int, ...], ...]
    cores: tuple[tuple[int, ...], ...]
    kinds: tuple[tuple[str, ...], ...]
    mapping: dict | None = None

    def __post_init__(self) -> None:
        net = self.network
        if not len(self.bounds) == len(self.cores) == len(self.kinds) == net.depth:
            raise ValueError(
                f"graph of {net.name!r}: need per-layer bounds, cores and kinds for "
                f"{net.depth} layers"
            )
        for k, layer in enumerate(net.layers):
            b = self.bounds[k]
            if b[0] != 0 or b[-1] != layer.n_out or any(x >= y for x, y in pairwise(b)):
                raise ValueError(
                    f"layer {k} ({layer.name!r}): slice bounds {list(b)} do not split "
                    f"0..{layer.n_out}"
                )
            if not len(self.cores[k]) == len(self.kinds[k]) == len(b) - 1:
                raise ValueError(
                    f"layer {k} ({layer.name!r}): {len(b) - 1} slices but "
                    f"{len(self.cores[k])} cores and {len(self.kinds[k])} synapse "
                    f"kinds"
                )
            bad = set(self.kinds[k]) - {"sparse", "dense"}
            if bad:
                raise ValueError(f"layer {k} ({layer.name!r}): unknown synapse kinds {sorted(bad)}")
        check_accumulators(net)

    # -- structure ---------------------------------------------------------------------------------
    def weight_exp(self, k: int) -> int:
        """Lava ``weight_exp`` of layer ``k``'s synapses: ``2*W`` shifted by ``shift + 1``."""
        return -(self.network.layers[k].shift + 1)

    def slice_weights(self, k: int, j: int) -> sps.csr_matrix:
        """Layer ``k``'s int8 weight rows of slice ``j`` (all input columns)."""
        b = self.bounds[k]
        return self.network.layers[k].weights[b[j] : b[j + 1]].tocsr()

    def source_width(self, k: int) -> int:
        """Width of the vectors population ``k`` sends (``layer_sizes[k]``)."""
        return self.network.layer_sizes[k]

    @property
    def n_processes(self) -> int:
        """Lava processes the emitter creates: the source, a neuron and a synapse per slice."""
        return 1 + 2 * sum(len(b) - 1 for b in self.bounds)

    # -- identity and serialisation ----------------------------------------------------------------
    def to_json(self) -> dict:
        """Everything but the network's arrays, as plain JSON data."""
        return {
            "version": 1,
            "network": self.network.meta_json(),
            "bounds": [list(b) for b in self.bounds],
            "cores": [list(c) for c in self.cores],
            "kinds": [list(c) for c in self.kinds],
            "weight_exp": [self.weight_exp(k) for k in range(self.network.depth)],
            "mapping": self.mapping,
        }

    def key(self) -> str:
        """Hash of the network and the graph structure (equal graphs hash equal)."""
        h = hashlib.sha256(self.network.workload_key().encode())
        h.update(
            json.dumps(
                {k: v for k, v in self.to_json().items() if k != "network"}, sort_keys=True
            ).encode()
        )
        return h.hexdigest()[:16]

    def to_bytes(self) -> bytes:
        """Self-contained ``.npz`` bytes (JSON description + network arrays); loads without
        pickle."""
        return npz_bytes("graph", self.to_json(), self.network.arrays())

    @classmethod
    def from_bytes(cls, blob: bytes) -> LavaGraph:
        """Inverse of :meth:`to_bytes` (validates the description)."""
        d, arrays = npz_load(blob, "graph")
        if d.get("version") != 1:
            raise ValueError(f"unsupported Lava graph version {d.get('version')!r}")
        graph = cls(
            NetworkIR.from_parts(d["network"], arrays),
            tuple(tuple(int(x) for x in b) for b in d["bounds"]),
            tuple(tuple(int(x) for x in c) for c in d["cores"]),
            tuple(tuple(str(x) for x in c) for c in d["kinds"]),
            d.get("mapping"),
        )
        if d["weight_exp"] != graph.to_json()["weight_exp"]:
            raise ValueError(
                f"graph of {graph.network.name!r}: weight_exp {d['weight_exp']} does "
                f"not match the layers' shifts"
            )
        return graph


def check_accumulators(network: NetworkIR) -> None:
    """Raise :class:`AccumulatorOverflowError` if some layer's worst-case ``sum_j |2 W_ij| *
    max|x_j|`` does not fit Lava's int32 accumulator (the compiler picks ``lo``/``hi`` so it always
    does; a hand-built network may not). ``x`` ranges over the previous layer's ``[lo, hi]`` or the
    input's ``[input_lo, input_hi]``."""
    peak = max(abs(network.input_lo), abs(network.input_hi))
    for k, layer in enumerate(network.layers):
        w = abs(layer.weights.astype(np.int64))
        worst = 2 * np.asarray(w.sum(axis=1)).ravel() * peak
        if worst.size and worst.max() > ACCUMULATOR_LIMIT:
            i = int(np.argmax(worst))
            raise AccumulatorOverflowError(
                f"layer {k} ({layer.name!r}) neuron {i}: worst-case accumulator sum|2W|*{peak} = "
                f"{int(worst[i])} exceeds Lava's int32 limit {ACCUMULATOR_LIMIT} by "
                f"{int(worst[i]) - ACCUMULATOR_LIMIT}; lower the saturation bound of the layer's "
                f"input"
            )
        peak = max(abs(layer.lo), abs(layer.hi))


def describe(network: NetworkIR, mapping=None, synapse: str = "auto") -> LavaGraph:
    """Plan the Lava graph of ``network`` (optionally tiled and placed by ``mapping``).

    Parameters
    ----------
    network : NetworkIR
        The quantised network.
    mapping : tvm_loihi.model.mapping.Mapping or dict, optional
        Neuron slices and their global core ids (a ``Mapping`` or its ``to_json()``); without it
        every layer is one slice, unplaced.
    synapse : {"auto", "sparse", "dense"}
        Synapse process per slice: ``"auto"`` picks ``Sparse`` up to 30 % density, else ``Dense``.

    Returns
    -------
    LavaGraph

    Raises
    ------
    AccumulatorOverflowError
        If a layer could wrap Lava's int32 accumulator.
    """
    if synapse not in SYNAPSE_MODES:
        raise ValueError(f"synapse must be one of {SYNAPSE_MODES}, got {synapse!r}")
    check_accumulators(network)
    bounds, cores = _slices(network, mapping)
    kinds = tuple(
        _layer_kinds(layer.weights, b, synapse) for layer, b in zip(network.layers, bounds)
    )
    mapping_json = None if mapping is None else _mapping_json(mapping)
    return LavaGraph(network, bounds, cores, kinds, mapping_json)


def _mapping_json(mapping) -> dict:
    return mapping if isinstance(mapping, dict) else mapping.to_json()


def _slices(network: NetworkIR, mapping) -> tuple[tuple, tuple]:
    if mapping is None:
        sizes = network.layer_sizes[1:]
        return tuple((0, n) for n in sizes), tuple((UNPLACED,) for _ in sizes)
    m = _mapping_json(mapping)
    bounds = tuple(tuple(int(x) for x in b) for b in m["bounds"])
    if tuple(b[-1] for b in bounds) != network.layer_sizes[1:]:
        raise ValueError(
            f"mapping covers layers of sizes {tuple(b[-1] for b in bounds)}, network "
            f"{network.name!r} has {network.layer_sizes[1:]}"
        )
    ids = [int(c) for c in m["core_ids"]]
    offsets = np.cumsum([0] + [len(b) - 1 for b in bounds])
    return bounds, tuple(tuple(ids[offsets[k] : offsets[k + 1]]) for k in range(len(bounds)))


def _layer_kinds(w: sps.csr_matrix, bounds: tuple[int, ...], synapse: str) -> tuple[str, ...]:
    nnz = np.diff(w.indptr)
    return tuple(
        _kind(synapse, int(nnz[lo:hi].sum()), (hi - lo) * w.shape[1]) for lo, hi in pairwise(bounds)
    )


def _kind(synapse: str, nnz: int, size: int) -> str:
    if nnz == 0:
        return "dense"  # all-zero rows: keep a (zero) Dense so the slice still has its input port
    if synapse != "auto":
        return synapse
    return "sparse" if nnz <= SPARSE_DENSITY_LIMIT * size else "dense"

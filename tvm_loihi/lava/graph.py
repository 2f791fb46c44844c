"""Serialisable description of the Lava process graph of a :class:`~tvm_loihi.network.NetworkIR`.

The description is what gets saved with a compiled artifact, shipped to a remote Loihi host over RPC
and rebuilt there by :func:`tvm_loihi.lava.emit.build` -- plain JSON plus the network's integer
arrays, no pickle and no Lava objects, so it is independent of the Lava version and safe to load.

Graph shape
-----------
Population ``0`` is the host input (one process); populations ``1..L`` are the layers' neurons,
split into *slices* (one ``QNeuron`` process each). Without a mapping every layer is one slice; with
a :class:`~tvm_loihi.mapping.Mapping` every neuron slice becomes its own process and records the
global core id it is placed on. Layer ``k``'s synapses become *tiles*: one ``Sparse``/``Dense``
process per (destination slice of population ``k``, source slice of population ``k-1``) block,
because Lava 0.10 cannot concatenate ports; the tiles' partial sums add at the destination neuron's
``InPort``. On Loihi synapses live on the core of their destination neuron, so a tile is placed with
its destination slice.

Where the shift happens (exactness)
-----------------------------------
Synapse weights are ``2*W`` with ``SignMode.MIXED`` (Lava drops the lowest bit of mixed-sign
weights).

* one tile into a slice: the synapse shifts, ``weight_exp = -(shift + 1)``, the neuron does not;
* several tiles: each synapse uses ``weight_exp = -1`` (exact, ``2*W*x`` is even) and the neuron
  shifts the *sum* by ``shift``, because ``floor(a / 2**s) + floor(b / 2**s) != floor((a + b) /
  2**s)``.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sps

from ..network import ACCUMULATOR_LIMIT, NetworkIR

# Above this density Dense is as fast as Sparse in Lava's simulator (lava-0.10.md §5).
SPARSE_DENSITY_LIMIT = 0.3
SYNAPSE_MODES = ("auto", "sparse", "dense")
UNPLACED = -1  # core id of a slice when no mapping was given


class AccumulatorOverflowError(ValueError):
    """A layer whose worst-case ``sum |2 W x|`` would wrap Lava's int32 synapse accumulator."""


@dataclass(frozen=True)
class Tile:
    """Synapses from source slice ``src`` of population ``k-1`` onto destination slice ``dst`` of
    layer ``k``.

    Parameters
    ----------
    dst, src : int
        Slice indices in the destination layer and in the source population.
    kind : str
        ``"sparse"`` (Lava ``Sparse``) or ``"dense"`` (Lava ``Dense``).
    weight_exp : int
        Lava ``weight_exp`` of the process (``-(shift + 1)`` or ``-1``, see the module docstring).
    """

    dst: int
    src: int
    kind: str
    weight_exp: int

    def __post_init__(self) -> None:
        if self.kind not in ("sparse", "dense"):
            raise ValueError(f"tile kind must be 'sparse' or 'dense', got {self.kind!r}")


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
    tiles : tuple of tuple of Tile
        Per layer the synapse tiles.
    neuron_shifts : tuple of tuple of int
        Per layer and slice the shift the neuron applies (0 when its single tile shifts).
    mapping : dict or None
        ``Mapping.to_json()`` of the placement this graph was built from.
    """

    network: NetworkIR
    bounds: tuple[tuple[int, ...], ...]
    cores: tuple[tuple[int, ...], ...]
    tiles: tuple[tuple[Tile, ...], ...]
    neuron_shifts: tuple[tuple[int, ...], ...]
    mapping: dict | None = None

    def __post_init__(self) -> None:
        net = self.network
        if not (len(self.bounds) == len(self.cores) == len(self.tiles) == len(self.neuron_shifts)
                == net.depth):
            raise ValueError(f"graph of {net.name!r}: need per-layer bounds/cores/tiles/shifts for "
                             f"{net.depth} layers")
        for k, layer in enumerate(net.layers):
            self._check_layer(k, layer.n_out, layer.shift)
        check_accumulators(net)

    def _check_layer(self, k: int, n_out: int, shift: int) -> None:
        b, name = self.bounds[k], self.network.layers[k].name
        if b[0] != 0 or b[-1] != n_out or any(x >= y for x, y in zip(b, b[1:])):
            raise ValueError(f"layer {k} ({name!r}): slice bounds {list(b)} do not split "
                             f"0..{n_out}")
        n_slices, n_src = len(b) - 1, len(self.source_bounds(k)) - 1
        if len(self.cores[k]) != n_slices or len(self.neuron_shifts[k]) != n_slices:
            raise ValueError(f"layer {k} ({name!r}): {n_slices} slices but "
                             f"{len(self.cores[k])} cores")
        fan_in = np.zeros(n_slices, dtype=np.int64)
        for t in self.tiles[k]:
            if not (0 <= t.dst < n_slices and 0 <= t.src < n_src):
                raise ValueError(f"layer {k} ({name!r}): tile {t} outside "
                                 f"{n_slices}x{n_src} slices")
            fan_in[t.dst] += 1
        for j in range(n_slices):
            exps = {t.weight_exp for t in self.tiles[k] if t.dst == j}
            single = {-(shift + 1)} if fan_in[j] == 1 else set()
            ok = (exps == single and self.neuron_shifts[k][j] == 0) or (
                exps == {-1} and self.neuron_shifts[k][j] == shift)
            if not ok:
                raise ValueError(f"layer {k} ({name!r}) slice {j}: {fan_in[j]} tiles with "
                                 f"weight_exp {sorted(exps)} and neuron shift "
                                 f"{self.neuron_shifts[k][j]} do not "
                                 f"implement '>> {shift}' exactly")

    # -- structure ---------------------------------------------------------------------------------
    def source_bounds(self, k: int) -> tuple[int, ...]:
        """Slice boundaries of population ``k`` (layer ``k``'s input): the host input is one
        slice."""
        return (0, self.network.n_inputs) if k == 0 else self.bounds[k - 1]

    def tile_weights(self, k: int, tile: Tile) -> sps.csr_matrix:
        """Layer ``k``'s int8 weight block of ``tile`` (rows: destination slice, columns: source
        slice)."""
        rows, cols = self.bounds[k], self.source_bounds(k)
        w = self.network.layers[k].weights
        return w[rows[tile.dst]: rows[tile.dst + 1], cols[tile.src]: cols[tile.src + 1]].tocsr()

    @property
    def n_processes(self) -> int:
        """Lava processes the emitter creates: source, one neuron per slice, one synapse per
        tile."""
        return 1 + sum(len(b) - 1 for b in self.bounds) + sum(len(t) for t in self.tiles)

    # -- identity and serialisation ----------------------------------------------------------------
    def to_json(self) -> dict:
        """Everything but the network's arrays, as plain JSON data."""
        return {
            "version": 1,
            "network": self.network.meta_json(),
            "bounds": [list(b) for b in self.bounds],
            "cores": [list(c) for c in self.cores],
            "tiles": [[[t.dst, t.src, t.kind, t.weight_exp] for t in ts] for ts in self.tiles],
            "neuron_shifts": [list(s) for s in self.neuron_shifts],
            "mapping": self.mapping,
        }

    def key(self) -> str:
        """Hash of the network and the graph structure (equal graphs hash equal)."""
        h = hashlib.sha256(self.network.workload_key().encode())
        h.update(json.dumps({k: v for k, v in self.to_json().items() if k != "network"},
                            sort_keys=True).encode())
        return h.hexdigest()[:16]

    def to_bytes(self) -> bytes:
        """Self-contained ``.npz`` bytes (JSON description + network arrays); loads without
        pickle."""
        buf = io.BytesIO()
        arrays = {f"a{i}": a for i, a in enumerate(self.network.arrays())}
        meta = np.frombuffer(json.dumps(self.to_json()).encode(), dtype=np.uint8)
        np.savez(buf, graph=meta, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> LavaGraph:
        """Inverse of :meth:`to_bytes` (validates the description)."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            d = json.loads(z["graph"].tobytes().decode())
            arrays = [z[f"a{i}"] for i in range(4 * len(d["network"]["layers"]))]
        if d.get("version") != 1:
            raise ValueError(f"unsupported Lava graph version {d.get('version')!r}")
        return cls(NetworkIR.from_parts(d["network"], arrays),
                   tuple(tuple(int(x) for x in b) for b in d["bounds"]),
                   tuple(tuple(int(x) for x in c) for c in d["cores"]),
                   tuple(tuple(Tile(int(a), int(b), str(c), int(e)) for a, b, c, e in ts)
                         for ts in d["tiles"]),
                   tuple(tuple(int(x) for x in s) for s in d["neuron_shifts"]),
                   d.get("mapping"))


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
                f"input")
        peak = max(abs(layer.lo), abs(layer.hi))


def describe(network: NetworkIR, mapping=None, synapse: str = "auto") -> LavaGraph:
    """Plan the Lava graph of ``network`` (optionally tiled and placed by ``mapping``).

    Parameters
    ----------
    network : NetworkIR
        The quantised network.
    mapping : tvm_loihi.mapping.Mapping or dict, optional
        Neuron slices and their global core ids (a ``Mapping`` or its ``to_json()``); without it
        every layer is one slice, unplaced.
    synapse : {"auto", "sparse", "dense"}
        Synapse process per tile: ``"auto"`` picks ``Sparse`` up to 30 % density, else ``Dense``.

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
    tiles, shifts = [], []
    for k, layer in enumerate(network.layers):
        src = (0, network.n_inputs) if k == 0 else bounds[k - 1]
        layer_tiles, layer_shifts = _plan_layer(layer.weights, layer.shift, bounds[k], src, synapse)
        tiles.append(layer_tiles)
        shifts.append(layer_shifts)
    mapping_json = None if mapping is None else _mapping_json(mapping)
    return LavaGraph(network, bounds, cores, tuple(tiles), tuple(shifts), mapping_json)


def _mapping_json(mapping) -> dict:
    return mapping if isinstance(mapping, dict) else mapping.to_json()


def _slices(network: NetworkIR, mapping) -> tuple[tuple, tuple]:
    if mapping is None:
        sizes = network.layer_sizes[1:]
        return tuple((0, n) for n in sizes), tuple((UNPLACED,) for _ in sizes)
    m = _mapping_json(mapping)
    bounds = tuple(tuple(int(x) for x in b) for b in m["bounds"])
    if tuple(b[-1] for b in bounds) != network.layer_sizes[1:]:
        raise ValueError(f"mapping covers layers of sizes {tuple(b[-1] for b in bounds)}, network "
                         f"{network.name!r} has {network.layer_sizes[1:]}")
    ids = [int(c) for c in m["core_ids"]]
    offsets = np.cumsum([0] + [len(b) - 1 for b in bounds])
    return bounds, tuple(tuple(ids[offsets[k]: offsets[k + 1]]) for k in range(len(bounds)))


def _plan_layer(w: sps.csr_matrix, shift: int, rows: tuple, cols: tuple, synapse: str):
    """Tiles of one layer: every non-empty block, and block 0 of a slice whose blocks are all empty
    (so every neuron has an input and the pipeline latency stays one step per layer)."""
    tiles, shifts = [], []
    for j in range(len(rows) - 1):
        band = w[rows[j]: rows[j + 1]].tocsc()
        nnz = np.diff(band.indptr)
        block_nnz = np.add.reduceat(nnz, np.asarray(cols[:-1]))
        srcs = [i for i in range(len(cols) - 1) if block_nnz[i] > 0] or [0]
        exp = -(shift + 1) if len(srcs) == 1 else -1
        for i in srcs:
            size = (rows[j + 1] - rows[j]) * (cols[i + 1] - cols[i])
            tiles.append(Tile(j, i, _kind(synapse, int(block_nnz[i]), size), exp))
        shifts.append(0 if len(srcs) == 1 else shift)
    return tuple(tiles), tuple(shifts)


def _kind(synapse: str, nnz: int, size: int) -> str:
    if nnz == 0:
        return "dense"  # an all-zero block: Lava's Sparse cannot hold an empty matrix meaningfully
    if synapse != "auto":
        return synapse
    return "sparse" if nnz <= SPARSE_DENSITY_LIMIT * size else "dense"

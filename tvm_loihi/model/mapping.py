"""Where every neuron lives: per layer its neuron slices, per slice a physical core.

Resource rules are owned by :mod:`tvm_loihi.model.resources` (the one place a limit or an
encoding is defined); :meth:`Mapping.validate` applies them to a mapping, and
:func:`lava_default_mapping` gives every layer the fewest cores that satisfy them.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .hardware import HardwareSpec
from .network import NetworkIR
from .resources import (
    MappingError,
    SliceStats,
    describe_violation,
    even_bounds,
    first_violation,
    layer_stats,
    layer_usage,
    min_cores_per_layer,
)

__all__ = [
    "Mapping",
    "MappingError",
    "lava_default_mapping",
    "layer_usage",
    "min_cores_per_layer",
    "random_valid_mappings",
]


@dataclass(frozen=True, eq=False)
class Mapping:
    """Per layer, neuron slices and the global core id of each slice.

    Parameters
    ----------
    bounds : tuple of numpy.ndarray
        Per layer ``k`` the ``(c_k + 1,)`` slice boundaries, ``0 = B[0] < ... < B[c_k] = n_k``.
    core_ids : numpy.ndarray
        ``(sum c_k,)`` distinct global core ids: layer 1's slices first, then layer 2's...
    """

    bounds: tuple[np.ndarray, ...]
    core_ids: np.ndarray
    _offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        bounds = tuple(np.asarray(b, dtype=np.int64) for b in self.bounds)
        ids = np.asarray(self.core_ids, dtype=np.int64).reshape(-1)
        if not bounds:
            raise MappingError("mapping has no layers")
        for k, b in enumerate(bounds):
            if b.ndim != 1 or len(b) < 2 or b[0] != 0 or np.any(np.diff(b) <= 0):
                raise MappingError(
                    f"layer {k}: slice bounds must rise strictly from 0, got {b.tolist()}"
                )
        offsets = np.cumsum([0] + [len(b) - 1 for b in bounds])
        if len(ids) != offsets[-1]:
            raise MappingError(f"mapping has {offsets[-1]} slices but {len(ids)} core ids")
        if ids.size and ids.min() < 0:
            raise MappingError(f"negative core id {int(ids.min())}")
        if len(np.unique(ids)) != len(ids):
            vals, cnt = np.unique(ids, return_counts=True)
            raise MappingError(f"core {int(vals[cnt > 1][0])} holds more than one slice")
        for b in bounds:
            b.flags.writeable = False
        ids.flags.writeable = False
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "core_ids", ids)
        object.__setattr__(self, "_offsets", offsets)

    @classmethod
    def from_assignment(
        cls,
        network: NetworkIR | Sequence[int],
        cores_per_layer: Sequence[int],
        core_ids: Sequence[int],
    ) -> Mapping:
        """Split every layer evenly over its cores; the first ``c_1`` ids go to layer 1, and so on.

        Parameters
        ----------
        network : NetworkIR or sequence of int
            The network (or its ``layer_sizes``).
        cores_per_layer : sequence of int
            Core count per layer (each between 1 and the layer's neuron count).
        core_ids : sequence of int
            At least ``sum(cores_per_layer)`` distinct global core ids; extra entries are ignored
            (so a search genome can be a full permutation of the chip's cores).
        """
        sizes = network.layer_sizes[1:] if isinstance(network, NetworkIR) else tuple(network)[1:]
        cores = [int(c) for c in cores_per_layer]
        if len(cores) != len(sizes):
            raise MappingError(f"{len(cores)} core counts for {len(sizes)} layers")
        for k, (n, c) in enumerate(zip(sizes, cores)):
            if not 1 <= c <= n:
                raise MappingError(f"layer {k}: {c} cores for {n} neurons (need 1..{n})")
        ids = np.asarray(core_ids, dtype=np.int64)[: sum(cores)]
        return cls(tuple(even_bounds(n, c) for n, c in zip(sizes, cores)), ids)

    # -- shape -------------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.bounds)

    @property
    def cores_per_layer(self) -> tuple[int, ...]:
        return tuple(len(b) - 1 for b in self.bounds)

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """``(n_1, ..., n_L)``: neurons per layer."""
        return tuple(int(b[-1]) for b in self.bounds)

    @property
    def n_cores_used(self) -> int:
        return int(self._offsets[-1])

    def layer_core_ids(self, k: int) -> np.ndarray:
        """Global core ids of layer ``k``'s slices."""
        return self.core_ids[self._offsets[k] : self._offsets[k + 1]]

    def layer_offset(self, k: int) -> int:
        """Index of layer ``k``'s first slice in :attr:`core_ids`."""
        return int(self._offsets[k])

    def partition_key(self) -> bytes:
        """Bytes identifying the partition (every layer's bounds), whatever the placement."""
        return self._partition_key

    @functools.cached_property
    def _partition_key(self) -> bytes:
        # cached_property writes the instance __dict__ directly, so it works on a frozen dataclass
        return b"|".join(b.tobytes() for b in self.bounds)

    # -- serialisation -----------------------------------------------------------------------------
    def to_json(self) -> dict:
        """Canonical plain data (equal mappings give equal JSON)."""
        return {
            "version": 1,
            "bounds": [b.tolist() for b in self.bounds],
            "core_ids": self.core_ids.tolist(),
        }

    @classmethod
    def from_json(cls, d: dict) -> Mapping:
        """Inverse of :meth:`to_json`."""
        if d.get("version") != 1:
            raise MappingError(f"unsupported mapping version {d.get('version')!r}")
        return cls(
            tuple(np.asarray(b, dtype=np.int64) for b in d["bounds"]), np.asarray(d["core_ids"])
        )

    # -- checks ------------------------------------------------------------------------------------
    def layer_stats(self, network: NetworkIR, hardware: HardwareSpec, k: int) -> SliceStats:
        """Cached synapse statistics of layer ``k`` under this partition."""
        return layer_stats(network, hardware, k, self.bounds[k])

    def validate(self, network: NetworkIR, hardware: HardwareSpec) -> None:
        """Raise :class:`MappingError` naming the layer, core, limit and excess of the first
        violation."""
        if self.layer_sizes != network.layer_sizes[1:]:
            raise MappingError(
                f"mapping covers layers of sizes {self.layer_sizes}, network "
                f"{network.name!r} has {network.layer_sizes[1:]}"
            )
        if self.core_ids.size and self.core_ids.max() >= hardware.n_cores:
            raise MappingError(
                f"core id {int(self.core_ids.max())} does not exist on "
                f"{hardware.name!r} ({hardware.n_cores} cores)"
            )
        # the per-core limits depend on the partition only: a search revisits partitions constantly
        cache = _validity.setdefault(network, {})
        key = (hardware.limits, self.partition_key())
        if key not in cache:
            if len(cache) > _VALIDITY_ENTRIES:
                cache.clear()
            cache[key] = first_violation(network, hardware, self.bounds)
        found = cache[key]
        if found is not None:
            raise MappingError(
                describe_violation(network, found, int(self.layer_core_ids(found[0])[found[2]]))
            )


_VALIDITY_ENTRIES = 65536
_validity: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def lava_default_mapping(network: NetworkIR, hardware: HardwareSpec) -> Mapping:
    """Lava's default: fewest cores per layer, neurons split evenly, cores numbered in layer order
    and placed by id (chip = id // cores_per_chip, row-major on the mesh)."""
    cores = min_cores_per_layer(network, hardware)
    total = sum(cores)
    if total > hardware.n_cores:
        raise MappingError(
            f"network {network.name!r} needs {total} cores {cores}, "
            f"{hardware.name!r} has {hardware.n_cores} "
            f"(over by {total - hardware.n_cores})"
        )
    return Mapping.from_assignment(network, cores, np.arange(total))


def random_valid_mappings(
    network: NetworkIR,
    hardware: HardwareSpec,
    count: int,
    rng: np.random.Generator,
    spread: float = 2.5,
) -> list[Mapping]:
    """``count`` valid mappings with random core counts (1 to ``spread`` x each layer's minimum) and
    a random placement: the sample behind the fidelity-agreement checks and benchmarks."""
    mins = np.array(min_cores_per_layer(network, hardware))
    sizes = np.array(network.layer_sizes[1:])
    out: list[Mapping] = []
    while len(out) < count:
        cores = np.clip((mins * rng.uniform(1.0, spread, len(mins))).astype(int), mins, sizes)
        if cores.sum() > hardware.n_cores:
            continue
        mapping = Mapping.from_assignment(network, cores, rng.permutation(hardware.n_cores))
        try:
            mapping.validate(network, hardware)
        except MappingError:
            continue
        out.append(mapping)
    return out

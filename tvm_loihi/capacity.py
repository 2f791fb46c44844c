"""Does a layer, or a whole offloaded network, fit on the selected Loihi hardware?

Per layer (at partitioning, on the float weights): the fewest cores that satisfy every per-core
limit (neurons, synaptic memory, input and output axons;
:func:`tvm_loihi.mapping.min_cores_per_layer`) must not exceed the whole system's core count. Per
network (at lowering, on the quantised network): the sum over its layers must not either, since
Loihi layers are spatially resident (every layer needs its own cores).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sps

from .network import Layer, NetworkIR


class LoihiCapacityError(ValueError):
    """A layer (or an offloaded network) does not fit on the selected Loihi hardware."""


def _min_cores(network: NetworkIR, hardware) -> tuple[tuple[int, ...] | None, str]:
    from .mapping import MappingError, min_cores_per_layer

    try:
        return min_cores_per_layer(network, hardware), ""
    except MappingError as err:
        return None, str(err)


def _fits_on_all_cores(network: NetworkIR, hardware) -> bool:
    # Feasibility is monotone in the core count, so one validation that shares every core among the
    # layers in proportion to their neurons settles the common case without the binary search of
    # min_cores_per_layer (which then only runs to explain a failure).
    from .mapping import Mapping, MappingError

    sizes = np.array(network.layer_sizes[1:], dtype=np.int64)
    if hardware.n_cores < len(sizes):
        return False
    share = np.maximum(1, (hardware.n_cores - len(sizes)) * sizes // sizes.sum())
    cores = np.minimum(sizes, share).tolist()
    try:
        Mapping.from_assignment(network, cores, np.arange(sum(cores))).validate(network, hardware)
    except MappingError:
        return False
    return True


def layer_capacity_problem(name: str, weight_out_in: np.ndarray, hardware) -> str | None:
    """None when a float layer ``(n_out, n_in)`` fits on ``hardware``, else a one-line reason."""
    pattern = sps.csr_matrix((np.asarray(weight_out_in) != 0).astype(np.int8))
    n_out, n_in = pattern.shape
    layer = Layer(name, pattern, 0, np.zeros(n_out, dtype=np.int32), False)
    network = NetworkIR((layer,), name=name)
    if _fits_on_all_cores(network, hardware):
        return None
    cores, err = _min_cores(network, hardware)
    what = f"layer {name!r} ({n_out} neurons, {n_in} inputs, {pattern.nnz} synapses)"
    if cores is None:
        return f"{what} does not fit on {hardware.name!r}: {err}"
    if cores[0] > hardware.n_cores:
        return (f"{what} needs {cores[0]} cores, {hardware.name!r} has {hardware.n_cores} "
                f"(over by {cores[0] - hardware.n_cores})")
    return None


def check_network_fits(network: NetworkIR, hardware) -> None:
    """Raise :class:`LoihiCapacityError` (each layer's fewest cores) when ``network`` cannot fit."""
    if _fits_on_all_cores(network, hardware):
        return
    cores, err = _min_cores(network, hardware)
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

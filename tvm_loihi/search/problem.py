"""The bridge from (network, hardware, activity) to search space, genomes and mappings.

Builds the :class:`~tvm_loihi.search.genome.SearchSpace` (per-layer core bounds from
:func:`tvm_loihi.model.mapping.min_cores_per_layer`, a hardware check of whole count vectors --
output axons of layer ``k`` depend on layer ``k + 1``'s split --, hop distances and layer work),
decodes genomes into :class:`~tvm_loihi.model.mapping.Mapping`, and computes the logical-core
traffic the placement heuristics use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..model.activity import ActivityProfile
from ..model.hardware import HardwareSpec, core_coords, global_router_xy
from ..model.mapping import Mapping, lava_default_mapping
from ..model.network import NetworkIR
from ..model.resources import counts_violation, even_bounds, layer_stats, min_cores_per_layer
from .genome import Genome, SearchSpace, repair
from .heuristics import seed_genomes, snake_order
from .pipeline import PipelineModel


def hop_matrix(hardware: HardwareSpec) -> np.ndarray:
    """``(n_cores, n_cores)`` XY-route length in east-west hop equivalents, chip crossings weighted.

    North-south hops and chip crossings are scaled by their latency relative to an east-west hop, so
    the distance tracks the time a message spends on the NoC.
    """
    t = hardware.timing
    xy = global_router_xy(hardware).astype(np.float64)
    dx = np.abs(xy[:, None, 0] - xy[None, :, 0])
    dy = np.abs(xy[:, None, 1] - xy[None, :, 1])
    chip = core_coords(hardware)[:, 0]
    cx, cy = chip % hardware.chips_x, chip // hardware.chips_x
    crossings = np.abs(cx[:, None] - cx[None, :]) + np.abs(cy[:, None] - cy[None, :])
    ew = max(t.hop_ew_s, 1e-15)
    return dx + dy * (t.hop_ns_s / ew) + crossings * (t.chip_crossing_s / ew)


def _layer_stats(network: NetworkIR, hardware: HardwareSpec, k: int, c: int):
    return layer_stats(network, hardware, k, even_bounds(network.layer_sizes[k + 1], c))


def counts_checker(network: NetworkIR, hardware: HardwareSpec):
    """``counts -> index`` of the first layer whose cores break a per-core limit, or None."""

    def check(counts: tuple[int, ...]) -> int | None:
        v = counts_violation(network, hardware, counts)
        return None if v is None else v[0]

    return check


def layer_work(network: NetworkIR, hardware: HardwareSpec, activity: ActivityProfile) -> np.ndarray:
    """Per layer, compute time over the sample set (synaptic ops and neuron updates)."""
    t = hardware.timing
    ops = activity.synaptic_ops(network).astype(np.float64) * t.syn_op_s
    updates = (
        np.array(network.layer_sizes[1:], dtype=np.float64) * activity.n_samples * t.neuron_update_s
    )
    return ops + updates


@dataclass(frozen=True, eq=False)
class MappingProblem:
    """One (network, hardware, activity) instance of the mapping search.

    Attributes
    ----------
    space : SearchSpace
        The feasible genomes.
    order : numpy.ndarray
        Cores along the snake walk of the mesh (the heuristics' locality order).
    default : Genome
        The Lava default mapping as a genome.
    """

    network: NetworkIR
    hardware: HardwareSpec
    activity: ActivityProfile
    space: SearchSpace = field(init=False)
    order: np.ndarray = field(init=False)
    default: Genome = field(init=False)

    def __post_init__(self) -> None:
        hw, net = self.hardware, self.network
        lo, hi = min_cores_per_layer(net, hw), net.layer_sizes[1:]
        model = PipelineModel(net, hw, self.activity, lo, [min(h, hw.n_cores) for h in hi])
        space = SearchSpace(
            hw.n_cores,
            lo,
            hi,
            hop_matrix(hw),
            tuple(layer_work(net, hw, self.activity)),
            counts_checker(net, hw),
            model,
        )
        lava = lava_default_mapping(net, hw)
        ids = lava.core_ids.tolist()
        taken = set(ids)
        rest = [c for c in range(hw.n_cores) if c not in taken]
        object.__setattr__(self, "space", space)
        object.__setattr__(self, "order", snake_order(core_coords(hw)))
        default = repair(Genome(lava.cores_per_layer, (*ids, *rest)), space)
        object.__setattr__(self, "default", default)

    def decode(self, genome: Genome) -> Mapping:
        """The mapping a genome stands for."""
        return Mapping.from_assignment(self.network, genome.counts, genome.core_ids())

    def seeds(self) -> list[Genome]:
        """Heuristic starting points (model-allocated and work-balanced counts, snake-contiguous,
        interleaved and traffic-greedy layouts)."""
        return seed_genomes(self.space, self.order, self.default, traffic=self.traffic)

    def traffic(self, counts: tuple[int, ...]) -> np.ndarray:
        """``(n_used, n_used)`` spike messages between logical cores over the sample set.

        Logical core ``i`` of layer ``k`` sends one message per spike of each of its neurons to
        every slice of layer ``k + 1`` holding a synapse of that neuron.
        """
        counts = tuple(int(c) for c in counts)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        out = np.zeros((offsets[-1], offsets[-1]))
        for k in range(len(counts) - 1):
            spikes = self.activity.spikes[k + 1].sum(axis=0).astype(np.float64)
            inc = _layer_stats(self.network, self.hardware, k + 1, counts[k + 1]).incidence
            per_src = np.asarray(inc.multiply(spikes[:, None]).todense())  # (n_k, c_{k+1})
            bounds = even_bounds(self.network.layer_sizes[k + 1], counts[k])
            block = np.add.reduceat(per_src, bounds[:-1], axis=0)
            out[offsets[k] : offsets[k + 1], offsets[k + 1] : offsets[k + 2]] = block
        return out

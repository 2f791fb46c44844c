"""Traffic of one (network, mapping, hardware, activity): the cached partition traffic joined with
the placement (routes of every pair, active routers, chips)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.activity import ActivityProfile
from ..model.hardware import HardwareSpec, global_router_xy
from ..model.mapping import Mapping
from ..model.network import NetworkIR
from .partition import PartitionTraffic, partition_traffic
from .routing import Geometry, PairRoutes, geometry, pair_routes

_xy_cache: dict[str, np.ndarray] = {}


def _router_xy(hw: HardwareSpec) -> np.ndarray:
    key = hw.key()
    if key not in _xy_cache:
        _xy_cache[key] = global_router_xy(hw)
    return _xy_cache[key]


@dataclass(frozen=True, eq=False)
class MappedTraffic:
    """Everything the timing models need, for one mapping.

    Attributes
    ----------
    part : PartitionTraffic
        The placement-free traffic (cached per partition).
    routes : PairRoutes
        XY routes of all pairs (host pairs start at global router (0, 0)).
    arrive_s : numpy.ndarray
        ``(P,)`` uncontended time from a message's emission until it has fully arrived at its
        destination core: hop latencies plus one link service (or the same-router hop).
    slice_core : numpy.ndarray
        ``(S,)`` global core id of every slice (the mapping's ``core_ids``).
    """

    hardware: HardwareSpec
    geo: Geometry
    part: PartitionTraffic
    routes: PairRoutes
    arrive_s: np.ndarray
    slice_core: np.ndarray
    active_routers: int
    chips_used: int
    chip_span: int

    @property
    def n_samples(self) -> int:
        return self.part.n_samples

    @property
    def n_layers(self) -> int:
        return self.part.n_layers

    @property
    def n_timesteps(self) -> int:
        return self.part.n_timesteps

    @property
    def pair_src(self) -> np.ndarray:
        return self.part.pair_src

    @property
    def pair_dst(self) -> np.ndarray:
        return self.part.pair_dst

    @property
    def pair_layer(self) -> np.ndarray:
        return self.part.pair_layer


def map_traffic(
    network: NetworkIR, mapping: Mapping, hardware: HardwareSpec, activity: ActivityProfile
) -> MappedTraffic:
    """Join the cached placement-free traffic with ``mapping``'s placement on ``hardware``."""
    part = partition_traffic(network, mapping, hardware, activity)
    xy = _router_xy(hardware)
    slice_xy = xy[mapping.core_ids]
    src = part.pair_src
    src_xy = np.where((src >= 0)[:, None], slice_xy[np.maximum(src, 0)], 0)
    routes = pair_routes(hardware, src_xy, slice_xy[part.pair_dst])
    t = hardware.timing
    moves = routes.local == 0
    # a train's last message is whole at its destination one link service after its head arrives
    arrive = routes.latency_s + moves * min(t.link_msg_s, t.chip_link_msg_s)
    routers = np.unique(mapping.core_ids // hardware.cores_per_router)
    chips = np.unique(mapping.core_ids // hardware.cores_per_chip)
    cy, cx = np.divmod(np.append(chips, 0), hardware.chips_x)  # chip 0 holds the host port
    span = int(cx.max() - cx.min() + cy.max() - cy.min())
    return MappedTraffic(
        hardware,
        geometry(hardware),
        part,
        routes,
        arrive,
        mapping.core_ids,
        len(routers),
        len(chips),
        span,
    )

"""Traffic of one (network, mapping, hardware, activity): cached per-layer counts joined with the placement."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..activity import ActivityProfile
from ..hardware import HardwareSpec, global_router_xy
from ..mapping import Mapping
from ..network import NetworkIR
from .routing import Geometry, PairRoutes, geometry, pair_routes
from .traffic import LayerCounts, PairTraffic, layer_counts, pair_traffic

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
    layers : list of LayerCounts
        Per layer, per-sample counts of its slices.
    pairs : list of PairTraffic
        Per layer ``k``, the traffic into it (``k = 0``: from the host port).
    routes : PairRoutes
        Routes of all pairs, layer 0's pairs first.
    pair_layer, pair_src, pair_dst : numpy.ndarray
        ``(P,)`` destination layer, global source slice (-1 for the host) and global destination slice.
    slice_core : numpy.ndarray
        ``(S,)`` global core id of every slice (the mapping's ``core_ids``).
    """

    hardware: HardwareSpec
    geo: Geometry
    n_samples: int
    layers: list[LayerCounts]
    pairs: list[PairTraffic]
    routes: PairRoutes
    pair_layer: np.ndarray
    pair_src: np.ndarray
    pair_dst: np.ndarray
    layer_offsets: np.ndarray
    slice_core: np.ndarray
    active_routers: int
    chips_used: int
    chip_span: int

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_timesteps(self) -> int:
        return self.n_samples + self.n_layers - 1

    def timestep_weights(self, per_pair: str = "messages") -> np.ndarray:
        """``(T, P)`` messages (or synaptic ops) of every pair at every timestep."""
        out = np.zeros((self.n_timesteps, len(self.pair_layer)), dtype=np.float64)
        col = 0
        for k, p in enumerate(self.pairs):
            w = p.messages if per_pair == "messages" else p.syn_ops
            out[k: k + self.n_samples, col: col + w.shape[1]] = w
            col += w.shape[1]
        return out


def map_traffic(network: NetworkIR, mapping: Mapping, hardware: HardwareSpec,
                activity: ActivityProfile) -> MappedTraffic:
    """Join the cached placement-free traffic with ``mapping``'s placement on ``hardware``."""
    n_layers = mapping.n_layers
    stats = [mapping.layer_stats(network, hardware, k) for k in range(n_layers)]
    layers = [layer_counts(activity, k, mapping.bounds[k], stats[k],
                           stats[k + 1] if k + 1 < n_layers else None) for k in range(n_layers)]
    pairs = [pair_traffic(activity, k, mapping.bounds[k - 1] if k else None, mapping.bounds[k], stats[k])
             for k in range(n_layers)]
    offsets = np.asarray([mapping.layer_offset(k) for k in range(n_layers + 1)])
    src = np.concatenate([p.src + (offsets[k - 1] if k else 0) - (0 if k else 1)
                          for k, p in enumerate(pairs)])
    dst = np.concatenate([p.dst + offsets[k] for k, p in enumerate(pairs)])
    player = np.concatenate([np.full(len(p.src), k) for k, p in enumerate(pairs)])
    xy = _router_xy(hardware)
    slice_xy = xy[mapping.core_ids]
    src_xy = np.where((src >= 0)[:, None], slice_xy[np.maximum(src, 0)], 0)
    routes = pair_routes(hardware, src_xy, slice_xy[dst])
    routers = np.unique(mapping.core_ids // hardware.cores_per_router)
    chips = np.unique(mapping.core_ids // hardware.cores_per_chip)
    cy, cx = np.divmod(np.append(chips, 0), hardware.chips_x)  # chip 0 holds the host port
    span = int(cx.max() - cx.min() + cy.max() - cy.min())
    return MappedTraffic(hardware, geometry(hardware), activity.n_samples, layers, pairs, routes, player,
                         src, dst, offsets, mapping.core_ids, len(routers), len(chips), span)

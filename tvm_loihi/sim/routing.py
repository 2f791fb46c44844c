"""XY routing on the global router mesh: per-pair hop counts and latency, per-link loads, explicit
routes.

Links are indexed ``(direction, y, x)`` on the global ``gw x gh`` mesh, direction 0 = east (+x),
1 = west (-x), 2 = north (+y), 3 = south (-y); link ``(d, y, x)`` leaves router ``(x, y)``. A link
between routers of different chips is a chip-to-chip link. Routing is dimension-order: X first along
the source row, then Y along the destination column (LOIHI2.md §1.3). The host port attaches to
global router (0, 0) of chip 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.hardware import HardwareSpec

N_DIRECTIONS = 4


@dataclass(frozen=True, eq=False)
class Geometry:
    """Precomputed per-hardware link attributes."""

    gw: int
    gh: int
    service_s: np.ndarray  # (4*gh*gw,) time to push one message through each link
    chip_link: np.ndarray  # (4*gh*gw,) bool: link crosses a chip boundary
    valid: np.ndarray  # (4*gh*gw,) bool: link exists


_geometries: dict[str, Geometry] = {}


def geometry(hw: HardwareSpec) -> Geometry:
    """Link attributes of ``hw`` (cached by hardware key)."""
    key = hw.key()
    if key in _geometries:
        return _geometries[key]
    gw, gh = hw.mesh_shape
    y, x = np.mgrid[0:gh, 0:gw]
    chip = np.stack(
        [
            (x + 1) % hw.routers_x == 0,
            x % hw.routers_x == 0,
            (y + 1) % hw.routers_y == 0,
            y % hw.routers_y == 0,
        ]
    )
    valid = np.stack([x < gw - 1, x > 0, y < gh - 1, y > 0])
    service = np.where(chip, hw.timing.chip_link_msg_s, hw.timing.link_msg_s)
    g = Geometry(gw, gh, service.ravel(), (chip & valid).ravel(), valid.ravel())
    _geometries[key] = g
    return g


@dataclass(frozen=True, eq=False)
class PairRoutes:
    """Route metrics of a set of (source router, destination router) pairs."""

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    hops_ew: np.ndarray  # on-chip east-west hops
    hops_ns: np.ndarray  # on-chip north-south hops
    crossings: np.ndarray  # chip-to-chip hops
    local: np.ndarray  # 1 where source and destination share a router
    latency_s: np.ndarray  # uncontended flight time


def pair_routes(hw: HardwareSpec, src_xy: np.ndarray, dst_xy: np.ndarray) -> PairRoutes:
    """Hop counts, chip crossings and flight latency of XY routes between router positions
    ``(P, 2)``."""
    x0, y0 = src_xy[:, 0], src_xy[:, 1]
    x1, y1 = dst_xy[:, 0], dst_xy[:, 1]
    hx, hy = np.abs(x1 - x0), np.abs(y1 - y0)
    cx = np.abs(x1 // hw.routers_x - x0 // hw.routers_x)
    cy = np.abs(y1 // hw.routers_y - y0 // hw.routers_y)
    local = ((hx + hy) == 0).astype(np.int64)
    t = hw.timing
    lat = (
        (hx - cx) * t.hop_ew_s
        + (hy - cy) * t.hop_ns_s
        + (cx + cy) * t.chip_crossing_s
        + local * t.hop_local_s
    )
    return PairRoutes(x0, y0, x1, y1, hx - cx, hy - cy, cx + cy, local, lat)


def explicit_routes(geo: Geometry, r: PairRoutes) -> tuple[np.ndarray, np.ndarray]:
    """Every pair's links in order: ``(offsets (P+1,), link ids (sum hops,))`` (for the event
    model)."""
    dx, dy = r.x1 - r.x0, r.y1 - r.y0
    nx, ny = np.abs(dx), np.abs(dy)
    lengths = nx + ny
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    pair = np.repeat(np.arange(len(dx)), lengths)
    step = np.arange(offsets[-1]) - offsets[pair]
    is_x = step < nx[pair]
    sx, sy = np.sign(dx)[pair], np.sign(dy)[pair]
    x = np.where(is_x, r.x0[pair] + sx * step, r.x1[pair])
    y = np.where(is_x, r.y0[pair], r.y0[pair] + sy * (step - nx[pair]))
    direction = np.where(is_x, np.where(sx > 0, 0, 1), np.where(sy > 0, 2, 3))
    return offsets, (direction * geo.gh + y) * geo.gw + x

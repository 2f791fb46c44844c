"""Event model: a per-timestep discrete-event simulation of the NoC over message trains.

Unit of simulation: a *train* -- the ``n`` messages one source core (or the host port) sends to one
destination core in one timestep, emitted evenly over the sender's window
(:mod:`tvm_loihi.sim.partition`): a train is the arrival times of its first and last message and
its size, the messages between arriving evenly. Each directed link is a FIFO over the *messages* of
all trains crossing it in that timestep (``service`` per message, chip-to-chip links slower), solved
exactly for such piecewise-linear arrivals by Reich's formula; messages cut through routers (a
message moves on one hop latency after it starts service). XY routing makes the link graph acyclic
(X links in order of x, then Y links in order of y), so links are processed in that order and every
queue sees its exact arrival times -- contention and head-of-line waits included. At the
destination the core's receive pipeline serves messages in arrival order whatever their source
(``t_recv + syn ops / n x t_syn`` each). A timestep ends when every core's send window and receive
queue are done; then the barrier. Link buffers hold ``timing.link_buffer_msgs`` messages (credit
flow, :func:`tvm_loihi.sim.kernels.link_queues_bp`): a train that fills a buffer slows the links
and the sender behind it and blocks other trains sharing that buffer (head-of-line); 0 = unbounded
(the ``*_v0`` presets). The loops are compiled (:mod:`tvm_loihi.sim.kernels`) and run over trains,
never over messages.
"""

from __future__ import annotations

import numpy as np

from .fast import Timeline, run_link_messages
from .kernels import link_queues, link_queues_bp, receive_queues
from .mapped import MappedTraffic
from .routing import N_DIRECTIONS, explicit_routes

# Back-pressure fixed point: at most this many passes per timestep, until no wait grows by more
# than this fraction of the timestep's latest emission. 4 passes: total latency within 3e-4 of
# the 32-pass fixed point on random mlp_b2 mappings (8: 1e-5; 2: 3e-2), at about 2x the
# unbounded link kernel's time there (docs/simulator.md, Cost); a timestep where no buffer fills
# takes one pass.
MAX_ITER = 4
TOL_REL = 1e-4


def _link_tables(mt: MappedTraffic) -> tuple[np.ndarray, np.ndarray]:
    """Per link id: processing wave (acyclic order) and hop latency."""
    geo, hw = mt.geo, mt.hardware
    y, x = np.mgrid[0 : geo.gh, 0 : geo.gw]
    wave = np.stack([x, geo.gw - 1 - x, geo.gw + y, geo.gw + geo.gh - 1 - y]).ravel()
    t = hw.timing
    lat = np.concatenate(
        [np.full(geo.gh * geo.gw, v) for v in (t.hop_ew_s, t.hop_ew_s, t.hop_ns_s, t.hop_ns_s)]
    )
    return wave, np.where(geo.chip_link, t.chip_crossing_s, lat)


def _items(mt: MappedTraffic, wave: np.ndarray):
    """Every (pair, link) of every route, sorted by wave then link; start of each link's group;
    index of each item's previous link on its route (-1: the first)."""
    offsets, links = explicit_routes(mt.geo, mt.routes)
    pair = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    order = np.lexsort((links, wave[links]))
    pair, links = pair[order], links[order]
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    first = np.zeros(len(order), dtype=bool)
    first[offsets[:-1][np.diff(offsets) > 0]] = True
    prev = np.where(first[order], -1, position[np.maximum(order - 1, 0)])
    last = np.zeros(len(order), dtype=bool)
    last[offsets[1:][np.diff(offsets) > 0] - 1] = True
    nxt = np.where(last[order], -1, position[np.minimum(order + 1, max(len(order) - 1, 0))])
    if not len(links):
        return pair, links, np.zeros(1, dtype=np.int64), prev, nxt
    starts = np.flatnonzero(np.diff(links, prepend=-1))
    return pair, links, np.append(starts, len(links)), prev, nxt


def event_timeline(mt: MappedTraffic) -> Timeline:
    """The event model's :class:`Timeline`."""
    part, t = mt.part, mt.hardware.timing
    wave, lat = _link_tables(mt)
    msgs, msgs_tp = part.messages_pt, part.messages
    head = part.head_ready  # (T, P) fresh arrays, advanced link by link
    tail = part.tail_ready
    steps = part.n_timesteps
    link_done = np.zeros(steps)
    pair, links, starts, prev, nxt = _items(mt, wave)
    stall = np.zeros((steps, part.send.shape[1] + 1))  # sender waits; column 0: the host port
    depth = t.link_buffer_msgs
    if depth == 0:  # unbounded buffers (the v0 presets)
        link_queues(
            msgs, msgs_tp, head, tail, pair, links, starts, mt.geo.service_s, lat, link_done
        )
    else:
        link_queues_bp(
            msgs_tp,
            head,
            tail,
            pair,
            links,
            prev,
            nxt,
            part.pair_src,
            mt.geo.service_s,
            lat,
            float(depth),
            MAX_ITER,
            TOL_REL,
            link_done,
            stall,
        )
    head, tail = np.ascontiguousarray(head.T), np.ascontiguousarray(tail.T)
    # whole at the destination one link service after the head arrives (same router: one local hop)
    moved = (mt.routes.local == 0)[:, None]
    s_last = _last_link_service(mt)[:, None]
    head = np.where(moved, head + s_last, head + t.hop_local_s)
    tail = np.where(moved, tail + s_last, tail + t.hop_local_s)
    recv_done = np.zeros_like(part.send)
    work = part.work_pt
    receive_queues(
        head, tail, work, msgs, part.dst_order, part.dst_starts, part.dst_slices, recv_done
    )
    compute = np.maximum(part.send + stall[:, 1:], recv_done)
    drain = np.where(msgs > 0, tail, 0.0).max(axis=0, initial=0.0)
    barrier = t.barrier(mt.active_routers, mt.chip_span)
    step = compute.max(axis=1) + barrier
    busy = np.maximum(part.send, part.recv).sum(axis=0)
    return Timeline(
        step, compute.max(axis=1), link_done, drain, barrier, busy, run_link_messages(mt)
    )


def _last_link_service(mt: MappedTraffic) -> np.ndarray:
    """``(P,)`` service time of the last link of every route (0 for same-router pairs)."""
    geo, r = mt.geo, mt.routes
    cells = geo.gh * geo.gw
    y_move = r.y1 != r.y0
    # last link: the Y link into the destination, else the X link into it
    ylink = np.where(
        r.y1 > r.y0, 2 * cells + (r.y1 - 1) * geo.gw + r.x1, 3 * cells + (r.y1 + 1) * geo.gw + r.x1
    )
    xlink = np.where(r.x1 > r.x0, r.y0 * geo.gw + r.x1 - 1, cells + r.y0 * geo.gw + r.x1 + 1)
    last = np.where(y_move, ylink, xlink)
    last = np.clip(last, 0, N_DIRECTIONS * cells - 1)
    return np.where(r.local == 1, 0.0, geo.service_s[last])

"""Fast model: a max-affine runtime per timestep (in the spirit of Timcheck et al. 2026, LOIHI2.md §1.3).

Per timestep ``t``::

    step(t) = max( max over cores of max(send pipeline, receive pipeline),
                   max over links of messages x service time (chip-to-chip and host links included),
                   max over active pairs of sender's send-window end + uncontended flight + one receive )
              + barrier(active routers, chip span)

with send = neurons x t_neuron + messages out x t_send and receive = messages in x t_recv + syn ops x t_syn
(the two pipelines of a core run concurrently). Every term is a lower bound on what the event model
simulates, so ``fast <= event`` holds timestep by timestep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mapped import MappedTraffic
from .routing import link_load_operator, link_loads


@dataclass(frozen=True, eq=False)
class Timeline:
    """Per-timestep timing of one run (seconds) and the per-core / per-link figures behind it."""

    step_s: np.ndarray  # (T,) duration of every timestep, barrier included
    compute_s: np.ndarray  # (T,) slowest core
    link_s: np.ndarray  # (T,) busiest link
    flight_s: np.ndarray  # (T,) longest message flight (fast) / NoC drain (event)
    barrier_s: float
    core_busy_s: np.ndarray  # (S,) busy time of each used core over the run
    link_messages: np.ndarray  # (n_links,) messages over each link over the run
    host_messages: float


def core_work(mt: MappedTraffic) -> tuple[np.ndarray, np.ndarray]:
    """``(T, S)`` send-pipeline and receive-pipeline busy time of every used core at every timestep."""
    t = mt.hardware.timing
    n, steps, off = mt.n_samples, mt.n_timesteps, mt.layer_offsets
    neurons = np.concatenate([lc.neurons for lc in mt.layers])
    send = np.repeat((neurons * t.neuron_update_s)[None, :], steps, axis=0)
    recv = np.zeros_like(send)
    for k, lc in enumerate(mt.layers):
        cols = slice(off[k], off[k + 1])
        recv[k: k + n, cols] = lc.msgs_in * t.msg_recv_s + lc.syn_ops * t.syn_op_s
        if k + 1 < mt.n_layers:
            send[k + 1: k + 1 + n, cols] += lc.msgs_out * t.msg_send_s
    return send, recv


def network_terms(mt: MappedTraffic, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(T,)`` busiest-link time, ``(T, n_links)`` link messages, and total host-port messages."""
    geo, t = mt.geo, mt.hardware.timing
    op = link_load_operator(geo, mt.routes)
    loads = link_loads(geo, np.asarray((op @ weights.T).T))
    busiest = (loads * geo.service_s).max(axis=1)
    host = weights[:, mt.pair_layer == 0].sum(axis=1)
    return np.maximum(busiest, host * t.host_link_msg_s), loads, float(host.sum())


def fast_timeline(mt: MappedTraffic) -> Timeline:
    """The fast model's :class:`Timeline`."""
    t = mt.hardware.timing
    send, recv = core_work(mt)
    compute = np.maximum(send, recv)
    weights = mt.timestep_weights()
    link, loads, host = network_terms(mt, weights)
    # a pair's last message leaves when its sender's send window ends (host trains: after their own slots
    # at the host port, then the crossing into chip 0), then flies and is received
    src = np.maximum(mt.pair_src, 0)
    ready = np.where(mt.pair_src < 0, weights * t.host_link_msg_s + t.chip_crossing_s, send[:, src])
    last = ready + (mt.routes.latency_s + t.msg_recv_s)[None, :]
    flight = np.where(weights > 0, last, 0.0).max(axis=1, initial=0.0)
    barrier = t.barrier(mt.active_routers, mt.chip_span)
    step = np.maximum(np.maximum(compute.max(axis=1), link), flight) + barrier
    return Timeline(step, compute.max(axis=1), link, flight, barrier, compute.sum(axis=0),
                    loads.sum(axis=0), host)

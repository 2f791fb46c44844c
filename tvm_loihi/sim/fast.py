"""Fast model: a max-affine runtime per timestep (Timcheck et al. 2026 spirit, LOIHI2.md §1.3).

Per timestep ``t``::

    step(t) = max( slowest core: max(send window, receive work)        [cached per partition]
                   host port: input messages x host_link_msg_s          [cached per partition]
                   busiest link: messages x service (chip links slower)
                   last message: max over trains of its emission (end of the sender's window)
                                 + uncontended flight + one message's receive work
                   receive start: max over cores of the earliest head arrival of its trains
                                  + all its receive work )
              + barrier(active routers, chip span)

with send = neurons x t_neuron + messages out x t_send and receive = messages in x t_recv + syn ops
x t_syn (the two pipelines of a core run concurrently), and train emission times as in
:mod:`tvm_loihi.sim.partition`. Every term is a lower bound on what the event model simulates, so
``fast <= event`` holds timestep by timestep. There is no back-pressure term: finite link buffers
only delay the event model, so the bound holds at every ``timing.link_buffer_msgs``. The
per-mapping cost is one compiled pass, O((pairs + links) x timesteps), on top of the cached
partition arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels import fast_terms
from .mapped import MappedTraffic


@dataclass(frozen=True, eq=False)
class Timeline:
    """Per-timestep timing of one run (seconds) and the per-core / per-link figures behind it."""

    step_s: np.ndarray  # (T,) duration of every timestep, barrier included
    compute_s: np.ndarray  # (T,) slowest core
    link_s: np.ndarray  # (T,) busiest link (fast) / last link departure (event)
    flight_s: np.ndarray  # (T,) latest train arrival + receive (fast) / NoC drain (event)
    barrier_s: float
    core_busy_s: np.ndarray  # (S,) busy time of each used core over the run
    link_messages: np.ndarray  # (n_links,) messages over each link over the run


def _terms(mt: MappedTraffic) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    part, r, geo = mt.part, mt.routes, mt.geo
    return fast_terms(
        part.messages_pt,
        part.tailw_pt,
        part.head_pt,
        part.recv_st,
        part.pair_dst,
        mt.arrive_s,
        r.x0,
        r.y0,
        r.x1,
        r.y1,
        geo.gw,
        geo.gh,
        geo.service_s,
    )


def run_link_messages(mt: MappedTraffic) -> np.ndarray:
    """``(4*gh*gw,)`` messages over every directed link over the whole run."""
    return _terms(mt)[2]


def fast_timeline(mt: MappedTraffic) -> Timeline:
    """The fast model's :class:`Timeline`."""
    part, t = mt.part, mt.hardware.timing
    busiest, flight, totals = _terms(mt)
    link = np.maximum(busiest, part.host_s)
    barrier = t.barrier(mt.active_routers, mt.chip_span)
    step = np.maximum(np.maximum(part.compute_s, link), flight) + barrier
    return Timeline(step, part.compute_s, link, flight, barrier, part.core_busy_s, totals)

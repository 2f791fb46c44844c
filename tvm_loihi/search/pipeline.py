"""A placement-free pipeline model of the partitioning: which layer binds,
and counts that balance it.

Every timestep, each layer's cores integrate one sample while the host streams the next one in; the
timestep lasts as long as the slowest core (plus the NoC and the barrier). Ignoring placement, the
time of a count vector is therefore

    sum over timesteps t of  max( max_k receive_k(c_k)[t - k],  max_k send_k(c_k, c_k+1)[t - k - 1],
                                  host(c_0)[t] )  + barrier(cores used)

where ``receive_k`` is the slowest core of layer ``k`` (messages in x t_recv + synaptic ops x
t_syn), ``send_k`` its slowest send pipeline (neuron updates x t_neuron + messages out x t_send) and
``host`` the input messages through the host port (one per active input and destination core, so it
*grows* with layer 0's core count). The counts come from the measured activity and the hardware's
timing constants -- the same knowledge the work-proportional heuristic uses, refined by the
per-message overheads that make splitting a layer pay less than proportionally. Links, flight times
and contention are left to the search, which measures them.

:meth:`PipelineModel.allocate` builds counts greedily (a core at a time to whichever layer lowers
the model time most) and :meth:`PipelineModel.rebalance` moves single cores between layers where
that relieves the bottleneck. Both are deterministic and cached per (layer, count).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..model.activity import ActivityProfile
from ..model.hardware import HardwareSpec
from ..model.network import NetworkIR
from ..model.resources import even_bounds, layer_stats
from ..sim.traffic import layer_counts


class PipelineModel:
    """Placement-free time model of core counts (see the module docstring).

    Parameters
    ----------
    network, hardware, activity
        The workload, the timing constants and the spikes that drive the counts.
    min_counts, max_counts : sequence of int
        Per-layer bounds of the search space.
    """

    def __init__(
        self,
        network: NetworkIR,
        hardware: HardwareSpec,
        activity: ActivityProfile,
        min_counts: Sequence[int],
        max_counts: Sequence[int],
    ) -> None:
        self.network, self.hardware, self.activity = network, hardware, activity
        self.min_counts = tuple(int(c) for c in min_counts)
        self.max_counts = tuple(int(c) for c in max_counts)
        self.n_layers = network.depth
        self.n_samples = activity.n_samples
        self._recv: dict[tuple[int, int], np.ndarray] = {}
        self._send: dict[tuple[int, int, int], np.ndarray] = {}
        self._host: dict[int, np.ndarray] = {}

    def _stats(self, k: int, c: int):
        return layer_stats(
            self.network, self.hardware, k, even_bounds(self.network.layer_sizes[k + 1], c)
        )

    def _layer(self, k: int, c: int, c_next: int | None):
        nxt = None if c_next is None else self._stats(k + 1, c_next)
        return layer_counts(
            self.activity,
            k,
            even_bounds(self.network.layer_sizes[k + 1], c),
            self._stats(k, c),
            nxt,
        )

    def receive(self, k: int, c: int) -> np.ndarray:
        """``(N,)`` per sample,
        the slowest receive pipeline of layer ``k`` split over ``c`` cores."""
        key = (k, int(c))
        if key not in self._recv:
            t = self.hardware.timing
            lc = self._layer(k, c, None)
            self._recv[key] = (lc.msgs_in * t.msg_recv_s + lc.syn_ops * t.syn_op_s).max(axis=1)
            if k == 0:
                self._host[int(c)] = lc.msgs_in.sum(axis=1) * t.host_link_msg_s
        return self._recv[key]

    def host(self, c0: int) -> np.ndarray:
        """``(N,)`` per sample,
        the host-port time of the input messages into ``c0`` layer-0 cores."""
        self.receive(0, c0)
        return self._host[int(c0)]

    def send(self, k: int, c: int, c_next: int) -> np.ndarray:
        """``(N,)`` per sample, the slowest send pipeline (messages out) of layer ``k``
        (not the last)."""
        key = (k, int(c), int(c_next))
        if key not in self._send:
            t = self.hardware.timing
            lc = self._layer(k, c, c_next)
            self._send[key] = (
                lc.neurons[None, :] * t.neuron_update_s + lc.msgs_out * t.msg_send_s
            ).max(axis=1)
        return self._send[key]

    def step_times(self, counts: Sequence[int]) -> np.ndarray:
        """``(T, L + 1)`` model time per timestep of every layer (column ``L``: the host port)."""
        counts = [int(c) for c in counts]
        n, depth = self.n_samples, self.n_layers
        out = np.zeros((n + depth - 1, depth + 1))
        for k, c in enumerate(counts):
            out[k : k + n, k] = self.receive(k, c)
            if k + 1 < depth:
                out[k + 1 : k + 1 + n, k] = np.maximum(
                    out[k + 1 : k + 1 + n, k], self.send(k, c, counts[k + 1])
                )
        out[:n, depth] = self.host(counts[0])
        return out

    def barrier(self, n_used: int) -> float:
        """Barrier of ``n_used`` cores packed onto routers
        (one chip hop once they need two chips)."""
        hw = self.hardware
        span = 0 if int(n_used) <= hw.cores_per_chip else 1
        return hw.timing.barrier(-(-int(n_used) // hw.cores_per_router), span)

    def latency(self, counts: Sequence[int]) -> float:
        """Model total latency (seconds) of ``counts``, placement ignored."""
        steps = self.step_times(counts)
        barrier = self.barrier(sum(int(c) for c in counts))
        return float(steps.max(axis=1).sum() + len(steps) * barrier)

    def allocate(self, total: int) -> tuple[int, ...]:
        """Counts of at most ``total`` cores: from the minimum, one core at a time to the layer
        whose extra core lowers the model latency most, while any does."""
        counts = list(self.min_counts)
        budget = max(int(total), sum(counts))
        best = self.latency(counts)
        while sum(counts) < budget:
            trials = []
            for k in range(self.n_layers):
                if counts[k] < self.max_counts[k]:
                    c = list(counts)
                    c[k] += 1
                    trials.append((self.latency(c), k))
            if not trials:
                break
            value, k = min(trials)
            if value >= best:
                break
            best, counts[k] = value, counts[k] + 1
        return tuple(counts)

    def rebalance(self, counts: Sequence[int], n_moves: int = 1) -> tuple[int, ...]:
        """Up to ``n_moves`` times, the single one-core transfer between two layers that lowers the
        model latency most (relieves the bottleneck, layer 0's host port included), while one
        does."""
        counts = [int(c) for c in counts]
        best = self.latency(counts)
        for _ in range(max(1, int(n_moves))):
            trials = []
            for a in range(self.n_layers):
                for b in range(self.n_layers):
                    if a != b and counts[a] > self.min_counts[a] and counts[b] < self.max_counts[b]:
                        c = list(counts)
                        c[a] -= 1
                        c[b] += 1
                        trials.append((self.latency(c), a, b))
            if not trials or min(trials)[0] >= best:
                break
            best, a, b = min(trials)
            counts[a] -= 1
            counts[b] += 1
        return tuple(counts)

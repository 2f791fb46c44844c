"""Lower bound on total latency: the physical limit ratios are reported against.

For any valid mapping on the hardware, per timestep ``t``:

* the receive work (syn ops x t_syn + one message per active source neuron with a non-zero synapse x t_recv)
  and the send work (every neuron's update x t_neuron + one message per such neuron x t_send) can at best be
  spread perfectly over all cores of the system, the two pipelines running concurrently;
* every input message passes the host port, one message per active input with a non-zero synapse;
* the barrier is at least the barrier of the fewest routers any valid mapping can use (per layer, the larger
  of the neuron and synaptic-memory floors, packed ``cores_per_router`` to a router, on one chip).

The bound is the sum over the ``N + L - 1`` timesteps of the largest of these terms plus that barrier.
"""

from __future__ import annotations

import numpy as np

from ..activity import ActivityProfile
from ..hardware import HardwareSpec
from ..network import NetworkIR


def _min_cores(network: NetworkIR, hw: HardwareSpec) -> int:
    lim = hw.limits
    total = 0
    for layer in network.layers:
        words = min(layer.nnz / lim.sparse_synapses_per_word,
                    layer.n_in * layer.n_out / lim.dense_synapses_per_word)
        total += max(-(-layer.n_out // lim.max_neurons), int(np.ceil(words / lim.synmem_words)), 1)
    return total


def latency_lower_bound(network: NetworkIR, hardware: HardwareSpec, activity: ActivityProfile) -> float:
    """Seconds; see the module docstring."""
    activity.check_matches(network)
    t, n_cores = hardware.timing, hardware.n_cores
    n, depth = activity.n_samples, network.depth
    steps = n + depth - 1
    recv = np.zeros(steps)
    send = np.full(steps, sum(network.layer_sizes[1:]) * t.neuron_update_s)
    host = np.zeros(steps)
    for k, layer in enumerate(network.layers):
        fan_out = np.diff(layer.weights.tocsc().indptr)
        spikes = activity.spikes[k].astype(np.float64)
        senders = spikes @ (fan_out > 0)  # (N,) neurons that must send at least one message
        recv[k: k + n] += spikes @ fan_out * t.syn_op_s + senders * t.msg_recv_s
        if k == 0:
            host[:n] = senders * t.host_link_msg_s
        else:
            send[k: k + n] += senders * t.msg_send_s
    routers = -(-_min_cores(network, hardware) // hardware.cores_per_router)
    barrier = t.barrier(routers, 0)
    return float(np.sum(np.maximum(np.maximum(recv, send) / n_cores, host)) + steps * barrier)

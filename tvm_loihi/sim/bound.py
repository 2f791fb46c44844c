"""Lower bound on total latency: the physical limit ratios are reported against.

For any valid mapping on the hardware, per timestep ``t`` the fast model's step (itself a lower
bound of the event model's) is at least the largest of:

* **all work spread over all cores**: the receive work (syn ops x t_syn + one message per active
  source neuron with a non-zero synapse x t_recv) and the send work (every neuron's update x
  t_neuron + one message per such neuron x t_send), each spread perfectly over every core of the
  system (the two pipelines run concurrently);
* **one layer's work over the cores it can have**: layer ``k``'s receive work spread over at most
  ``min(n_k, n_cores - sum of the other layers' fewest cores)`` cores (every layer needs at least
  the cores its neurons and synaptic memory need, and a core holds at least one neuron);
* **the host-port train**: one message per active input with a non-zero synapse through the host
  port, the crossing into chip 0, then at least one message received (t_recv + t_syn);

plus the barrier of the fewest routers any valid mapping can use (per layer, the larger of the
neuron and synaptic-memory floors, packed ``cores_per_router`` to a router, on one chip). The bound
is the sum over the ``N + L - 1`` timesteps.
"""

from __future__ import annotations

import numpy as np

from ..model.activity import ActivityProfile
from ..model.hardware import HardwareSpec
from ..model.network import NetworkIR


def _min_cores(network: NetworkIR, hw: HardwareSpec) -> np.ndarray:
    lim = hw.limits
    out = []
    for layer in network.layers:
        words = min(
            layer.nnz / lim.sparse_synapses_per_word,
            layer.n_in * layer.n_out / lim.dense_synapses_per_word,
        )
        floor = max(-(-layer.n_out // lim.max_neurons), int(np.ceil(words / lim.synmem_words)))
        out.append(max(floor, 1))
    return np.asarray(out)


def latency_lower_bound(
    network: NetworkIR, hardware: HardwareSpec, activity: ActivityProfile
) -> float:
    """Seconds; see the module docstring."""
    activity.check_matches(network)
    t, n_cores = hardware.timing, hardware.n_cores
    n, depth = activity.n_samples, network.depth
    steps = n + depth - 1
    mins = _min_cores(network, hardware)
    recv = np.zeros(steps)
    layer_bound = np.zeros(steps)
    send = np.full(steps, sum(network.layer_sizes[1:]) * t.neuron_update_s)
    host = np.zeros(steps)
    for k, layer in enumerate(network.layers):
        fan_out = np.diff(layer.weights.tocsc().indptr)
        spikes = activity.spikes[k].astype(np.float64)
        senders = spikes @ (fan_out > 0)  # (N,) neurons that must send at least one message
        work = spikes @ fan_out * t.syn_op_s + senders * t.msg_recv_s
        recv[k : k + n] += work
        most = max(1, min(layer.n_out, n_cores - int(mins.sum() - mins[k])))
        layer_bound[k : k + n] = np.maximum(layer_bound[k : k + n], work / most)
        if k == 0:
            host[:n] = np.where(
                senders > 0,
                senders * t.host_link_msg_s + t.chip_crossing_s + t.msg_recv_s + t.syn_op_s,
                0.0,
            )
        else:
            send[k : k + n] += senders * t.msg_send_s
    routers = -(-int(mins.sum()) // hardware.cores_per_router)
    barrier = t.barrier(routers, 0)
    spread = np.maximum(recv, send) / n_cores
    return float(np.sum(np.maximum(np.maximum(spread, layer_bound), host)) + steps * barrier)

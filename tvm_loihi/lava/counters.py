"""Activity counters of a Lava run, and the same counters from the reference executor.

Counted inside the Lava processes, per timestep (the models in :mod:`tvm_loihi.lava_procs.models`),
then summed here over the timesteps that carry real samples (pipeline fill and drain steps are
excluded):

* ``spikes[k]`` (``k = 0..L``): non-zero graded spikes of population ``k`` (0 = the quantised input)
  -- equal to :meth:`tvm_loihi.model.activity.ActivityProfile.spike_counts`;
* ``messages[k]`` (``k = 0..L-1``, into layer ``k``): one per (spiking source neuron, synapse
  process holding at least one of its non-zero synapses) -- with a mapping, one per (source neuron,
  destination core), the message count of WORKLOADS.md;
* ``synaptic_ops[k]``: one per non-zero synapse of every spiking source neuron -- equal to
  :meth:`~tvm_loihi.model.activity.ActivityProfile.synaptic_ops`.
"""

from __future__ import annotations

import numpy as np

from ..model.activity import activity_profile
from .graph import LavaGraph


def aggregate_counters(logs: dict, n_samples: int, depth: int) -> dict:
    """Sum the per-timestep logs of one batch (relative step index ``0..N+L-1``) over its sample
    steps.

    The source sends sample ``i`` at index ``i``, layer ``k``'s synapses receive it at ``i + k`` and
    its neurons emit it at ``i + k + 1``.
    """
    n = n_samples
    spikes = [int(logs["source"][:n].sum())]
    spikes += [
        int(sum(log[k + 1 : k + 1 + n].sum() for log in logs["neuron_log"][k]))
        for k in range(depth)
    ]
    syn = [
        np.sum([log[k : k + n].sum(axis=0) for log in logs["synapse_log"][k]], axis=0)
        for k in range(depth)
    ]
    return {
        "samples": n,
        "timesteps": n + depth if n else 0,
        "spikes": spikes,
        "messages": [int(t[0]) for t in syn],
        "synaptic_ops": [int(t[1]) for t in syn],
    }


def reference_counters(graph: LavaGraph, x_int: np.ndarray) -> dict:
    """The counters :func:`aggregate_counters` must produce, from the bit-exact reference
    executor."""
    net = graph.network
    profile = activity_profile(net, x_int)
    messages = []
    for k in range(net.depth):
        per_source = profile.spikes[k].sum(axis=0)  # spikes of every source neuron over the batch
        total = 0
        for j in range(len(graph.bounds[k]) - 1):
            # Source neurons with at least one synapse onto slice j (its core).
            reached = np.diff(graph.slice_weights(k, j).tocsc().indptr) > 0
            total += int(per_source @ reached)
        messages.append(total)
    return {
        "samples": profile.n_samples,
        "timesteps": profile.n_samples + net.depth if profile.n_samples else 0,
        "spikes": [int(s) for s in profile.spike_counts()],
        "messages": messages,
        "synaptic_ops": [int(s) for s in profile.synaptic_ops(net)],
    }

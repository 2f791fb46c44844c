"""Run a quantised sparse MLP on Lava's Loihi 2 simulator, bit-exactly,
through tvm_loihi's Lava backend.

Steps: quantise the ``mlp_tiny`` workload into a NetworkIR; describe its Lava process graph
(optionally tiled by a core mapping) and round-trip the description through bytes, as a compiled
artifact or an RPC call would; run a batch on Lava in a worker process; compare outputs and activity
counters with the reference executor; stream more batches into one live runtime.

Usage: ``.venv/bin/python python/example_lava.py``
"""

from __future__ import annotations

import numpy as np

from tvm_loihi.lava import LavaGraph, LavaSession, describe, reference_counters, run_network
from tvm_loihi.model import workloads
from tvm_loihi.model.activity import activity_profile
from tvm_loihi.model.mapping import Mapping
from tvm_loihi.model.quantize import quantize_network


def main() -> None:
    calibration = workloads.sample_inputs("mlp_tiny", 64, seed=1)
    net = quantize_network(workloads.float_layers("mlp_tiny"), calibration, name="mlp_tiny")
    x = net.quantize_input(workloads.sample_inputs("mlp_tiny", 16, seed=2))
    print(
        f"network {net.name}: layers {net.layer_sizes}, "
        f"input range [{net.input_lo}, {net.input_hi}]"
    )

    # 1. One call, one worker process: nothing is left running afterwards.
    result = run_network(net, x, timeout_s=120)
    exact = all(np.array_equal(a, b) for a, b in zip(result.outputs, net.run_integer(x)))
    print(
        f"bit-exact vs reference: {exact}; start-up {result.timings['start_s']:.2f} s, "
        f"{result.timings['steps']} timesteps in {result.timings['run_s']:.3f} s"
    )
    profile = activity_profile(net, x)
    print(
        f"spikes per population   Lava {result.counters['spikes']}  reference "
        f"{profile.spike_counts().tolist()}"
    )
    print(
        f"synaptic ops per layer  Lava {result.counters['synaptic_ops']}  reference "
        f"{profile.synaptic_ops(net).tolist()}"
    )

    # 2. With a mapping: one Lava process per neuron slice, each recording its core; the description
    #    travels as bytes (JSON + weight arrays, no pickle) and is rebuilt on the other side.
    mapping = Mapping.from_assignment(net, (3, 2, 1), [10, 11, 12, 20, 21, 30])
    graph = LavaGraph.from_bytes(describe(net, mapping).to_bytes())
    print(f"tiled graph: {graph.n_processes} Lava processes, cores per layer {graph.cores}")

    # 3. A live runtime: batches stream in without re-compiling.
    with LavaSession(graph=graph, timeout_s=120) as session:
        for seed in (3, 4):
            batch = net.quantize_input(workloads.sample_inputs("mlp_tiny", 8, seed=seed))
            r = session.run(batch)
            same = all(np.array_equal(a, b) for a, b in zip(r.outputs, net.run_integer(batch)))
            print(
                f"batch seed {seed}: bit-exact {same}, "
                f"messages per layer {r.counters['messages']} "
                f"(reference {reference_counters(graph, batch)['messages']}), "
                f"{1e3 * r.timings['run_s'] / r.timings['steps']:.2f} ms/timestep"
            )


if __name__ == "__main__":
    main()

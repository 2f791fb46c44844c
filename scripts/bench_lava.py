"""Benchmark: the Lava backend (Loihi2SimCfg, fixed point, in a worker process) vs the reference
executor.

For each network and synapse process kind (Lava ``Sparse`` vs ``Dense``) it measures, side by side
in one run:

* start-up: worker start + emit + Lava compile + runtime start (``start_s``, with Lava's
  ``compile_s`` and
  ``create_runtime_s``), and the wall time of a cold one-shot ``run_network`` call on one sample;
* steady state in a live session (after a warm-up batch): wall time per Lava timestep and per
  sample;
* the reference executor (``NetworkIR.run_integer``, numpy) per sample on the same batch;

and reports ratios (Lava / reference per sample, Dense / Sparse per step). Every Lava result is
checked
bit-exact against the reference. Absolute times on this shared 2-core machine are noisy; the fastest
of
``--repeats`` timed batches counts.

Usage: ``python scripts/bench_lava.py [--samples 128] [--repeats 2] [--quick]``; writes
results/bench_lava.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from tvm_loihi.lava import LavaSession, describe, run_network
from tvm_loihi.model import workloads
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import lava_default_mapping
from tvm_loihi.model.quantize import quantize_network
from tvm_loihi.model.workloads import WorkloadSpec

# Two sizes besides the reference workloads: the small test member and a mid-size, denser net.
EXTRA = {"mlp_mid": WorkloadSpec("mlp_mid", (256, 512, 512, 10), 0.70, "loihi2_1chip")}
NETWORKS = ("mlp_tiny", "mlp_mid", "mlp_a", "mlp_b")


def _network(name: str):
    spec = EXTRA.get(name) or workloads.get_workload(name)
    cal = workloads.sample_inputs(spec, 64, seed=1)
    return quantize_network(workloads.float_layers(spec), cal, name=name), spec


def _reference_per_sample(net, x, repeats: int) -> float:
    best = float("inf")
    for _ in range(max(3, repeats)):
        t0 = time.perf_counter()
        net.run_integer(x)
        best = min(best, time.perf_counter() - t0)
    return best / len(x)


def _check(net, x, result) -> None:
    for got, want in zip(result.outputs, net.run_integer(x)):
        if not np.array_equal(got, want):
            raise AssertionError(f"{net.name}: Lava output differs from the reference executor")


def measure(name: str, synapse: str, samples: int, repeats: int, mapped: bool = False) -> dict:
    """One row: start-up, steady-state per step / per sample, reference per sample. ``mapped``: one
    neuron + one synapse process per slice of the Lava default mapping (graph-level tiling)."""
    net, spec = _network(name)
    mapping = lava_default_mapping(net, get_preset(spec.hardware)) if mapped else None
    x = net.quantize_input(workloads.sample_inputs(spec, samples, seed=3))
    t0 = time.perf_counter()
    cold = run_network(net, x[:1], mapping=mapping, synapse=synapse, timeout_s=600)
    cold_s = time.perf_counter() - t0
    _check(net, x[:1], cold)
    with LavaSession(net, mapping, synapse=synapse, timeout_s=600) as session:
        warm = session.run(x[: min(8, samples)])  # first steps preprocess the weights
        runs = [session.run(x) for _ in range(repeats)]
    for r in runs:
        _check(net, x, r)
    best = min(runs, key=lambda r: r.timings["run_s"])
    steps = best.timings["steps"]
    ref = _reference_per_sample(net, x, repeats)
    lava_per_sample = best.timings["run_s"] / samples
    return {
        "network": name,
        "widths": list(net.layer_sizes),
        "sparsity": spec.sparsity,
        "synapse": synapse,
        "slices": "mapped" if mapped else "layer",
        "lava_processes": describe(net, mapping, synapse=synapse).n_processes,
        "samples": samples,
        "start_s": warm.timings["start_s"],
        "compile_s": warm.timings["compile_s"],
        "create_runtime_s": warm.timings["create_runtime_s"],
        "cold_one_sample_s": cold_s,
        "ms_per_step": 1e3 * best.timings["run_s"] / steps,
        "ms_per_sample": 1e3 * lava_per_sample,
        "reference_ms_per_sample": 1e3 * ref,
        "lava_over_reference": lava_per_sample / ref,
    }


def _table(rows: list[dict]) -> str:
    head = (
        f"{'network':<9} {'synapse':<7} {'slices':<6} {'procs':>5} {'start s':>8} "
        f"{'cold 1 s':>8} {'ms/step':>8} "
        f"{'ms/sample':>9} {'ref ms/sample':>13} {'lava/ref':>9} {'dense/sparse':>12}"
    )
    lines = [head, "-" * len(head)]
    by_key = {(r["network"], r["synapse"], r["slices"]): r for r in rows}
    for r in rows:
        other = by_key.get((r["network"], "sparse", r["slices"]))
        dense = other is not None and r["synapse"] == "dense"
        ratio = r["ms_per_step"] / other["ms_per_step"] if dense else None
        lines.append(
            f"{r['network']:<9} {r['synapse']:<7} {r['slices']:<6} {r['lava_processes']:>5} "
            f"{r['start_s']:>8.2f} "
            f"{r['cold_one_sample_s']:>8.2f} {r['ms_per_step']:>8.2f} {r['ms_per_sample']:>9.2f} "
            f"{r['reference_ms_per_sample']:>13.4f} {r['lava_over_reference']:>9.0f} "
            f"{'' if ratio is None else f'{ratio:.2f}':>12}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="mlp_tiny and mlp_a only, 32 samples")
    parser.add_argument("--out", default=os.path.join("results", "bench_lava.json"))
    args = parser.parse_args()
    names = ("mlp_tiny", "mlp_a") if args.quick else NETWORKS
    samples = 32 if args.quick else args.samples
    rows = []
    for name in names:
        for synapse in ("sparse", "dense"):
            rows.append(measure(name, synapse, samples, args.repeats))
            print(f"  measured {name} / {synapse}", flush=True)
    if not args.quick:  # graph-level tiling: mlp_a on its 1-chip Lava default mapping
        rows.append(measure("mlp_a", "sparse", samples, args.repeats, mapped=True))
        print("  measured mlp_a / sparse / default mapping", flush=True)
    print(
        "slices: 'layer' = one neuron + one synapse process per layer; 'mapped' = per slice of "
        "the Lava default mapping"
    )
    print(_table(rows))
    load = os.getloadavg()
    print(
        f"load average during the run (1/5/15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
        f"on {os.cpu_count()} cores"
    )
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(
            {
                "benchmark": "bench_lava",
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average": list(os.getloadavg()),
                "samples": samples,
                "repeats": args.repeats,
                "rows": rows,
            },
            f,
            indent=1,
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Benchmark the Loihi 2 simulator: evaluations/s of both fidelities, cost growth with network size,
Lava-default figures vs the lower bound, and fast/event rank agreement. Prints a table, writes
results/bench_sim.json (``--out``). Per workload it also times the event model with the preset's
finite link buffers against unbounded ones on the Lava default, side by side, as a ratio.
Usage: python scripts/bench_sim.py [--quick] [--workloads mlp_a,mlp_b2] [--no-growth]"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from scipy.stats import spearmanr

from tvm_loihi.model.activity import activity_from_float
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import lava_default_mapping, random_valid_mappings
from tvm_loihi.model.quantize import quantize_network
from tvm_loihi.model.workloads import WORKLOADS, WorkloadSpec, float_layers, sample_inputs
from tvm_loihi.sim import evaluate, lower_bound


def _build(spec):
    net = quantize_network(float_layers(spec), calibration=sample_inputs(spec), name=spec.name)
    return net, activity_from_float(net, sample_inputs(spec, 64))


def _rate(fn, budget_s: float, max_calls: int = 100_000) -> float:
    fn()  # warm the caches
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < budget_s and n < max_calls:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def _backpressure_cost(net, mapping, hw, act, budget_s: float) -> dict:
    """Event-model time per evaluation with the preset's finite link buffers and with unbounded
    ones (``link_buffer_msgs = 0``), measured alternately (so load on a shared machine hits both
    alike); medians over the rounds; the ratio is what back-pressure costs."""
    if hw.timing.link_buffer_msgs == 0:
        return {}
    unbounded = hw.replace_constant("timing.link_buffer_msgs", 0)
    times: dict[str, list[float]] = {"bounded": [], "unbounded": []}
    for spec in (hw, unbounded):
        evaluate(net, mapping, spec, act, "event", validate=False)  # warm
    t_end = time.perf_counter() + 2 * budget_s
    while len(times["bounded"]) < 50 and (time.perf_counter() < t_end or len(times["bounded"]) < 3):
        for label, spec in (("bounded", hw), ("unbounded", unbounded)):
            t0 = time.perf_counter()
            evaluate(net, mapping, spec, act, "event", validate=False)
            times[label].append(time.perf_counter() - t0)
    b, u = float(np.median(times["bounded"])), float(np.median(times["unbounded"]))
    return {
        "event_bounded_s": b,
        "event_unbounded_s": u,
        "bounded_over_unbounded": b / u,
        "backpressure_rounds": len(times["bounded"]),
    }


def workload_row(name: str, budget_s: float, n_rank: int, backpressure_cost: bool = True) -> dict:
    spec = WORKLOADS[name]
    hw = get_preset(spec.hardware)
    net, act = _build(spec)
    lava = lava_default_mapping(net, hw)
    fast = evaluate(net, lava, hw, act)
    event = evaluate(net, lava, hw, act, "event")
    bound = lower_bound(net, hw, act)
    row = {
        "workload": name,
        "hardware": hw.name,
        "cores": lava.n_cores_used,
        "chips": fast.chips_used,
        "cores_per_layer": list(lava.cores_per_layer),
        "fast_evals_per_s": _rate(lambda: evaluate(net, lava, hw, act, validate=False), budget_s),
        "event_evals_per_s": _rate(
            lambda: evaluate(net, lava, hw, act, "event", validate=False), budget_s, 50
        ),
        **(_backpressure_cost(net, lava, hw, act, budget_s) if backpressure_cost else {}),
        "fast_latency_s": fast.total_latency_s,
        "event_latency_s": event.total_latency_s,
        "energy_per_inference_j": fast.energy_per_inference_j,
        "lower_bound_s": bound,
        "event_energy_per_inference_j": event.energy_per_inference_j,
        "fast_over_bound": fast.total_latency_s / bound,
        "event_over_bound": event.total_latency_s / bound,
        "event_over_fast": event.total_latency_s / fast.total_latency_s,
    }
    if n_rank:
        rng = np.random.default_rng(0)
        ms = random_valid_mappings(net, hw, n_rank, rng)
        t0 = time.perf_counter()
        f = [evaluate(net, m, hw, act, validate=False).total_latency_s for m in ms]
        t1 = time.perf_counter()
        e = [evaluate(net, m, hw, act, "event", validate=False).total_latency_s for m in ms]
        row["rank_mappings"] = len(ms)
        row["rank_distinct_partitions"] = len({m.partition_key() for m in ms})
        # every mapping a new partition
        row["fast_new_partition_evals_per_s"] = len(ms) / (t1 - t0)
        row["spearman_fast_event"] = float(spearmanr(f, e).correlation)
        row["event_over_fast_random_min_max"] = [
            float(np.min(np.divide(e, f))),
            float(np.max(np.divide(e, f))),
        ]
    return row


def growth_rows(budget_s: float) -> list[dict]:
    rows = []
    for width in (256, 512, 1024, 2048, 4096):  # five sizes
        spec = WorkloadSpec(f"mlp_w{width}", (784, width, width, width, 10), 0.90, "loihi2_2chip")
        hw = get_preset(spec.hardware)
        net, act = _build(spec)
        m = lava_default_mapping(net, hw)
        rows.append(
            {
                "width": width,
                "cores": m.n_cores_used,
                "synapses": sum(x.nnz for x in net.layers),
                "fast_ms": 1e3 / _rate(lambda: evaluate(net, m, hw, act, validate=False), budget_s),
                "event_ms": 1e3
                / _rate(lambda: evaluate(net, m, hw, act, "event", validate=False), budget_s, 20),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short timing budgets, no rank study")
    ap.add_argument("--workloads", default="mlp_a,mlp_b,mlp_b2,mlp_k")
    ap.add_argument("--rank", type=int, default=200, help="random mappings for the rank study")
    ap.add_argument(
        "--rank-k",
        type=int,
        default=20,
        help="random mappings for mlp_k (its event model takes seconds per evaluation)",
    )
    ap.add_argument("--out", default="results/bench_sim.json", help="JSON written")
    ap.add_argument("--no-growth", action="store_true", help="skip the cost-growth study")
    ap.add_argument(
        "--no-backpressure-cost",
        action="store_true",
        help="skip the bounded vs unbounded event-model timing (>= 8 event evaluations)",
    )
    args = ap.parse_args()
    budget = 1.0 if args.quick else 5.0
    rows = []
    os.makedirs("results", exist_ok=True)
    for name in args.workloads.split(","):
        n_rank = 0 if args.quick else (args.rank_k if name == "mlp_k" else args.rank)
        rows.append(workload_row(name, budget, n_rank, not args.no_backpressure_cost))
        r = rows[-1]
        print(
            f"{r['workload']:7s} {r['hardware']:13s} cores {r['cores']:4d} "
            f"chips {r['chips']} | fast "
            f"{r['fast_evals_per_s']:8.1f}/s event {r['event_evals_per_s']:7.2f}/s | "
            f"event ms bounded/unbounded {r.get('event_bounded_s', float('nan')) * 1e3:.1f}/"
            f"{r.get('event_unbounded_s', float('nan')) * 1e3:.1f} = "
            f"{r.get('bounded_over_unbounded', float('nan')):.2f}x "
            f"({r.get('backpressure_rounds', 0)} runs) | "
            f"latency fast "
            f"{r['fast_latency_s'] * 1e3:.3f} ms event/fast {r['event_over_fast']:.3f} "
            f"fast/bound "
            f"{r['fast_over_bound']:.2f} event/bound {r['event_over_bound']:.2f} | E/inf "
            f"{r['energy_per_inference_j'] * 1e6:.2f} uJ | spearman "
            f"{r.get('spearman_fast_event', float('nan')):.3f} ({r.get('rank_mappings', 0)})",
            flush=True,
        )
    growth = [] if args.no_growth else growth_rows(0.5 if args.quick else 2.0)
    print("\nwidth  cores  synapses   fast ms  event ms  (784-w-w-w-10, 90 % sparse, 2 chips)")
    for g in growth:
        print(
            f"{g['width']:5d} {g['cores']:6d} {g['synapses']:9d} {g['fast_ms']:9.3f} "
            f"{g['event_ms']:9.1f}"
        )
    os.makedirs("results", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"workloads": rows, "growth": growth, "argv": sys.argv[1:]}, f, indent=2)


if __name__ == "__main__":
    main()

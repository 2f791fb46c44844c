"""Does racing keep a lucky measurement from winning? (#14 item 4)

The same seeded bilevel search on the silicon stand-in (hidden constants, run-to-run noise of
coefficient of variation ``--cv``), with racing off (``repeats=1``) and on (``repeats="auto"``),
over ``--noise-seeds`` noise streams (one pool worker each, so every run is reproducible). Per run:
the gain vs the Lava default as the run reports it, the *true* gain (both mappings on the stand-in's
hidden model without noise), the winner's curse (reported best / true best latency - 1: how much
luckier than the truth the reported figure is), the repeats spent and the measured noise. One table,
both settings side by side, and ``results/bench_repeats.json``.

Examples
--------
    .venv/bin/python scripts/bench_repeats.py                    # mlp_tiny, budget 60, ~5 min
    .venv/bin/python scripts/bench_repeats.py --budget 100 --cv 0.05
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

from tvm_loihi.measure import backend
from tvm_loihi.measure.pool_runner import PoolRunner
from tvm_loihi.measure.standin import StandinBackend, hidden_hardware
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.quantize import quantize_network
from tvm_loihi.model.workloads import WORKLOADS, float_layers, sample_inputs
from tvm_loihi.tuning import RacingOptions, default_activity, tune


def _run(net, hw, act, truth, repeats, args, noise_seed: int) -> dict:
    standin = StandinBackend(seed=args.standin_seed, cv=args.cv, cost_s=0.0, noise_seed=noise_seed)
    with tempfile.TemporaryDirectory() as d, PoolRunner(n_workers=1, backend=standin) as runner:
        start = time.perf_counter()
        res = tune(
            net,
            hw,
            runner=runner,
            strategy="bilevel",
            budget=args.budget,
            seed=args.seed,
            activity=act,
            fidelity="standin",
            log=os.path.join(d, "t.jsonl"),
            racing=RacingOptions(repeats=repeats),
        )
        wall = time.perf_counter() - start
    true_best = backend.measure(net, truth, act, res.best_mapping.to_json(), "event").latency_s
    true_default = backend.measure(
        net, truth, act, res.default_mapping.to_json(), "event"
    ).latency_s
    return {
        "repeats_setting": repeats,
        "noise_seed": noise_seed,
        "hardware_evaluations": res.evaluations,
        "repeats": res.repeats,
        "measured_noise": res.noise,
        "best_samples": int(res.best_result.counters.get("samples", 1)),
        "reported_change": res.change(),
        "true_change": true_best / true_default - 1.0,
        "winners_curse": res.best_result.latency_s / true_best - 1.0,
        "wall_s": wall,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workload", default="mlp_tiny", choices=sorted(WORKLOADS))
    p.add_argument("--budget", type=int, default=60)
    p.add_argument("--cv", type=float, default=0.02)
    p.add_argument("--standin-seed", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise-seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--out", default=os.path.join("results", "bench_repeats.json"))
    args = p.parse_args(argv)
    spec = WORKLOADS[args.workload]
    net = quantize_network(float_layers(spec), calibration=sample_inputs(spec), name=spec.name)
    hw = get_preset(spec.hardware)
    act = default_activity(net, hw)
    truth = hidden_hardware(hw, args.standin_seed)
    rows = []
    for noise_seed in args.noise_seeds:
        for repeats in (1, "auto"):
            rows.append(_run(net, hw, act, truth, repeats, args, noise_seed))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(
        f"{args.workload} on the silicon STAND-IN (seed {args.standin_seed}, cv {args.cv:g}; not "
        f"silicon), bilevel, budget {args.budget} hardware evaluations, seed {args.seed}"
    )
    header = (
        f"{'noise seed':>10} | {'repeats':>7} | {'reported gain':>13} | {'true gain':>9} | "
        f"{'winners curse':>13} | {'repeats spent':>13} | {'noise':>6}"
    )
    print(header + "\n" + "-" * len(header))
    for r in rows:
        noise = "-" if r["measured_noise"] is None else f"{r['measured_noise']:.4f}"
        print(
            f"{r['noise_seed']:>10} | {r['repeats_setting']!s:>7} | "
            f"{r['reported_change']:+13.2%} | {r['true_change']:+9.2%} | "
            f"{r['winners_curse']:+13.2%} | {r['repeats']:>13} | {noise:>6}"
        )
    summary = {}
    for setting in (1, "auto"):
        sel = [r for r in rows if r["repeats_setting"] == setting]
        summary[str(setting)] = {
            k: float(np.mean([r[k] for r in sel]))
            for k in ("reported_change", "true_change", "winners_curse", "repeats")
        }
    off, on = summary["1"], summary["auto"]
    print(
        f"mean: off winner's curse {off['winners_curse']:+.2%}, on {on['winners_curse']:+.2%}; "
        f"true gain off {off['true_change']:+.2%}, on {on['true_change']:+.2%} "
        f"(ratio on/off {on['true_change'] / off['true_change']:.3f})"
    )
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"args": vars(args), "runs": rows, "mean": summary}, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

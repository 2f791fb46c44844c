"""Does racing the verification step keep a lucky draw from picking the final best? (#14 item 4)

mlp_tiny searched on the fast model (bilevel, ``--budget``), its ``--top-k`` best and the Lava
default verified on the silicon stand-in (hidden constants of ``--standin-seed``, noise of
coefficient of variation ``--cv``), with racing off (``repeats=1``) and on (``repeats="auto"``),
over ``--noise-seeds`` noise streams. Per run: the winner's curse (reported best latency / the same
mapping on the stand-in's hidden model without noise - 1), how far the pick is from the truly
fastest verified mapping, and the verify repeats spent. One table, both settings side by side.

Examples
--------
    .venv/bin/python scripts/bench_verify_race.py                 # ~2 min
    .venv/bin/python scripts/bench_verify_race.py --cv 0.05 --noise-seeds 20
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

from tvm_loihi.measure.records import MeasureInput
from tvm_loihi.measure.runner import LocalRunner, Runner
from tvm_loihi.measure.standin import StandinRunner
from tvm_loihi.model.activity import activity_from_float
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.quantize import quantize_network
from tvm_loihi.model.workloads import WORKLOADS, float_layers, sample_inputs
from tvm_loihi.tuning import RacingOptions, VerifyOptions, tune


class SimThenStandin(Runner):
    """The local simulator for the search fidelities, the in-process stand-in for ``standin``."""

    n_parallel = 1

    def __init__(self, **standin) -> None:
        self.sim, self.chip = LocalRunner(), StandinRunner(**standin)

    def register(self, network, hardware, activity) -> None:
        self.sim.register(network, hardware, activity)
        self.chip.register(network, hardware, activity)

    def submit(self, inputs):
        return [(self.chip if i.fidelity == "standin" else self.sim).submit([i])[0] for i in inputs]

    def close(self) -> None:
        self.sim.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=int, default=24)
    p.add_argument("--top-k", type=int, default=6)
    p.add_argument("--cv", type=float, default=0.1)
    p.add_argument("--standin-seed", type=int, default=3)
    p.add_argument("--noise-seeds", type=int, default=10)
    args = p.parse_args(argv)
    spec = WORKLOADS["mlp_tiny"]
    net = quantize_network(float_layers(spec), calibration=sample_inputs(spec), name="mlp_tiny")
    act = activity_from_float(net, sample_inputs(spec, 64))
    hw = get_preset("loihi2_1chip")
    truth = StandinRunner(seed=args.standin_seed, cv=0.0, cost_s=0.0)
    truth.register(net, hw, act)

    def true_latency(mapping) -> float:
        inp = MeasureInput(net.workload_key(), hw.key(), mapping.to_json(), "standin", act.key())
        return truth.submit([inp])[0].result().latency_s

    rows = {"off": [], "auto": []}
    print(f"{'noise':>5} {'racing':>6} {'curse':>8} {'pick vs best':>12} {'repeats':>7}")
    for noise_seed in range(1, args.noise_seeds + 1):
        for label, repeats in (("off", 1), ("auto", "auto")):
            runner = SimThenStandin(
                seed=args.standin_seed, cv=args.cv, cost_s=0.0, noise_seed=noise_seed
            )
            with tempfile.TemporaryDirectory() as d:
                res = tune(
                    net,
                    hw,
                    runner=runner,
                    strategy="bilevel",
                    budget=args.budget,
                    seed=0,
                    activity=act,
                    log=os.path.join(d, "tune.jsonl"),
                    verify=VerifyOptions(fidelity="standin", top_k=args.top_k),
                    racing=RacingOptions(repeats=repeats),
                )
            picked = true_latency(res.best_mapping)
            best = min(true_latency(m) for m, _ in res.verified)
            row = (res.best_result.latency_s / picked - 1, picked / best - 1, res.verify_repeats)
            rows[label].append(row)
            print(f"{noise_seed:>5} {label:>6} {row[0]:>+8.2%} {row[1]:>+12.3%} {row[2]:>7}")
    for label, r in rows.items():
        a = np.array(r)
        print(
            f"racing {label}: winner's curse mean {a[:, 0].mean():+.2%} "
            f"({a[:, 0].min():+.2%} .. {a[:, 0].max():+.2%}), pick vs truly fastest verified "
            f"at most {a[:, 1].max():+.3%}, verify repeats mean {a[:, 2].mean():.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

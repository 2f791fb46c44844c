"""Issue #14 diagnosis: how well the fast and the event model rank *near-optimal* mappings of mlp_a
against the stand-in's noise-free hidden truth (event model, hidden constants of stand-in seed 0).

The pool is a 150-step hill-climb on the truth from the heuristic seeds (every visited mapping kept)
plus bench_hil's held-out mappings; Spearman is printed over the 20 and 50 best (by truth) and all.
Run: ``.venv/bin/python scripts/diag_surrogate_fidelity.py`` (a few minutes on one core).
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np
from scipy.stats import spearmanr

from tvm_loihi.measure.standin import hidden_hardware
from tvm_loihi.search.operators import mutate
from tvm_loihi.search.problem import MappingProblem
from tvm_loihi.sim.api import evaluate


def main() -> int:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_hil import heldout, workload

    warnings.simplefilter("ignore")
    net, hw, act = workload("mlp_a")
    p = MappingProblem(net, hw, act)
    hid = hidden_hardware(hw, 0)
    rng = np.random.default_rng(7)

    def lat(g, spec, fid):
        try:
            return evaluate(net, p.decode(g), spec, act, fid, validate=False).total_latency_s
        except (ValueError, RuntimeError):
            return np.inf

    pool = list(p.seeds())
    cur = min(pool, key=lambda g: lat(g, hid, "event"))
    t0 = time.perf_counter()
    for _ in range(150):
        c = mutate(cur, p.space, rng, n_moves=2)
        pool.append(c)
        if lat(c, hid, "event") < lat(cur, hid, "event"):
            cur = c
    te = (time.perf_counter() - t0) / 150
    gs = pool + heldout(p, 100)
    truth = np.array([lat(g, hid, "event") for g in gs])
    t0 = time.perf_counter()
    hf = np.array([lat(g, hid, "fast") for g in gs])
    tf = (time.perf_counter() - t0) / len(gs)
    df = np.array([lat(g, hw, "fast") for g in gs])
    de = np.array([lat(g, hw, "event") for g in gs])
    ok = np.isfinite(truth) & np.isfinite(hf)
    order = np.argsort(truth)
    for k in (20, 50, len(gs)):
        idx = [i for i in order[:k] if ok[i]]
        print(
            f"top{k}: rho(fast, hidden constants)={spearmanr(hf[idx], truth[idx]).statistic:.3f} "
            f"rho(fast, default)={spearmanr(df[idx], truth[idx]).statistic:.3f} "
            f"rho(event, default)={spearmanr(de[idx], truth[idx]).statistic:.3f}"
        )
    print(f"cost per evaluation: event {te * 1e3:.1f} ms (incl. mutate), fast {tf * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

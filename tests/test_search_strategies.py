"""Strategies on the real simulator: exact optimum on enumerable instances, determinism,
JSON state."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from _networks import tiny_network

from tvm_loihi.model.hardware import HardwareSpec, get_preset
from tvm_loihi.model.mapping import Mapping
from tvm_loihi.model.network import NetworkIR
from tvm_loihi.search import EVOLUTIONARY, get_strategy, strategy_names
from tvm_loihi.search.genome import is_feasible
from tvm_loihi.search.problem import MappingProblem
from tvm_loihi.search.registry import register
from tvm_loihi.sim import evaluate
from tvm_loihi.tuning import default_activity, tune

# These landscapes were built on the v0 timing (L1-sized hops and links), where the optimum is a
# needle by a clear margin. Under the recalibrated default (#13) hops and links are 4.7x cheaper
# and the best few placements differ by ~1e-5 relative, a tie at the timing model's resolution
# rather than a needle; the instances keep the v0 timing so the exact-optimum check keeps its
# meaning (on the default timing the strategies land within 5e-5 of the optimum).
_V0_TIMING = get_preset("loihi2_1chip_v0").timing
INSTANCES = {
    "2 layers on 2x3": (
        (12, 3, 3),
        HardwareSpec("mesh2x3", routers_x=2, routers_y=3, timing=_V0_TIMING),
    ),
    "3 layers on 2x3": (
        (10, 3, 2, 2),
        HardwareSpec("mesh2x3b", routers_x=3, routers_y=2, timing=_V0_TIMING),
    ),
}


def brute_force_optimum(net: NetworkIR, hw: HardwareSpec, act) -> tuple[float, int]:
    """Best total latency over every (counts, placement) and how many mappings reach it."""
    sizes = net.layer_sizes[1:]
    best, n_best, n_all = np.inf, 0, 0
    for counts in itertools.product(*(range(1, s + 1) for s in sizes)):
        if sum(counts) > hw.n_cores:
            continue
        for ids in itertools.permutations(range(hw.n_cores), sum(counts)):
            m = Mapping.from_assignment(net, counts, ids)
            m.validate(net, hw)
            lat = evaluate(net, m, hw, act).total_latency_s
            n_all += 1
            if lat < best * (1 - 1e-12):
                best, n_best = lat, 1
            elif lat <= best * (1 + 1e-12):
                n_best += 1
    return best, n_all, n_best


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_evolutionary_strategies_find_the_enumerated_optimum(instance):
    sizes, hw = INSTANCES[instance]
    net = tiny_network(sizes)
    act = default_activity(net, hw, n_samples=16)
    best, n_all, n_best = brute_force_optimum(net, hw, act)
    assert n_best < n_all / 20  # the optimum is a needle, not a plateau
    budget = 150
    for name in EVOLUTIONARY:
        res = tune(net, hw, strategy=name, budget=budget, seed=1, activity=act)
        assert res.evaluations <= budget
        assert res.best_result.latency_s == pytest.approx(best, rel=1e-12), (name, n_all, n_best)


def _small_problem():
    net = tiny_network((24, 16, 12, 8), seed=3)
    hw = HardwareSpec("mesh4x4", routers_x=4, routers_y=4)
    return net, hw, default_activity(net, hw, n_samples=16)


@pytest.mark.parametrize("name", [n for n in strategy_names() if n != "lava_default"])
def test_same_seed_same_run_and_state_survives_json(name):
    net, hw, act = _small_problem()
    problem = MappingProblem(net, hw, act)
    cls = get_strategy(name)

    def make(seed):
        return cls(
            problem.space,
            budget=40,
            seed=seed,
            seeds=problem.seeds() if cls.uses_seeds else (),
            traffic=problem.traffic,
            order=problem.order,
            **({"problem": problem} if getattr(cls, "needs_problem", False) else {}),
        )

    def run(strategy, n, start=0):
        asked = []
        for i in range(start, start + n):
            g = strategy.ask()
            assert is_feasible(g, problem.space), name
            strategy.tell(g, (float(np.sin(i) + sum(g.counts) * 0.01 + g.perm[0] * 1e-3),))
            asked.append(g)
        return asked

    a, b = make(7), make(7)
    assert run(a, 25) == run(b, 25)
    # stop a after 25 tells, serialise its state, resume into a fresh object: same future proposals
    state = json.loads(json.dumps(a.state()))
    c = make(99)
    c.load_state(state)
    assert run(a, 15, 25) == run(c, 15, 25)


def test_registry_rejects_duplicates_and_unknown_names():
    with pytest.raises(ValueError, match="already registered"):
        register("bilevel")(type("Other", (), {}))
    with pytest.raises(KeyError, match="known: "):
        get_strategy("no_such_strategy")


def test_nsga2_returns_a_pareto_front_of_latency_and_energy():
    net, hw, act = _small_problem()
    res = tune(
        net, hw, strategy="nsga2", budget=80, seed=0, activity=act, objectives=("latency", "energy")
    )
    pts = np.array([[r.latency_s, r.energy_j] for _, r in res.pareto])
    assert len(pts) >= 1
    # sorted, non-dominated
    assert np.all(np.diff(pts[:, 0]) >= 0) and np.all(np.diff(pts[:, 1]) <= 0)
    assert pts[:, 0].min() == pytest.approx(res.best_result.latency_s)


def test_strategies_of_higher_layers_are_listed_without_importing_them_first():
    """``surrogate`` lives in tvm_loihi.tuning; a program that imports only the search layer
    still lists and finds it (a fresh interpreter, so no earlier import hides the defect)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tvm_loihi.search import get_strategy, strategy_names\n"
        "assert 'tvm_loihi.tuning.surrogate' not in sys.modules\n"
        "assert 'surrogate' in strategy_names(), strategy_names()\n"
        "print(get_strategy('surrogate').__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()

"""The placement-free pipeline model of the partitioning and the model-guided count moves."""

from __future__ import annotations

import numpy as np
import pytest
from _networks import tiny_network

from tvm_loihi.model.hardware import HardwareSpec
from tvm_loihi.search import operators as op
from tvm_loihi.search.genome import is_feasible
from tvm_loihi.search.problem import MappingProblem
from tvm_loihi.sim import evaluate
from tvm_loihi.tuning import default_activity

NET = tiny_network((48, 64, 40, 24, 8), seed=11, density=0.3, name="pipeline_test")
HW = HardwareSpec("mesh4x6", routers_x=4, routers_y=6)
PROBLEM = MappingProblem(NET, HW, default_activity(NET, HW, n_samples=24))
MODEL = PROBLEM.space.count_model


def test_model_is_a_placement_free_lower_estimate_of_the_fast_simulator():
    rng = np.random.default_rng(0)
    for _ in range(25):
        g = op.random_genome(PROBLEM.space, rng)
        fast = evaluate(NET, PROBLEM.decode(g), HW, PROBLEM.activity).total_latency_s
        assert MODEL.latency(g.counts) <= fast * (1 + 1e-12)
    # the Lava default is compute-bound on this mesh: the model is exact there up to the NoC terms
    default = evaluate(NET, PROBLEM.decode(PROBLEM.default), HW, PROBLEM.activity).total_latency_s
    assert MODEL.latency(PROBLEM.default.counts) == pytest.approx(default, rel=0.5)


def test_allocate_respects_bounds_and_improves_on_the_minimum():
    lo = PROBLEM.space.min_counts
    for total in (sum(lo), 12, HW.n_cores):
        counts = MODEL.allocate(total)
        assert all(c >= m for c, m in zip(counts, lo)) and sum(counts) <= max(total, sum(lo))
        assert MODEL.latency(counts) <= MODEL.latency(lo)
    assert MODEL.latency(MODEL.allocate(HW.n_cores)) < MODEL.latency(lo)


def test_rebalance_never_worsens_the_model_and_keeps_the_total():
    rng = np.random.default_rng(1)
    for _ in range(10):
        g = op.random_genome(PROBLEM.space, rng)
        moved = MODEL.rebalance(g.counts, 3)
        assert sum(moved) == sum(g.counts)
        assert all(c >= m for c, m in zip(moved, PROBLEM.space.min_counts))
        assert MODEL.latency(moved) <= MODEL.latency(g.counts)


def test_model_guided_count_moves_keep_genomes_feasible_and_deterministic():
    space = PROBLEM.space
    for move in (op.rebalance_counts, op.reallocate_counts):
        a = [
            move(op.random_genome(space, np.random.default_rng(s)), space, np.random.default_rng(s))
            for s in range(8)
        ]
        b = [
            move(op.random_genome(space, np.random.default_rng(s)), space, np.random.default_rng(s))
            for s in range(8)
        ]
        assert a == b
        assert all(is_feasible(g, space) for g in a), move.__name__


def test_model_seeds_come_first_after_the_default_and_are_feasible():
    seeds = PROBLEM.seeds()
    assert all(is_feasible(g, PROBLEM.space) for g in seeds)
    model_counts = {MODEL.allocate(round(f * HW.n_cores)) for f in (0.5, 0.65, 0.8, 1.0)}
    assert model_counts <= {g.counts for g in seeds}


def test_traffic_greedy_seeds_place_heavy_pairs_closer_than_random_layouts():
    from tvm_loihi.search.genome import Genome, repair
    from tvm_loihi.search.heuristics import greedy_genome

    space, counts = PROBLEM.space, MODEL.allocate(HW.n_cores)
    traffic = PROBLEM.traffic(counts)
    greedy = greedy_genome(space, counts, PROBLEM.order, traffic)
    assert greedy in PROBLEM.seeds() and is_feasible(greedy, space)
    assert greedy == greedy_genome(space, counts, PROBLEM.order, traffic)  # deterministic

    def cost(g):  # messages x hops between the logical cores as placed
        place = np.asarray(g.core_ids())
        return float((traffic * space.hops[np.ix_(place, place)]).sum())

    rng = np.random.default_rng(5)
    randoms = [
        cost(repair(Genome(counts, tuple(int(c) for c in rng.permutation(HW.n_cores))), space))
        for _ in range(30)
    ]
    assert cost(greedy) < min(randoms)

"""Fidelity agreement, lower bounds and sensitivity on the reference workloads."""

from __future__ import annotations

import numpy as np
import pytest
from _sim_workloads import activity, network
from scipy.stats import spearmanr

from tvm_loihi.model.activity import ActivityProfile
from tvm_loihi.model.hardware import ASSUMED_CONSTANTS, get_preset
from tvm_loihi.model.mapping import (
    Mapping,
    lava_default_mapping,
    min_cores_per_layer,
    random_valid_mappings,
)
from tvm_loihi.model.workloads import WORKLOADS
from tvm_loihi.sim import evaluate, lower_bound

# Samples of activity per workload in these tests (the benchmark uses all 64): keeps the suite
# fast. The Spearman threshold of the issue (0.9) is checked on exactly this configuration.
TEST_SAMPLES = {"mlp_a": 16, "mlp_b": 16, "mlp_b2": 2, "mlp_k": 1}


def _short(name: str) -> ActivityProfile:
    full = activity(name)
    return ActivityProfile(tuple(s[: TEST_SAMPLES[name]] for s in full.spikes))


# Spearman over 200 mappings on mlp_a and mlp_b here; scripts/bench_sim.py reports it for all four
# workloads with the full activity. The multi-chip workloads check event >= fast >= bound on a few
# mappings.
@pytest.mark.parametrize(
    "name,count", [("mlp_a", 200), ("mlp_b", 200), ("mlp_b2", 4), ("mlp_k", 1)]
)
def test_event_never_below_fast_and_ranks_agree(name, count):
    net, act = network(name), _short(name)
    hw = get_preset(WORKLOADS[name].hardware)
    rng = np.random.default_rng(7)
    fast, event = [], []
    bound = lower_bound(net, hw, act)
    for m in random_valid_mappings(net, hw, count, rng):
        f = evaluate(net, m, hw, act, validate=False)
        e = evaluate(net, m, hw, act, "event", validate=False)
        assert np.all(e.timesteps["step_s"] >= f.timesteps["step_s"] * (1 - 1e-12))
        assert f.total_latency_s >= bound * (1 - 1e-12)
        fast.append(f.total_latency_s)
        event.append(e.total_latency_s)
    if count >= 200:
        rho = spearmanr(fast, event).correlation
        assert rho >= 0.9, (
            f"{name}: Spearman {rho:.3f} between fast and event over {count} mappings"
        )


def _spread(cores) -> np.ndarray:
    """Core ids interleaving the layers over the chip (layer k's j-th slice at fraction (j + 0.5) /
    c_k of the id range), so that no row of the mesh carries one layer's whole traffic."""
    key = np.concatenate([(np.arange(c) + 0.5) / c for c in cores])
    ids = np.empty(len(key), dtype=np.int64)
    ids[np.argsort(key, kind="stable")] = np.arange(len(key))
    return ids


def _better_mappings(net, hw):
    """Hand-made alternatives to the Lava default: the last hidden layer on 1.25x and 1.5x its
    fewest cores, layers interleaved over the mesh. Why that layer: a core's receive work is
    messages x t_recv + syn ops x t_syn, and widening a layer cuts only its syn ops per core (every
    core still gets about one message per active source) while adding messages on the sending side;
    widening the first layer adds host-port messages, and widening a middle layer breaks the sending
    layer's output-axon limit (4096), so the last hidden layer (whose only receiver is the one-core
    output layer) is where extra cores pay off under every calibration."""
    base = np.array(min_cores_per_layer(net, hw))
    out = []
    for factor in (1.25, 1.5):
        cores = base.copy()
        cores[-2] = min(int(np.ceil(base[-2] * factor)), net.layer_sizes[-2])
        m = Mapping.from_assignment(net, cores, _spread(cores))
        m.validate(net, hw)
        out.append(m)
    return out


@pytest.mark.parametrize("fidelity", ["fast", "event"])
def test_ranking_vs_lava_default_robust_to_assumed_constants(fidelity):
    net, act = network("mlp_a"), _short("mlp_a")
    hw0 = get_preset("loihi2_1chip")
    lava = lava_default_mapping(net, hw0)
    better = _better_mappings(net, hw0)
    assert better
    for name in (None, *ASSUMED_CONSTANTS):
        for factor in (0.5, 2.0):
            hw = hw0 if name is None else hw0.scale_constant(name, factor)
            base = evaluate(net, lava, hw, act, fidelity).total_latency_s
            for m in better:
                got = evaluate(net, m, hw, act, fidelity).total_latency_s
                assert got < base, (
                    f"{name} x{factor}: {got:.4g} s not below Lava default {base:.4g} s"
                )

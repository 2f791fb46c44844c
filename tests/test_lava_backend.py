"""Real Lava runs (Loihi2SimCfg, fixed point) in worker processes: bit-exact outputs, counters,
isolation.

Many small networks share one worker call (:func:`tvm_loihi.lava.run_graphs`) to keep the suite
fast.
"""

from __future__ import annotations

import os
import signal
from itertools import pairwise

import numpy as np
import psutil
import pytest
import scipy.sparse as sps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tvm_loihi.lava import (
    LavaError,
    LavaSession,
    LavaTimeoutError,
    close_sessions,
    describe,
    reference_counters,
    run_graphs,
    run_network,
)
from tvm_loihi.model import workloads
from tvm_loihi.model.activity import activity_profile
from tvm_loihi.model.mapping import Mapping
from tvm_loihi.model.network import ACCUMULATOR_LIMIT, Layer, NetworkIR
from tvm_loihi.model.quantize import quantize_network

INPUT_RANGES = [(0, 255), (-127, 127), (-(1 << 16), (1 << 16) - 1)]


@pytest.fixture(autouse=True)
def no_leaked_processes():
    """Every test must leave no Lava worker or actor behind, whether it passed or failed."""
    yield
    close_sessions()
    assert psutil.Process().children(recursive=True) == []


def _assert_exact(network, x, result, graph=None):
    for k, (got, want) in enumerate(zip(result.outputs, network.run_integer(x))):
        assert got.dtype == np.int64 and got.shape == want.shape
        np.testing.assert_array_equal(got, want, err_msg=f"layer {k} of {network.name}")
    assert result.counters == reference_counters(graph or describe(network), x)


@st.composite
def random_case(draw):
    """A random network (widths 1-64, 1-4 layers, density 0-100 %, all-zero rows, saturating
    bounds), a graph choice (synapse kind, optional tiling) and an input batch with all-zero and
    out-of-range rows."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    depth = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(1, 64), min_size=depth + 1, max_size=depth + 1))
    input_lo, input_hi = draw(st.sampled_from(INPUT_RANGES))
    weights = []
    for n_in, n_out in pairwise(widths):
        density = draw(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0))
        w = rng.integers(-128, 128, (n_out, n_in))
        w[rng.random(w.shape) >= density] = 0
        w[rng.random(n_out) < 0.2] = 0  # all-zero rows
        weights.append(w)
    layers = []
    for k, w in enumerate(weights):
        nxt = 2 * int(np.abs(weights[k + 1]).sum(axis=1).max()) if k + 1 < depth else 0
        cap = min((1 << 23) - 1, ACCUMULATOR_LIMIT // nxt) if nxt else (1 << 23) - 1
        hi = min(cap, draw(st.sampled_from([1, 3, 255, 4095]) | st.integers(1, 1 << 23)))
        relu = draw(st.booleans())
        lo = 0 if relu else -min(cap, draw(st.integers(0, 1 << 23)))
        bias = rng.integers(-(1 << draw(st.integers(0, 20))), 1 << 20, w.shape[0])
        shift = draw(st.integers(0, 14))
        layers.append(Layer(f"fc{k}", sps.csr_matrix(w), shift, bias, relu, lo, hi))
    net = NetworkIR(tuple(layers), input_lo=input_lo, input_hi=input_hi, name=f"rand{depth}")
    mapping = None
    if draw(st.booleans()):
        cores = [draw(st.integers(1, min(2, n))) for n in widths[1:]]
        mapping = Mapping.from_assignment(net, cores, rng.permutation(sum(cores)))
    graph = describe(net, mapping, synapse=draw(st.sampled_from(["auto", "sparse", "dense"])))
    batch = draw(st.integers(1, 12))
    # Some entries lie outside the input range and are clipped, as by the reference.
    x = rng.integers(2 * input_lo - 5, 2 * input_hi + 5, (batch, widths[0]))
    x[rng.random(x.shape) < 0.4] = 0
    x[0] = 0  # an all-zero sample
    return graph, x


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(random_case(), min_size=6, max_size=6))
def test_random_networks_are_bit_exact_with_equal_counters(cases):
    results = run_graphs(cases, timeout_s=600)
    for (graph, x), result in zip(cases, results):
        _assert_exact(graph.network, x, result, graph)


@pytest.fixture(scope="module")
def mlp_a():
    cal = workloads.sample_inputs("mlp_a", 64, seed=1)
    net = quantize_network(workloads.float_layers("mlp_a"), cal, name="mlp_a")
    return net, net.quantize_input(workloads.sample_inputs("mlp_a", 48, seed=7))


def test_mlp_a_sparse_dense_and_sliced_match_reference_and_activity(mlp_a):
    net, x = mlp_a
    mapping = Mapping.from_assignment(net, (2, 3, 3, 1), [8, 1, 6, 2, 0, 7, 5, 3, 4])
    graphs = [
        describe(net, synapse="sparse"),
        describe(net, synapse="dense"),
        describe(net, mapping),
    ]
    kinds = [{kind for ks in g.kinds for kind in ks} for g in graphs]
    assert kinds[:2] == [{"sparse"}, {"dense"}] and graphs[2].n_processes == 1 + 2 * 9
    results = run_graphs([(g, x) for g in graphs], timeout_s=600)
    profile = activity_profile(net, x)
    for g, r in zip(graphs, results):
        _assert_exact(net, x, r, g)
        assert r.counters["spikes"] == profile.spike_counts().tolist()
        assert r.counters["synaptic_ops"] == profile.synaptic_ops(net).tolist()
        assert r.counters["timesteps"] == len(x) + net.depth


def test_run_network_contract_and_mapping_tiles(mlp_a):
    cal = workloads.sample_inputs("mlp_tiny", 32)
    net = quantize_network(workloads.float_layers("mlp_tiny"), cal)
    x = net.quantize_input(workloads.sample_inputs("mlp_tiny", 20, seed=4))
    result = run_network(net, x, timeout_s=300)
    _assert_exact(net, x, result)
    mapping = Mapping.from_assignment(net, (3, 2, 1), [5, 0, 7, 2, 9, 4])
    tiled = run_network(net, x, mapping=mapping, timeout_s=300)
    graph = describe(net, mapping)
    _assert_exact(net, x, tiled, graph)
    assert tiled.timings["n_processes"] == graph.n_processes == 1 + 2 * 6
    assert tiled.counters["messages"][1] > result.counters["messages"][1]  # spikes reach 2 slices


def test_session_streams_batches_across_ring_buffer_wraps():
    rng = np.random.default_rng(5)
    net = quantize_network(workloads.float_layers("mlp_tiny", seed=3), None)
    batches = [rng.integers(-127, 128, (n, 64)) for n in (7, 1, 13, 0, 5)]
    with LavaSession(net, rows=8, timeout_s=300) as session:
        results = [session.run(b) for b in batches]
    for b, r in zip(batches, results):
        _assert_exact(net, b, r)
    assert results[0].timings["start_s"] > 0 and results[1].timings["start_s"] == 0


def test_keep_alive_reuses_the_worker_until_closed():
    net = quantize_network(workloads.float_layers("mlp_tiny", seed=4), None)
    x = np.random.default_rng(6).integers(-127, 128, (4, 64))
    first = run_network(net, x, keep_alive=True, timeout_s=300)
    second = run_network(net, x, keep_alive=True, timeout_s=300)
    assert first.timings["start_s"] > 0 and second.timings["start_s"] == 0
    assert len(psutil.Process().children()) == 1  # the one kept worker
    _assert_exact(net, x, second)
    close_sessions()


def test_lava_actor_failure_surfaces_its_traceback_and_kills_nothing_else():
    net = quantize_network(workloads.float_layers("mlp_tiny", seed=5), None)
    x = np.ones((3, 64), np.int64)
    with LavaSession(net, timeout_s=300) as session:
        # Remove the layer-2 neuron's host buffer: its actor fails when it opens it.
        os.remove(os.path.join(session.host_buffer_dir, "L1.n0.out"))
        with pytest.raises(LavaError) as info:
            session.run(x)
    text = str(info.value)
    assert "Lava actor process tracebacks" in text
    assert "FileNotFoundError" in text and "L1.n0.out" in text


def test_timeout_kills_the_whole_process_group(mlp_a):
    net, x = mlp_a
    session = LavaSession(net, timeout_s=300)
    pgid = session._worker.pid
    members = [p for p in psutil.process_iter() if _pgid(p) == pgid]
    assert len(members) > net.depth * 2  # worker + one forked actor per Lava process
    try:
        with pytest.raises(LavaTimeoutError, match="process group"):
            session.run(np.repeat(x, 40, axis=0), timeout_s=0.5)
    finally:
        session.close()
    assert not [p for p in psutil.process_iter() if _pgid(p) == pgid]


def test_killed_worker_leaves_no_orphaned_actors():
    net = quantize_network(workloads.float_layers("mlp_tiny", seed=6), None)
    session = LavaSession(net, timeout_s=300)
    pgid = session._worker.pid
    os.kill(pgid, signal.SIGKILL)  # actors are orphaned, but still in the worker's process group
    with pytest.raises(LavaError, match="exit code"):
        session.run(np.zeros((2, 64), np.int64))
    session.close()
    assert not [p for p in psutil.process_iter() if _pgid(p) == pgid]


def _pgid(proc: psutil.Process) -> int | None:
    try:
        return os.getpgid(proc.pid)
    except (ProcessLookupError, psutil.Error):
        return None

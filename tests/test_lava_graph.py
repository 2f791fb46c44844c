"""Lava graph description, planning, wire format and reference counters (no Lava run here)."""

from __future__ import annotations

import sys
from itertools import pairwise

import numpy as np
import pytest
import scipy.sparse as sps

from tvm_loihi.lava import (
    AccumulatorOverflowError,
    LavaGraph,
    check_accumulators,
    describe,
    reference_counters,
)
from tvm_loihi.lava.protocol import decode, encode, frame, read_frame
from tvm_loihi.model.mapping import Mapping
from tvm_loihi.model.network import ACCUMULATOR_LIMIT, Layer, NetworkIR


def _net(rng, sizes=(12, 9, 7, 3), density=0.5, shift=3) -> NetworkIR:
    layers = []
    for k, (n_in, n_out) in enumerate(pairwise(sizes)):
        w = rng.integers(-128, 128, (n_out, n_in))
        w[rng.random(w.shape) >= density] = 0
        relu = k < len(sizes) - 2
        layers.append(
            Layer(
                f"fc{k}",
                sps.csr_matrix(w),
                shift,
                rng.integers(-20, 20, n_out),
                relu,
                0 if relu else -5000,
                255 if relu else 5000,
            )
        )
    return NetworkIR(tuple(layers), input_lo=0, input_hi=255, name="small")


def test_lava_package_import_does_not_import_lava():
    # Lava forces the fork start method process-wide; the TVM process must never import it.
    assert not any(m == "lava" or m.startswith("lava.") for m in sys.modules)


def test_untiled_graph_picks_sparse_by_density_and_shifts_in_the_synapse():
    net = _net(np.random.default_rng(0), density=0.2)
    g = describe(net)
    assert g.bounds == ((0, 9), (0, 7), (0, 3)) and g.cores == ((-1,), (-1,), (-1,))
    assert g.kinds == (("sparse",),) * 3 and g.to_json()["weight_exp"] == [-4, -4, -4]
    assert describe(net, synapse="dense").kinds == (("dense",),) * 3
    dense_net = _net(np.random.default_rng(0), density=1.0)
    assert describe(dense_net).kinds == (("dense",),) * 3
    assert describe(dense_net, synapse="sparse").kinds == (("sparse",),) * 3
    assert g.n_processes == 1 + 3 + 3


def test_mapping_gives_one_neuron_and_one_synapse_process_per_slice_on_its_core():
    from tvm_loihi.lava.emit import placement, process_name

    net = _net(np.random.default_rng(1), density=1.0)
    m = Mapping.from_assignment(net, (3, 2, 1), [7, 3, 11, 5, 9, 0])
    g = describe(net, m)
    assert g.cores == ((7, 3, 11), (5, 9), (0,)) and g.mapping == m.to_json()
    assert g.n_processes == 1 + 2 * 6
    # The slices' rows reassemble each layer's weights.
    for k in range(net.depth):
        rows = [g.slice_weights(k, j).toarray() for j in range(len(g.bounds[k]) - 1)]
        np.testing.assert_array_equal(np.vstack(rows), net.layers[k].weights.toarray())
    where = placement(g)
    assert len(where) == 12 and where[process_name(g, 1, "synapse", 1)] == 9
    assert placement(describe(net)) == {}


def test_all_zero_slices_keep_a_dense_synapse():
    w = np.zeros((4, 4), np.int64)
    w[0, 0] = 5  # slice 0 has one synapse, slice 1 none
    l0 = Layer("a", sps.identity(4, dtype=np.int8, format="csr"), 0, np.zeros(4), True, 0, 100)
    l1 = Layer("b", sps.csr_matrix(w), 2, np.arange(4), True, 0, 100)
    net = NetworkIR((l0, l1), input_lo=0, input_hi=100)
    g = describe(net, Mapping.from_assignment(net, (2, 2), range(4)), synapse="sparse")
    assert g.kinds[1] == ("sparse", "dense")


def test_graph_bytes_round_trip_without_pickle():
    net = _net(np.random.default_rng(2))
    g = describe(net, Mapping.from_assignment(net, (2, 2, 1), [4, 1, 2, 3, 0]), synapse="dense")
    g2 = LavaGraph.from_bytes(g.to_bytes())
    assert g2.to_json() == g.to_json() and g2.key() == g.key()
    assert g2.network.workload_key() == net.workload_key()
    assert describe(net).key() != g.key()


def test_inconsistent_descriptions_are_rejected():
    net = _net(np.random.default_rng(3))
    g = describe(net)
    with pytest.raises(ValueError, match="unknown synapse kinds"):
        LavaGraph(net, g.bounds, g.cores, (("csr",), *g.kinds[1:]))
    with pytest.raises(ValueError, match=r"slice bounds \[0, 4\] do not split 0..9"):
        LavaGraph(net, ((0, 4), *g.bounds[1:]), g.cores, g.kinds)


def test_accumulator_wrap_is_refused_with_layer_neuron_and_excess():
    layer = Layer("wide", sps.csr_matrix(np.full((64, 2), -128)), 0, np.zeros(64), True, 0, 1 << 20)
    nxt = Layer("next", sps.csr_matrix(np.full((2, 64), -128)), 0, np.zeros(2), False)
    check_accumulators(NetworkIR((layer,), input_lo=-127, input_hi=127))
    bad = NetworkIR((layer, nxt), input_lo=-127, input_hi=127)
    worst = 2 * 64 * 128 * (1 << 20)
    excess = worst - ACCUMULATOR_LIMIT
    with pytest.raises(
        AccumulatorOverflowError,
        match=f"layer 1 \\('next'\\) neuron 0: .* = {worst} .* by {excess}",
    ):
        describe(bad)


def test_protocol_frames_round_trip():
    import io

    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    blob = frame(encode({"op": "run", "id": 3}, {"x": x})) + frame(encode({"op": "close"}))
    stream = io.BytesIO(blob)
    h, a = decode(read_frame(stream))
    assert h == {"op": "run", "id": 3} and np.array_equal(a["x"], x) and a["x"].dtype == np.int32
    assert decode(read_frame(stream)) == ({"op": "close"}, {})
    assert read_frame(stream) is None


def test_reference_counters_match_the_activity_profile_and_count_messages_per_tile():
    from tvm_loihi.model.activity import activity_profile

    rng = np.random.default_rng(4)
    net = _net(rng, density=0.6)
    x = rng.integers(0, 256, (10, 12))
    x[rng.random(x.shape) < 0.5] = 0
    prof = activity_profile(net, x)
    c1 = reference_counters(describe(net), x)
    assert c1["spikes"] == prof.spike_counts().tolist()
    assert c1["synaptic_ops"] == prof.synaptic_ops(net).tolist()
    # Untiled: one message per spiking source neuron that has any synapse in the layer.
    reach = [np.diff(layer.weights.tocsc().indptr) > 0 for layer in net.layers]
    assert c1["messages"] == [int(prof.spikes[k].sum(axis=0) @ reach[k]) for k in range(net.depth)]
    c2 = reference_counters(describe(net, Mapping.from_assignment(net, (3, 2, 1), range(6))), x)
    # One message per (spiking source neuron, destination slice with a synapse from it).
    assert c2["messages"][0] >= c1["messages"][0] and c2["synaptic_ops"] == c1["synaptic_ops"]


def test_too_many_processes_are_refused_before_any_worker_starts(monkeypatch):
    import psutil

    from tvm_loihi.lava import LavaSession, runner

    net = _net(np.random.default_rng(5))
    m = Mapping.from_assignment(net, (9, 7, 3), range(19))
    monkeypatch.setattr(runner, "MAX_PROCESSES", 20)
    with pytest.raises(ValueError, match=r"39 Lava processes, over the limit of 20 \(by 19\)"):
        LavaSession(net, m)
    assert psutil.Process().children() == []

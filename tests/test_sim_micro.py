"""Hand-computed micro cases and hypothesis properties of the simulator."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sps
from _sim_workloads import activity, network
from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_loihi.model.activity import ActivityProfile
from tvm_loihi.model.hardware import HardwareSpec, get_preset
from tvm_loihi.model.mapping import Mapping, lava_default_mapping
from tvm_loihi.model.network import Layer, NetworkIR
from tvm_loihi.sim import evaluate
from tvm_loihi.sim.event import event_timeline
from tvm_loihi.sim.fast import fast_timeline
from tvm_loihi.sim.mapped import map_traffic
from tvm_loihi.sim.routing import pair_routes


def _chain(weights1: np.ndarray, weights2: np.ndarray) -> NetworkIR:
    def mk(w, name):
        return Layer(name, sps.csr_matrix(w.astype(np.int8)), 0, np.zeros(w.shape[0]), True)

    return NetworkIR((mk(weights1, "l1"), mk(weights2, "l2")))


def _one_message(core_a: int, core_b: int, hw):
    """input(1) -> l1 (1 neuron on core_a) -> l2 (1 neuron on core_b); one sample, all spiking."""
    net = _chain(np.ones((1, 1)), np.ones((1, 1)))
    act = ActivityProfile((np.ones((1, 1), bool), np.ones((1, 1), bool), np.ones((1, 1), bool)))
    m = Mapping.from_assignment(net, (1, 1), [core_a, core_b])
    return map_traffic(net, m, hw, act)


# The default calibration on 8 x 16 routers of one core each, where core ids run along the mesh
# (the hand-computed geometry below counts routers by core id).
MESH16_2CHIP = HardwareSpec("loihi2_2chip_mesh16", chips_x=2)


@pytest.mark.parametrize("preset", ["loihi2_1chip", "loihi2_1chip_mesh16"])
@pytest.mark.parametrize("d", [1, 3, 7])
def test_one_message_over_d_hops(d, preset):
    hw = get_preset(preset)
    t = hw.timing
    # core d x cores_per_router is d routers east of core 0 on row 0
    mt = _one_message(0, d * hw.cores_per_router, hw)
    barrier = t.barrier(2, 0)
    window = t.neuron_update_s + t.msg_send_s  # core a: one neuron update, one message
    # emitted at the end of the send window, d hop latencies (cut-through), whole one link service
    # later, then received (one message, one synaptic op): nothing contends, so both fidelities
    # agree exactly
    expect = window + t.link_msg_s + d * t.hop_ew_s + t.msg_recv_s + t.syn_op_s + barrier
    fast = fast_timeline(mt)
    assert fast.step_s[1] == pytest.approx(expect)
    ev = event_timeline(mt)
    assert ev.step_s[1] == pytest.approx(expect)
    assert fast.link_messages.sum() == d  # one message on each of the d east links


def test_barrier_only_timestep():
    hw = get_preset("loihi2_1chip")
    net = _chain(np.ones((1, 1)), np.ones((1, 1)))
    silent = ActivityProfile((np.zeros((1, 1), bool),) * 3)
    m = Mapping.from_assignment(net, (1, 1), [0, 5])
    for fidelity in ("fast", "event"):
        r = evaluate(net, m, hw, silent, fidelity)
        step = hw.timing.neuron_update_s + hw.timing.barrier(2, 0)
        assert r.timesteps["step_s"] == pytest.approx([step, step])
        assert r.counters["axon_out"] == 0 and r.counters["syn_ops"] == 0


def test_chip_crossing_costs_what_the_spec_says():
    hw = MESH16_2CHIP
    t, e = hw.timing, hw.energy
    on_chip = _one_message(6, 7, hw)  # (6,0) -> (7,0): one east hop on chip 0
    crossing = _one_message(7, 128, hw)  # (7,0) chip 0 -> (0,0) chip 1: one chip-to-chip hop
    f_on, f_x = fast_timeline(on_chip), fast_timeline(crossing)
    diff = t.chip_crossing_s - t.hop_ew_s + t.barrier_per_chip_hop_s
    assert f_x.step_s[1] - f_on.step_s[1] == pytest.approx(diff)
    e_on, e_x = event_timeline(on_chip), event_timeline(crossing)
    assert e_x.step_s[1] - e_on.step_s[1] == pytest.approx(diff + t.chip_link_msg_s - t.link_msg_s)
    net = _chain(np.ones((1, 1)), np.ones((1, 1)))
    act = ActivityProfile((np.ones((1, 1), bool),) * 3)
    r = evaluate(net, Mapping.from_assignment(net, (1, 1), [7, 128]), hw, act)
    assert r.counters["chip_crossings"] == 1  # chip 0 -> chip 1; host -> chip 0 counted apart
    assert r.counters["host_messages"] == 1
    # the host message takes an off-chip link too: priced like a crossing
    assert r.energy_breakdown_j["chip_crossings_j"] == pytest.approx(2 * e.chip_crossing_j)


def test_one_chip_has_no_chip_crossings_only_host_messages():
    hw = get_preset("loihi2_1chip")
    net = _chain(np.ones((1, 1)), np.ones((1, 1)))
    act = ActivityProfile((np.ones((1, 1), bool),) * 3)
    r = evaluate(net, Mapping.from_assignment(net, (1, 1), [0, 1]), hw, act)
    assert r.counters["chip_crossings"] == 0  # #15.7: host messages are not chip crossings
    assert r.counters["host_messages"] == 1


def test_two_flows_sharing_a_link_take_longer():
    hw = get_preset("loihi2_1chip_mesh16").replace_constant("timing.link_msg_s", 200e-9)
    net = _chain(np.eye(2), np.eye(2))
    # 0->3 and 1->4 share links (1,0)->(2,0)->(3,0)
    m = Mapping.from_assignment(net, (2, 2), [0, 1, 3, 4])

    def run(first, second):
        s1 = np.array([[first, second]])
        act = ActivityProfile((np.ones((1, 2), bool), s1, s1))
        return evaluate(net, m, hw, act, "event").timesteps["step_s"][1]

    both, alone_a, alone_b = run(True, True), run(True, False), run(False, True)
    assert both > max(alone_a, alone_b)


@settings(max_examples=60, deadline=None)
@given(
    x0=st.integers(0, 7),
    y0=st.integers(0, 15),
    x1=st.integers(0, 7),
    y1=st.integers(0, 15),
    dx=st.integers(0, 7),
    dy=st.integers(0, 15),
)
def test_hops_never_decrease_when_destination_moves_farther(x0, y0, x1, y1, dx, dy):
    hw = MESH16_2CHIP
    sx = 1 if x1 >= x0 else -1
    sy = 1 if y1 >= y0 else -1
    far = (min(max(x1 + sx * dx, 0), 15), min(max(y1 + sy * dy, 0), 15))
    r = pair_routes(hw, np.array([[x0, y0], [x0, y0]]), np.array([[x1, y1], list(far)]))
    hops = r.hops_ew + r.hops_ns + r.crossings
    assert hops[1] >= hops[0] and r.latency_s[1] >= r.latency_s[0] - 1e-18


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), fidelity=st.sampled_from(["fast", "event"]))
def test_latency_monotone_in_activity(seed, fidelity):
    net, full = network("mlp_tiny"), activity("mlp_tiny", 6)
    hw = get_preset("loihi2_1chip")
    rng = np.random.default_rng(seed)
    cores = (2, 3, 1)
    m = Mapping.from_assignment(net, cores, rng.permutation(128))
    less = ActivityProfile(tuple(s & (rng.random(s.shape) < 0.6) for s in full.spikes))
    lo = evaluate(net, m, hw, less, fidelity).total_latency_s
    hi = evaluate(net, m, hw, full, fidelity).total_latency_s
    assert hi >= lo * (1 - 1e-12)


def test_energy_additive_over_timesteps():
    net, full = network("mlp_tiny"), activity("mlp_tiny", 8)
    hw = get_preset("loihi2_1chip")
    m = lava_default_mapping(net, hw)
    part = [ActivityProfile(tuple(s[a:b] for s in full.spikes)) for a, b in ((0, 3), (3, 8))]
    whole = evaluate(net, m, hw, full).energy_breakdown_j
    halves = [evaluate(net, m, hw, p).energy_breakdown_j for p in part]
    for key in ("syn_ops_j", "spikes_j", "messages_j", "hops_j", "chip_crossings_j"):
        assert whole[key] == pytest.approx(halves[0][key] + halves[1][key])
    # every neuron is updated every timestep: the split run has L - 1 more (idle) timesteps
    extra = (net.depth - 1) * sum(net.layer_sizes[1:]) * hw.energy.neuron_inactive_j
    assert whole["neurons_j"] == pytest.approx(
        halves[0]["neurons_j"] + halves[1]["neurons_j"] - extra
    )


def test_measurement_json_and_counters():
    net, act = network("mlp_tiny"), activity("mlp_tiny", 8)
    hw = get_preset("loihi2_1chip_tile4")
    r = evaluate(net, lava_default_mapping(net, hw), hw, act, "event")
    d = r.to_json()
    for key in ("syn_ops", "dendrite_updates", "spikes_in", "axon_out"):
        assert isinstance(d["counters"][key], int) and d["counters"][key] > 0
    assert d["counters"]["syn_ops"] == int(act.synaptic_ops(net).sum())
    assert len(d["timesteps"]["step_s"]) == act.n_samples + net.depth - 1
    assert r.throughput_sps == pytest.approx(act.n_samples / r.total_latency_s)
    assert r.cores_used == 3 and r.chips_used == 1
    with pytest.raises(ValueError, match="fidelity"):
        evaluate(net, lava_default_mapping(net, hw), hw, act, "slow")


def test_caches_are_bounded_by_bytes():
    from dataclasses import dataclass

    from tvm_loihi.sim.traffic import LRU

    @dataclass(frozen=True)
    class Block:
        a: np.ndarray

    store = LRU(max_entries=100, max_bytes=3 * 800)
    for k in range(6):
        store.get_or_make(k, lambda: Block(np.zeros(100)))  # 800 bytes each
    assert list(store) == [3, 4, 5] and store.bytes == 3 * 800
    store.get_or_make(3, lambda: 1 / 0)  # a hit is not rebuilt, and becomes the most recent
    store.get_or_make(6, lambda: Block(np.zeros(100)))
    assert list(store) == [5, 3, 6]
    huge = LRU(max_entries=100, max_bytes=10)
    huge.get_or_make("x", lambda: Block(np.zeros(100)))
    assert list(huge) == ["x"]  # the newest entry is always kept, even alone over budget


def test_simulator_caches_are_bounded_by_bytes_counting_sparse_matrices():
    from dataclasses import dataclass

    import scipy.sparse as sps

    from tvm_loihi.model.lru import LRU, nbytes

    @dataclass(frozen=True)
    class Entry:
        dense: np.ndarray
        sparse: sps.csr_matrix

    def make(i):
        return Entry(np.zeros(100, np.float64), sps.identity(50, format="csr"))

    one = nbytes(make(0))
    assert one == 800 + 50 * 8 + 50 * 4 + 51 * 4  # dense + CSR data, indices, indptr
    lru = LRU(max_entries=100, max_bytes=3 * one)
    for i in range(5):
        lru.get_or_make(i, lambda i=i: make(i))
    assert list(lru) == [2, 3, 4] and lru.bytes == 3 * one
    lru.get_or_make(2, lambda: make(99))  # a hit moves 2 to the newest end
    lru.get_or_make(5, lambda: make(5))
    assert list(lru) == [4, 2, 5]


@pytest.mark.parametrize("name", ["mlp_a", "mlp_b2"])
def test_emission_arrays_follow_the_documented_send_window_model(name):
    """The compiled emission kernel against the module docstring's model written out in numpy on
    ``(T, P)`` arrays (the pre-kernel implementation): equal to the bit; the ``(T, P)`` views the
    event model reads are the transposes of the kept ``(P, T)`` arrays; and a train's per-message
    receive work, summed over the trains into a core, is that core's receive pipeline."""
    from tvm_loihi.model.mapping import random_valid_mappings
    from tvm_loihi.model.workloads import WORKLOADS
    from tvm_loihi.sim.partition import partition_traffic

    net, act = network(name), activity(name)
    hw = get_preset(WORKLOADS[name].hardware)
    t = hw.timing
    mappings = [lava_default_mapping(net, hw)]
    mappings += random_valid_mappings(net, hw, 2, np.random.default_rng(3), spread=1.5)
    for m in mappings:
        part = partition_traffic(net, m, hw, act)
        msgs, src = part.messages, part.pair_src  # (T, P)
        active = msgs > 0
        safe = np.where(active, msgs, 1.0)
        host = src < 0
        host_s = (msgs * host[None, :]).sum(axis=1) * t.host_link_msg_s
        window = np.where(host[None, :], host_s[:, None], part.send[:, np.maximum(src, 0)])
        entry = np.where(host, t.chip_crossing_s, 0.0)[None, :]
        head = np.where(active, window / safe + entry, np.inf)
        tail = np.where(active, window + entry, -np.inf)
        np.testing.assert_array_equal(part.host_s, host_s)
        np.testing.assert_array_equal(part.head_ready, head)
        np.testing.assert_array_equal(part.head_pt, head.T)
        np.testing.assert_array_equal(part.tail_ready, tail)
        np.testing.assert_array_equal(part.messages_pt, msgs.T)
        work = part.work_pt.T
        assert np.all(work[~active] == 0.0) and np.all(work[active] >= t.msg_recv_s)
        np.testing.assert_array_equal(part.tailw_pt, (tail + work).T)
        into = np.zeros_like(part.recv)
        for p, j in enumerate(part.pair_dst):
            into[:, j] += msgs[:, p] * work[:, p]
        np.testing.assert_allclose(into, part.recv, rtol=1e-9, atol=1e-18)
        assert part.messages_pt.flags.c_contiguous and part.head_pt.flags.c_contiguous

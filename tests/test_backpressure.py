"""Back-pressure in the event model: finite link buffers with credit flow (#13.4).

The kernel tests drive :func:`tvm_loihi.sim.kernels.link_queues_bp` on hand-made routes (link
services in arbitrary units, zero hop latency) so every figure can be computed by hand; the
workload tests check the documented relations on real mappings: a very large buffer is the
unbounded model exactly, back-pressure only delays, and the fast model stays a lower bound.
"""

from __future__ import annotations

import numpy as np
import pytest
from _sim_workloads import activity, network
from hypothesis import given, settings
from hypothesis import strategies as st

from tvm_loihi.model.activity import ActivityProfile
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import Mapping, lava_default_mapping, random_valid_mappings
from tvm_loihi.sim.event import event_timeline
from tvm_loihi.sim.fast import fast_timeline
from tvm_loihi.sim.kernels import _order, _order_from, link_queues, link_queues_bp
from tvm_loihi.sim.mapped import map_traffic

HUGE = 1e12  # a buffer no train fills


def _run(trains, routes, service, depth, sources=None):
    """Push one timestep of ``trains`` (``(n, first emission, last emission)`` per pair) along
    ``routes`` (link ids per pair). Returns (head, tail after the last link, link drain, stall)."""
    n_pairs = len(trains)
    msgs = np.array([[float(n) for n, _, _ in trains]])
    head = np.array([[a for _, a, _ in trains]], dtype=float)
    tail = np.array([[b for _, _, b in trains]], dtype=float)
    items = sorted((link, p, k) for p, r in enumerate(routes) for k, link in enumerate(r))
    pair = np.array([p for _, p, _ in items])
    link = np.array([lk for lk, _, _ in items])
    where = {(p, k): i for i, (_, p, k) in enumerate(items)}
    prev = np.array([where[(p, k - 1)] if k else -1 for _, p, k in items])
    nxt = np.array([where.get((p, k + 1), -1) for _, p, k in items])
    src = np.arange(n_pairs) if sources is None else np.asarray(sources)
    done = np.zeros(1)
    stall = np.zeros((1, int(src.max()) + 2))
    service = np.asarray(service, dtype=float)
    link_queues_bp(
        msgs,
        head,
        tail,
        pair,
        link,
        prev,
        nxt,
        src,
        service,
        np.zeros(len(service)),
        float(depth),
        32,
        1e-13,
        done,
        stall,
    )
    return head[0], tail[0], done[0], stall[0, 1:]


def test_one_saturated_link_drain_and_sender_wait():
    """100 messages emitted evenly over [1, 100] cross link 0 (1 per message) then link 1 (10 per
    message), buffers of 10. Link 1 is the bottleneck: it drains at 1 + 100 x 10 = 1001 with or
    without buffers, its last message starting at 991. With buffers the last message may reach
    link 1 only when message 89 starts there (1 + 89 x 10 = 891), so it leaves link 0 at 892;
    link 0's messages are a fluid from its first start (1) to its last (891), so message 89 starts
    there at 1 + 89/99 x 890, and the sender may emit its last message only then: it waits that
    minus 100. Without buffers it never waits."""
    args = ([(100, 1.0, 100.0)], [[0, 1]], [1.0, 10.0])
    _, b, done, stall = _run(*args, depth=10)
    assert done == pytest.approx(1001.0)
    assert b[0] == pytest.approx(991.0)
    assert stall[0] == pytest.approx(1 + 89 / 99 * 890 - 100)
    _, b, done, stall = _run(*args, depth=HUGE)
    assert (done, b[0], stall[0]) == (pytest.approx(1001.0), pytest.approx(991.0), 0.0)


def test_two_merging_flows_both_slowed_total_is_the_sum_of_service_times():
    """Two senders each emit 50 messages over [0.5, 25] (twice the link rate) into their own link,
    merging onto link 2 (1 per message). Link 2 serves the 100 messages back to back from the first
    arrival: total 0.5 + 100 x 1; both flows finish there (their last messages start at 99.5), and
    with small buffers both senders wait, equally (the flows are symmetric)."""
    trains = [(50, 0.5, 25.0), (50, 0.5, 25.0)]
    routes = [[0, 2], [1, 2]]
    for depth in (2, 8, HUGE):
        _, b, done, stall = _run(trains, routes, [1.0, 1.0, 1.0], depth)
        assert done == pytest.approx(0.5 + 100.0)
        assert b == pytest.approx([99.5, 99.5])
        if depth == HUGE:
            assert (stall == 0).all()
        else:
            assert stall[0] > 40 and stall[0] == pytest.approx(stall[1])
    # a smaller buffer makes the senders wait longer
    assert _run(trains, routes, [1.0] * 3, 2)[3][0] > _run(trains, routes, [1.0] * 3, 8)[3][0]


def test_blocked_flow_delays_a_flow_behind_it_that_turns_onto_a_free_link():
    """Flow A (100 messages over [1, 100]) crosses link 0 then the slow link 1 (10 per message);
    flow B (5 messages over [101, 105]) crosses link 0 then the free link 2. With buffers of 10,
    A's messages fill link 0's downstream buffer from its first arrival there until its last
    crosses link 0 (891, see the first test), leaving it one per 10 (link 1's pace), so B's first
    message, arriving at 101, waits behind the 10 ahead of it: it reaches link 2 at 101 + 10 x 10
    (head-of-line blocking), although link 2 is free. With large buffers B passes at once."""
    trains = [(100, 1.0, 100.0), (5, 101.0, 105.0)]
    routes = [[0, 1], [0, 2]]
    service = [1.0, 10.0, 1.0]
    h, b, _, _ = _run(trains, routes, service, 10)
    assert h[1] == pytest.approx(101.0 + 10 * 10.0)
    assert b[1] >= 105.0 + 10 * 10.0
    h, b, _, _ = _run(trains, routes, service, 2)
    assert h[1] == pytest.approx(101.0 + 2 * 10.0)
    h, b, _, _ = _run(trains, routes, service, HUGE)
    assert h[1] == pytest.approx(101.0) and b[1] == pytest.approx(105.0)
    # B alone is not delayed by small buffers: the delay is A's
    h, b, _, _ = _run(trains[1:], routes[1:], service, 10)
    assert h[0] == pytest.approx(101.0) and b[0] == pytest.approx(105.0)


def _short(name: str, n: int) -> ActivityProfile:
    return ActivityProfile(tuple(s[:n] for s in activity(name).spikes))


def host_saturated_mapping(net, hw) -> Mapping:
    """mlp_a with layer 0 at the east end of router row 0 and layer 1 west of it sending to layer 2
    in the east columns: the host's input and layer 1's output share row 0's east links (the
    host port waits up to 1.4 us per timestep with 2-message buffers)."""
    cpl = lava_default_mapping(net, hw).cores_per_layer

    def cores(routers):
        return [4 * (y * hw.routers_x + x) + s for x, y in routers for s in range(4)]

    ids = (
        cores([(5, 0), (6, 0), (7, 0)])[: cpl[0]]
        + cores([(x, 0) for x in range(5)])[: cpl[1]]
        + cores([(x, y) for x in (7, 6) for y in (1, 2, 3)])[: cpl[2]]
        + cores([(0, 3)])[: cpl[3]]
    )
    m = Mapping.from_assignment(net, cpl, ids)
    m.validate(net, hw)
    return m


def _mappings():
    net = network("mlp_a")
    hw = get_preset("loihi2_1chip")
    ms = [lava_default_mapping(net, hw), host_saturated_mapping(net, hw)]
    return net, hw, ms + random_valid_mappings(net, hw, 4, np.random.default_rng(3))


def test_very_large_buffer_is_the_unbounded_model_exactly():
    net, hw, ms = _mappings()
    act = _short("mlp_a", 8)
    unbounded = hw.replace_constant("timing.link_buffer_msgs", 0)
    huge = hw.replace_constant("timing.link_buffer_msgs", 10**12)
    for m in ms:
        a = event_timeline(map_traffic(net, m, unbounded, act))
        b = event_timeline(map_traffic(net, m, huge, act))
        for name in ("step_s", "compute_s", "link_s", "flight_s"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
    # the v0 presets keep the unbounded model
    assert get_preset("loihi2_1chip_v0").timing.link_buffer_msgs == 0
    assert link_queues is not link_queues_bp


def test_fast_stays_a_lower_bound_with_backpressure():
    """Per timestep, the fast model is below the event model at every buffer depth (each fast term
    bounds the event model's: a wait only delays the waiting message itself). Back-pressure is not
    monotone for everyone else: a blocked train's messages wait upstream, which can let other
    trains through a downstream queue a little earlier, so a timestep may come out marginally
    earlier than with unbounded buffers; the totals never fall by more than that. On the
    host-saturated mapping the NoC drain grows markedly with a small buffer."""
    net, hw, ms = _mappings()
    act = _short("mlp_a", 8)
    tol = 1e-12
    unbounded = hw.replace_constant("timing.link_buffer_msgs", 0)
    for m in ms:
        free = event_timeline(map_traffic(net, m, unbounded, act))
        for depth in (1, 2, 8):
            small = hw.replace_constant("timing.link_buffer_msgs", depth)
            f = fast_timeline(map_traffic(net, m, small, act))
            held = event_timeline(map_traffic(net, m, small, act))
            assert (f.step_s <= free.step_s + tol).all()
            assert (f.step_s <= held.step_s + tol).all()
            assert held.step_s.sum() >= free.step_s.sum() * (1 - 1e-3)
    # on the host-saturated mapping the host port and layer 1's senders wait, but every timestep
    # is bound by its slowest receive pipeline, so the total hardly moves (docs/simulator.md)
    sat = ms[1]
    free = event_timeline(map_traffic(net, sat, unbounded, act)).step_s
    held = event_timeline(
        map_traffic(net, sat, hw.replace_constant("timing.link_buffer_msgs", 2), act)
    ).step_s
    assert (held != free).any()
    assert abs(held.sum() / free.sum() - 1) < 1e-3


def _kernel_outputs(kernel, mt):
    """Run a back-pressure link kernel on ``mt`` as :func:`event_timeline` does; its outputs."""
    from tvm_loihi.sim.event import MAX_ITER, TOL_REL, _items, _link_tables

    part = mt.part
    wave, lat = _link_tables(mt)
    pair, links, _, prev, nxt = _items(mt, wave)
    head, tail = part.head_ready.copy(), part.tail_ready.copy()
    done = np.zeros(part.n_timesteps)
    stall = np.zeros((part.n_timesteps, part.send.shape[1] + 1))
    depth = float(mt.hardware.timing.link_buffer_msgs)
    kernel(
        part.messages, head, tail, pair, links, prev, nxt, part.pair_src,
        mt.geo.service_s, lat, depth, MAX_ITER, TOL_REL, done, stall,
    )  # fmt: skip
    return head, tail, done, stall


def test_kernel_matches_the_slow_reference_bit_for_bit():
    """The compiled kernel re-uses a link's solve across fixed-point passes where its trains'
    arrivals did not change and sorts from the last order: the result must be exactly that of the
    kernel that solves every link every pass (``_bp_reference``), on one chip (Lava default,
    host-saturated, random; depths 2 and 8) and on two chips, where chip links saturate and every
    timestep takes all passes."""
    from _bp_reference import link_queues_bp_reference

    net, hw, ms = _mappings()
    cases = [(net, m, hw.replace_constant("timing.link_buffer_msgs", d), _short("mlp_a", 8))
             for m in ms[:3] for d in (2, 8)]  # fmt: skip
    net2, hw2 = network("mlp_b2"), get_preset("loihi2_2chip")
    ms2 = [lava_default_mapping(net2, hw2)]
    ms2 += random_valid_mappings(net2, hw2, 2, np.random.default_rng(5))
    cases += [(net2, m, hw2, _short("mlp_b2", 6)) for m in ms2]
    blocked = 0
    for n, m, h, act in cases:
        mt = map_traffic(n, m, h, act)
        new = _kernel_outputs(link_queues_bp, mt)
        ref = _kernel_outputs(link_queues_bp_reference, mt)
        for a, b in zip(new, ref, strict=True):
            assert np.array_equal(a, b)
        blocked += int((ref[3] > 0).any())
    assert blocked >= 3  # the cases exercise back-pressure, not only free-flowing links


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 12), min_size=1, max_size=90),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_seeded_sort_is_the_plain_sort(values, seed, nearly):
    """The merge sort seeded with an earlier order (``_order_from``) gives exactly ``_order``'s
    permutation (ascending, ties by index: the kernel's results depend on it) from any seed order,
    shuffled or nearly sorted, with many ties; it refuses NaN keys."""
    rng = np.random.default_rng(seed)
    keys = np.array(values, dtype=float)
    m = len(keys)
    prev = np.argsort(keys + rng.normal(0, 0.5, m), kind="stable") if nearly else rng.permutation(m)
    out, tmp, ref = (np.empty(m, dtype=np.int64) for _ in range(3))
    assert _order_from(keys, m, prev, out, tmp)
    _order(keys, m, ref, tmp)
    assert np.array_equal(out, ref)
    assert np.array_equal(ref, np.argsort(keys, kind="stable"))
    keys[rng.integers(m)] = np.nan
    assert not _order_from(keys, m, prev, out, tmp)

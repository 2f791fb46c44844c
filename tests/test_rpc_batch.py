"""Batched measurement over a real tracker and real hosts on 127.0.0.1 (issue #15.5): a batch gives
the figures single requests give, a seeded tune stays reproducible with batching, each batch item
has its own result, and an oversized batch is refused."""

from __future__ import annotations

import json

from _sim_workloads import activity, network

from tvm_loihi.measure import backend
from tvm_loihi.measure.payload import (
    MAX_BATCH_BYTES,
    MAX_BATCH_ITEMS,
    MeasureRequest,
    UploadPayload,
    batch_to_text,
)
from tvm_loihi.measure.records import MeasureError, MeasureInput, MeasureResult
from tvm_loihi.measure.rpc_runner import RPCRunner
from tvm_loihi.model.hardware import CoreLimits, HardwareSpec, get_preset
from tvm_loihi.model.mapping import Mapping, lava_default_mapping
from tvm_loihi.search import get_strategy
from tvm_loihi.search.problem import MappingProblem
from tvm_loihi.tuning import tune

HW = get_preset("loihi2_1chip")
# batch_target_s this large makes every batch as full as the queue allows, whatever the timing
FORCE = {"batch": 6, "batch_target_s": 100.0}


def _mappings(net, act, n: int) -> list[dict]:
    problem = MappingProblem(net, HW, act)
    strategy = get_strategy("random")(problem.space, budget=n, seed=5)
    out: dict[str, dict] = {}
    while len(out) < n:
        m = problem.decode(strategy.ask()).to_json()
        out.setdefault(json.dumps(m, sort_keys=True), m)
    return list(out.values())


def _same(a: MeasureResult, b: MeasureResult) -> bool:
    return (a.error, a.latency_s, a.energy_j, a.counters) == (
        b.error,
        b.latency_s,
        b.energy_j,
        b.counters,
    )


def test_batched_results_equal_unbatched_and_local(farm):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    inputs = [
        MeasureInput(net.workload_key(), HW.key(), m, "fast", act.key())
        for m in _mappings(net, act, 30)
    ]
    got = {}
    for name, kwargs in (("single", {"batch": 1}), ("batched", FORCE)):
        with RPCRunner(*farm.tracker_addr, key=farm.key, **kwargs) as runner:
            runner.register(net, HW, act)
            got[name] = [f.result(timeout=300) for f in runner.submit(inputs)]
            stats = runner.host_stats()
        calls = sum(s["calls"] for s in stats.values())
        assert sum(s["measured"] for s in stats.values()) == len(inputs)
        assert all(s["overhead_ms"] >= 0 and s["rpc_s"] >= s["host_s"] for s in stats.values())
        if name == "single":
            assert calls == len(inputs) and runner.n_parallel == 2
        else:  # all 30 queued at once: batches of up to 6
            assert calls < len(inputs) and runner.n_parallel == 2 * FORCE["batch"], stats
            assert max(s["mean_batch"] for s in stats.values()) > 1
    assert all(r.ok for r in got["batched"]), [r.message for r in got["batched"] if not r.ok]
    for inp, single, batched in zip(inputs, got["single"], got["batched"]):
        assert _same(single, batched)
        assert _same(batched, backend.measure(net, HW, act, inp.mapping, "fast"))


def test_seeded_tune_over_two_hosts_is_reproducible_with_batching(farm):
    net, act = network("mlp_b"), activity("mlp_b")
    runs = []
    for _ in range(2):
        with RPCRunner(*farm.tracker_addr, key=farm.key, **FORCE) as runner:
            runs.append(
                tune(
                    net,
                    HW,
                    runner=runner,
                    strategy="bilevel",
                    budget=60,
                    seed=11,
                    activity=act,
                    fidelity="fast",
                )
            )
            assert runner.n_parallel == 12
    a, b = runs
    assert a.values == b.values
    assert a.best_mapping.to_json() == b.best_mapping.to_json()
    assert sum(h["calls"] for h in a.hosts.values()) < sum(h["measured"] for h in a.hosts.values())


def test_batch_item_with_bad_mapping_gets_its_own_error(farm, session):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    small = HardwareSpec(
        name="small_cores", routers_x=4, routers_y=4, limits=CoreLimits(max_neurons=64)
    )
    session["upload"](UploadPayload(net, small, act).to_bytes())
    good = [
        Mapping.from_assignment(net, (2, 2, 1), range(5)).to_json(),
        Mapping.from_assignment(net, (2, 2, 2), range(6)).to_json(),
    ]
    too_full = Mapping.from_assignment(net, (1, 1, 1), range(3)).to_json()
    reqs = [
        MeasureRequest(net.workload_key(), small.key(), m, "fast", 30.0)
        for m in (good[0], too_full, good[1])
    ]
    batch = json.loads(batch_to_text(reqs, 30.0))
    batch["requests"].insert(1, {"v": 1, "workload_key": "x"})  # breaks the request schema
    reply = json.loads(session["measure_batch"](json.dumps(batch)))
    assert reply["ok"] and reply["wall_s"] > 0, reply
    results = [MeasureResult.from_json(r) for r in reply["results"]]
    assert [r.error for r in results] == [
        MeasureError.NO_ERROR,
        MeasureError.BAD_PAYLOAD,
        MeasureError.INVALID_MAPPING,
        MeasureError.NO_ERROR,
    ]
    assert "batch item 1" in results[1].message and "fields" in results[1].message
    assert "neuron" in results[2].message.lower(), results[2].message
    for r, m in zip((results[0], results[3]), good):
        assert _same(r, backend.measure(net, small, act, m, "fast"))
    # the same through the runner: the infeasible candidate fails alone, the others succeed
    with RPCRunner(*farm.tracker_addr, key=farm.key, **FORCE) as runner:
        runner.register(net, small, act)
        inputs = [
            MeasureInput(net.workload_key(), small.key(), m, "fast", act.key())
            for m in (good[0], too_full, good[1])
        ]
        warm = [f.result(timeout=300) for f in runner.submit(inputs[::2] * 2)]  # EWMAs known
        calls = sum(s["calls"] for s in runner.host_stats().values())
        out = [f.result(timeout=300) for f in runner.submit(inputs)]
        stats = runner.host_stats()
    assert all(r.ok for r in warm)
    assert sum(s["calls"] for s in stats.values()) - calls < 3, stats  # batched
    assert [r.error for r in out] == [
        MeasureError.NO_ERROR,
        MeasureError.INVALID_MAPPING,
        MeasureError.NO_ERROR,
    ], [r.message for r in out]


def test_oversized_or_malformed_batch_is_refused_and_host_keeps_serving(session):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    session["upload"](UploadPayload(net, HW, act).to_bytes())
    req = MeasureRequest(
        net.workload_key(), HW.key(), lava_default_mapping(net, HW).to_json(), "fast", 30.0
    )
    assert json.loads(session["version"]())["max_batch"] == MAX_BATCH_ITEMS
    cases = {
        batch_to_text([req] * (MAX_BATCH_ITEMS + 1), 30.0): "over the host's limit of 64",
        "x" * (MAX_BATCH_BYTES + 1): "over the host's limit",
        "{not json": "not JSON",
        json.dumps([req.to_json()]): "must be an object",
        json.dumps({"v": 1, "budget_s": 30.0, "requests": []}): "non-empty",
        json.dumps({"v": 1, "budget_s": -1, "requests": [req.to_json()]}): "budget_s",
    }
    for text, expected in cases.items():
        reply = json.loads(session["measure_batch"](text))
        assert reply["ok"] is False and reply["error"] == "bad_payload", (text[:40], reply)
        assert expected in reply["message"], (text[:40], reply["message"])
    reply = json.loads(session["measure_batch"](batch_to_text([req] * MAX_BATCH_ITEMS, 300.0)))
    assert reply["ok"] and len(reply["results"]) == MAX_BATCH_ITEMS
    assert all(MeasureResult.from_json(r).ok for r in reply["results"])


def test_items_not_started_within_the_budget_are_left_out(session):
    net, act = network("mlp_a"), activity("mlp_a")
    session["upload"](UploadPayload(net, HW, act).to_bytes())
    req = MeasureRequest(
        net.workload_key(), HW.key(), lava_default_mapping(net, HW).to_json(), "event", 60.0
    )
    reply = json.loads(session["measure_batch"](batch_to_text([req] * 5, 1e-3)))
    assert reply["ok"] and len(reply["results"]) == 1  # the first always runs, then out of time

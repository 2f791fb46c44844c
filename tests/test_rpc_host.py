"""A real tracker and two real measurement hosts on 127.0.0.1: what a host answers to good and bad
requests, crash hardening, and requests that must not block. Every process is stopped by the
fixture, also on failure."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import psutil
import pytest
from _sim_workloads import activity, network

from tvm_loihi.measure import backend
from tvm_loihi.measure.payload import MAX_REQUEST_BYTES, MeasureRequest, UploadPayload
from tvm_loihi.measure.records import MeasureError, MeasureInput, MeasureResult
from tvm_loihi.measure.rpc_runner import (
    HostUnavailable,
    NoHostForKey,
    RPCRunner,
    request_session,
)
from tvm_loihi.measure.tracker import (
    free_port,
    hosts_for_key,
    query_summary,
    start_host,
    wait_for_hosts,
)
from tvm_loihi.model.hardware import CoreLimits, HardwareSpec, get_preset
from tvm_loihi.model.mapping import Mapping, lava_default_mapping

HW = get_preset("loihi2_1chip")


def _request(net, hw, mapping: dict, fidelity: str = "fast", timeout_s: float = 30.0) -> str:
    return MeasureRequest(net.workload_key(), hw.key(), mapping, fidelity, timeout_s).to_text()


def _measure(funcs, text: str) -> MeasureResult:
    return MeasureResult.from_json(json.loads(funcs["measure"](text)))


def _assert_serving(funcs) -> None:
    assert json.loads(funcs["version"]())["protocol"] == 1


def test_upload_once_then_measure_matches_local(session):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    assert session["has"](net.workload_key(), HW.key()) == "0"
    reply = json.loads(session["upload"](UploadPayload(net, HW, act).to_bytes()))
    assert reply["ok"] and reply["workload_key"] == net.workload_key()
    assert session["has"](net.workload_key(), HW.key()) == "1"
    mapping = lava_default_mapping(net, HW).to_json()
    for fidelity in ("fast", "event"):
        remote = _measure(session, _request(net, HW, mapping, fidelity))
        local = backend.measure(net, HW, act, mapping, fidelity)
        assert remote.ok, remote.message
        assert remote.latency_s == local.latency_s and remote.energy_j == local.energy_j
        assert remote.host.startswith("127.0.0.1:") and remote.wall_s > 0


def test_bad_payloads_are_error_results_and_host_keeps_serving(session):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    session["upload"](UploadPayload(net, HW, act).to_bytes())
    mapping = lava_default_mapping(net, HW).to_json()
    cases = {
        "{not json": "not JSON",
        json.dumps([1, 2]): "JSON object",
        json.dumps({"v": 1, "workload_key": "x"}): "fields",
        _request(net, HW, mapping, fidelity="exact"): "fidelities",
        _request(net, HW, mapping)[:-1] + ',"extra":1}': "fields",
        "x" * (MAX_REQUEST_BYTES + 1): "over the host's limit",
    }
    for text, expected in cases.items():
        res = _measure(session, text)
        assert res.error is MeasureError.BAD_PAYLOAD, (text[:40], res.message)
        assert expected in res.message, (text[:40], res.message)
        _assert_serving(session)
    unknown = MeasureRequest("0" * 16, HW.key(), mapping, "fast", 5.0).to_text()
    assert _measure(session, unknown).error is MeasureError.UNKNOWN_WORKLOAD
    truncated = UploadPayload(net, HW, act).to_bytes()[:500]
    for blob in (b"garbage", b"PK\x03\x04" + b"\x00" * 100, truncated):
        reply = json.loads(session["upload"](blob))
        assert not reply["ok"] and reply["error"] == "bad_payload", reply
    assert _measure(session, _request(net, HW, mapping)).ok  # the earlier upload is still there


def test_over_limit_mapping_is_invalid_mapping_naming_the_limit(session):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    small = HardwareSpec(
        name="small_cores", routers_x=4, routers_y=4, limits=CoreLimits(max_neurons=64)
    )
    session["upload"](UploadPayload(net, small, act).to_bytes())
    one_core_per_layer = Mapping.from_assignment(net, (1, 1, 1), range(3)).to_json()
    res = _measure(session, _request(net, small, one_core_per_layer))
    assert res.error is MeasureError.INVALID_MAPPING, res.message
    assert "neuron" in res.message.lower(), res.message
    missing_core = Mapping.from_assignment(net, (1, 1, 1), (0, 1, 999)).to_json()
    res = _measure(session, _request(net, small, missing_core))
    assert res.error is MeasureError.INVALID_MAPPING
    garbage_mapping = {"version": 1, "bounds": "nope"}
    res = _measure(session, _request(net, small, garbage_mapping))
    assert res.error is MeasureError.INVALID_MAPPING
    _assert_serving(session)


def test_crashed_session_host_reregisters_and_serves(farm):
    sess = request_session(farm.tracker_addr, farm.key, session_timeout_s=60, timeout_s=30)
    info = json.loads(sess.get_function("tvm_loihi.remote.version")())
    psutil.Process(info["pid"]).kill()  # the session process dies mid-session (as a segfault would)
    # TVM reports the dead peer as kShutdown, a broken/reset socket, or a failed RPCCode check
    # (timing-dependent): all are RuntimeErrors from the RPC layer.
    with pytest.raises(RuntimeError, match=r"(?i)shutdown|reset|broken|closed|error|RPCCode"):
        sess.get_function("tvm_loihi.remote.version")()
    del sess
    crashed = info["host"]
    deadline = time.monotonic() + 30
    while crashed not in hosts_for_key(query_summary(*farm.tracker_addr)):
        assert time.monotonic() < deadline, "crashed host never re-registered (listen thread died?)"
        time.sleep(0.2)
    seen = set()
    for _ in range(4):  # both hosts, including the crashed one, hand out working sessions
        sess = request_session(farm.tracker_addr, farm.key, session_timeout_s=60, timeout_s=30)
        seen.add(json.loads(sess.get_function("tvm_loihi.remote.version")())["host"])
        del sess
        if crashed in seen:
            break
    assert crashed in seen


def test_requests_never_block(farm):
    start = time.monotonic()
    with pytest.raises(NoHostForKey):
        request_session(farm.tracker_addr, "loihi3", session_timeout_s=10, timeout_s=5)
    with pytest.raises(NoHostForKey):
        RPCRunner(*farm.tracker_addr, key="loihi3")
    with pytest.raises(HostUnavailable, match="unreachable"):
        RPCRunner("127.0.0.1", free_port())  # nobody listens there
    # hold both hosts: the next request must time out, not block
    held = [request_session(farm.tracker_addr, farm.key, 60, 30) for _ in range(2)]
    try:
        t0 = time.monotonic()
        with pytest.raises(Exception, match="no free host"):
            request_session(farm.tracker_addr, farm.key, session_timeout_s=10, timeout_s=1.5)
        assert time.monotonic() - t0 < 20  # bounded by its time-out, not blocked forever
    finally:
        del held
    wait_for_hosts(*farm.tracker_addr, farm.key, 2)
    deadline = time.monotonic() + 20
    while query_summary(*farm.tracker_addr)["queue_info"][farm.key]["free"] < 2:
        assert time.monotonic() < deadline, "hosts not released after the sessions were dropped"
        time.sleep(0.2)
    assert time.monotonic() - start < 120


def test_measure_timeout_is_enforced_by_host(session):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    session["upload"](UploadPayload(net, HW, act).to_bytes())
    mapping = Mapping.from_assignment(net, (8, 8, 2), np.arange(18)).to_json()
    res = _measure(session, _request(net, HW, mapping, "event", timeout_s=1e-6))
    assert res.error is MeasureError.TIMEOUT and "limit" in res.message
    assert _measure(session, _request(net, HW, mapping, "event")).ok
    _assert_serving(session)


def test_inputs_round_trip_through_runner_keys(farm):
    # MeasureInput's key is what the log caches on; the runner must return results in submission
    # order.
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    mappings = [
        Mapping.from_assignment(net, (c, c, 1), np.arange(2 * c + 1)).to_json()
        for c in (1, 2, 3, 4)
    ]
    inputs = [MeasureInput(net.workload_key(), HW.key(), m, "fast") for m in mappings]
    with RPCRunner(*farm.tracker_addr, key=farm.key, timeout_s=30, idle_release_s=1.0) as runner:
        runner.register(net, HW, act)
        results = [f.result(timeout=120) for f in runner.submit(inputs)]
    local = [backend.measure(net, HW, act, i.mapping, "fast") for i in inputs]
    assert [r.latency_s for r in results] == [r.latency_s for r in local]


def test_host_launcher_killed_leaves_no_orphan(farm):
    # SIGKILL to the launcher only (not its group): the listen process must not linger and serve on
    proc = start_host(farm.tracker_addr, farm.key, log_dir=farm.log_dir)
    try:
        addr = f"127.0.0.1:{proc.port}"
        deadline = time.monotonic() + 60
        while addr not in hosts_for_key(query_summary(*farm.tracker_addr), farm.key):
            assert time.monotonic() < deadline, "extra host never registered"
            time.sleep(0.2)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children
        os.kill(proc.pid, signal.SIGKILL)
        proc.popen.wait(10)
        _, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, [p.cmdline() for p in alive]
        while addr in hosts_for_key(query_summary(*farm.tracker_addr), farm.key):
            assert time.monotonic() < deadline + 30, "tracker still lists the dead host"
            time.sleep(0.2)
    finally:
        proc.kill()


def test_runner_config_is_one_value_with_its_fields_readable(farm):
    from tvm_loihi.measure.rpc_runner import RPCConfig

    with pytest.raises(ValueError, match="batch must be >= 1"):
        RPCConfig(batch=0)
    config = RPCConfig(timeout_s=7, batch=2)
    assert (config.measure_deadline_s, config.batch_deadline_s) == (17.0, 24.0)
    with RPCRunner(*farm.tracker_addr, key=farm.key, config=config, max_attempts=5) as runner:
        assert runner.config == RPCConfig(timeout_s=7, batch=2, max_attempts=5)
        # what code that only knows "a runner" reads (tuning.confirm): the config's fields
        assert (runner.timeout_s, runner.batch, runner.max_attempts) == (7.0, 2, 5)
        assert runner.n_parallel == 2 * runner.n_workers
    with pytest.raises(TypeError):
        RPCRunner(*farm.tracker_addr, key=farm.key, not_a_field=1)

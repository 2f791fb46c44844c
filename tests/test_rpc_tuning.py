"""Tuning runs in the loop on a real tracker with three real hosts: every host used, a host killed
mid-run (the run finishes on the others; no measurement lost or duplicated in the log), and the
local pool runner."""

from __future__ import annotations

import collections
import time

import psutil
from _sim_workloads import activity, network

from tvm_loihi.measure import backend
from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.pool_runner import PoolRunner
from tvm_loihi.measure.records import MeasureInput
from tvm_loihi.measure.rpc_runner import RPCRunner
from tvm_loihi.measure.tracker import LocalFarm, hosts_for_key
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import lava_default_mapping
from tvm_loihi.tuning import tune

HW = get_preset("loihi2_1chip")
WORKLOAD = "mlp_a"  # big enough that measurements overlap in flight on three hosts
FIDELITY = "event"  # measurements long enough that all three hosts overlap


FARM_HOSTS = 3  # the conftest farm's size


def _check_log(path, result) -> list:
    records = TuningLog(path).records()
    keys = [r.input.key() for r in records]
    assert len(keys) == len(set(keys)), "a candidate was measured (logged) twice"
    assert len(records) == result.evaluations - result.cache_hits, "a measurement is not logged"
    assert all(r.result.ok for r in records), [r.result.message for r in records if not r.result.ok]
    return records


def test_tuning_run_uses_every_host(farm, tmp_path):
    net, act = network(WORKLOAD), activity(WORKLOAD)
    log = tmp_path / "tune.jsonl"
    with RPCRunner(*farm.tracker_addr, key=farm.key, timeout_s=60) as runner:
        assert runner.n_parallel == 3 * runner.batch and runner.n_workers == 3
        result = tune(
            net,
            HW,
            runner=runner,
            strategy="random",
            budget=45,
            seed=3,
            activity=act,
            fidelity=FIDELITY,
            log=str(log),
        )
    assert result.evaluations == 45
    records = _check_log(log, result)
    served = collections.Counter(r.result.host for r in records)
    assert set(served) == set(hosts_for_key(farm.summary(), farm.key)), served
    # the figures are the shared backend's, whichever host measured them
    sample = records[7]
    local = backend.measure(net, HW, act, sample.input.mapping, FIDELITY)
    assert sample.result.latency_s == local.latency_s


def test_seeded_search_is_reproducible_over_rpc(farm):
    """Results are told in submission order, so the hosts' relative speed cannot change what the
    strategy asks next: two runs with one seed give the same sequence (issue #15.4)."""
    net, act = network("mlp_b"), activity("mlp_b")
    runs = []
    for _ in range(2):
        with RPCRunner(*farm.tracker_addr, key=farm.key, timeout_s=60) as runner:
            res = tune(
                net,
                HW,
                runner=runner,
                strategy="bilevel",
                budget=60,
                seed=11,
                activity=act,
                fidelity="fast",
            )
        runs.append(res)
    a, b = runs
    assert a.values == b.values
    assert a.best_mapping.to_json() == b.best_mapping.to_json()
    assert a.best_result.latency_s == b.best_result.latency_s


def test_host_killed_mid_run(tmp_path):
    net, act = network(WORKLOAD), activity(WORKLOAD)
    log = tmp_path / "tune.jsonl"
    with LocalFarm(n_hosts=3) as farm:
        victim = farm.hosts[0]
        victim_addr = f"127.0.0.1:{victim.port}"
        killed_at = []

        def kill_first_host(progress: dict) -> None:
            # once host 0 has measured, kill it while the runner keeps all three busy (SIGKILL to
            # its process group)
            if killed_at or progress["evaluations"] < 10:
                return
            logged_hosts = [r.result.host for r in TuningLog(log).records()]
            if victim_addr in logged_hosts:
                assert any(
                    "popen_worker" in " ".join(c.cmdline())
                    for c in psutil.Process(victim.pid).children(recursive=True)
                )
                victim.kill()
                killed_at.append(time.time())

        with RPCRunner(*farm.tracker_addr, key=farm.key, timeout_s=60, max_attempts=3) as runner:
            result = tune(
                net,
                HW,
                runner=runner,
                strategy="random",
                budget=45,
                seed=4,
                activity=act,
                fidelity=FIDELITY,
                log=str(log),
                callback=kill_first_host,
            )
        assert killed_at and not victim.alive()
        assert victim_addr not in hosts_for_key(farm.summary(), farm.key)
    assert result.evaluations == 45 and result.stop_reason == "budget"
    records = _check_log(log, result)
    # Results carry the host's own production timestamp: the victim produced nothing after it died,
    # and the other two hosts carried the run on.
    hosts = [r.result.host for r in records]
    after = {r.result.host for r in records if r.result.timestamp > killed_at[0]}
    assert victim_addr in hosts
    assert all(r.result.timestamp <= killed_at[0] for r in records if r.result.host == victim_addr)
    assert victim_addr not in after and len(after) == 2, after


def test_pool_runner_matches_local_and_survives_worker_death(tmp_path):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    mapping = lava_default_mapping(net, HW).to_json()
    inp = MeasureInput(net.workload_key(), HW.key(), mapping, FIDELITY)
    with PoolRunner(n_workers=2, timeout_s=30) as pool:
        pool.register(net, HW, act)
        first = pool.submit([inp, inp])
        expected = backend.measure(net, HW, act, mapping, FIDELITY).latency_s
        assert all(f.result(timeout=120).latency_s == expected for f in first)
        workers = [
            c
            for c in psutil.Process().children(recursive=True)
            if "popen_worker" in " ".join(c.cmdline())
        ]
        assert workers
        for w in workers:
            w.kill()
            w.wait(10)
        again = [f.result(timeout=120) for f in pool.submit([inp] * 3)]
        assert all(r.ok for r in again), [r.message for r in again]
        assert all(r.host.startswith("local-pool:") for r in again)
    unknown = MeasureInput("f" * 16, HW.key(), mapping, FIDELITY)
    with PoolRunner(n_workers=1) as pool:
        assert pool.submit([unknown])[0].result().error.value == "unknown_workload"

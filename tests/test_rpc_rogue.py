"""A rogue host on a real tracker (issue #11 item 3): a real ``tvm_loihi.rpc_server`` host whose
backend lies (``tests/_rogue_host.py``, test-only) next to an honest one. Its fabricated results
never become the best, and the run reports which host measured what."""

from __future__ import annotations

import os
import sys

import pytest
from _sim_workloads import activity, network

from tvm_loihi.measure import backend
from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.records import MeasureError
from tvm_loihi.measure.rpc_runner import RPCRunner
from tvm_loihi.measure.tracker import (
    LocalFarm,
    _finish_host_start,
    _spawn,
    free_port,
    wait_for_hosts,
)
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.tuning import tune

HW = get_preset("loihi2_1chip")
ROGUE = os.path.join(os.path.dirname(__file__), "_rogue_host.py")


def _start_rogue(farm, factor: str, monkeypatch):
    monkeypatch.setenv("ROGUE_FACTOR", factor)
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.path.dirname(ROGUE) + (os.pathsep + path if path else ""))
    port = free_port()
    proc = _spawn(
        f"rogue-{port}",
        [
            sys.executable,
            ROGUE,
            "--tracker",
            f"{farm.tracker_addr[0]}:{farm.tracker_addr[1]}",
            "--key",
            farm.key,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--port-end",
            str(port + 50),
            "--silent",
        ],
        farm.log_dir,
    )
    farm.hosts.append(proc)  # stopped with the farm
    _finish_host_start(proc)
    wait_for_hosts(*farm.tracker_addr, farm.key, 2)
    return f"127.0.0.1:{proc.port}"


def _tune(farm, log, seed: int):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    with RPCRunner(*farm.tracker_addr, key=farm.key, timeout_s=30) as runner:
        result = tune(
            net,
            HW,
            runner=runner,
            strategy="random",
            budget=30,
            seed=seed,
            activity=act,
            fidelity="fast",
            log=str(log),
        )
        stats = runner.host_stats()
    honest = backend.measure(net, HW, act, result.best_mapping.to_json(), "fast")
    return result, stats, honest


# "lb": 1 % above the lower bound -- passes the range check for every mapping and beats every real
# one (a fixed factor such as 0.8 passes for some mappings only, so which check caught it depended
# on which host measured which candidate)
@pytest.mark.parametrize("factor", ["0", "lb"], ids=["one_ns", "plausible"])
def test_rogue_host_never_becomes_the_best(tmp_path, monkeypatch, factor):
    log = tmp_path / "tune.jsonl"
    with LocalFarm(n_hosts=1) as farm:
        honest_host = f"127.0.0.1:{farm.hosts[0].port}"
        rogue = _start_rogue(farm, factor, monkeypatch)
        result, stats, honest = _tune(farm, log, seed=2)
    assert result.best_result.host != rogue
    assert result.best_result.latency_s == honest.latency_s  # what the mapping really does
    assert result.hosts == stats and honest_host in stats
    records = TuningLog(log).records()
    if factor == "0":  # below the simulator's lower bound: every answer refused at once
        assert stats[rogue]["rejected"] >= 1 and stats[rogue]["measured"] == 0, stats
        assert stats[rogue]["dropped"] == (stats[rogue]["rejected"] >= 3)
        assert not [r for r in records if r.result.ok and r.result.host == rogue]
    else:  # plausible lies pass the range checks; the re-measure of the best catches them
        rejected = result.confirmation["rejected"]
        assert any(r.result.ok and r.result.host == rogue for r in records)
        assert rejected and rejected[0]["host"] == rogue, result.confirmation
        assert stats[rogue]["rejected"] >= 1
    assert result.confirmation["best_host"] != rogue
    assert result.confirmation["confirmed_by"] not in ("", "unconfirmed", rogue)
    refused = [r for r in records if r.result.error is MeasureError.REJECTED]
    assert all(rogue in r.result.message for r in refused)

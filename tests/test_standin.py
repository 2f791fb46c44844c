"""The silicon stand-in backend: hidden constants (inside their documented ranges, never the
defaults, reproducible from the seed), run-to-run noise of the configured spread, labels, and a real
``tvm-loihi serve --backend standin`` host behind a real tracker answering a tune run over RPC."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from _sim_workloads import activity, network

from tvm_loihi.measure.payload import MeasureRequest, UploadPayload
from tvm_loihi.measure.records import MeasureResult
from tvm_loihi.measure.remote import HostState, make_backend
from tvm_loihi.measure.standin import (
    StandinBackend,
    constant_range,
    draw_constants,
    hidden_hardware,
    hidden_names,
)
from tvm_loihi.measure.tracker import LocalFarm, _finish_host_start, _spawn, free_port
from tvm_loihi.model.hardware import ASSUMED_CONSTANTS, get_preset
from tvm_loihi.model.mapping import lava_default_mapping

HW = get_preset("loihi2_1chip")
CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")


def _value(hw, name):
    group, field_name = name.split(".")
    return float(getattr(getattr(hw, group), field_name))


@pytest.mark.parametrize("hw", [HW, get_preset("loihi2_2chip")])
def test_hidden_constants_differ_from_defaults_within_ranges(hw):
    # every assumed continuous constant (all are timing/energy); counts keep the nominal value
    assert set(hidden_names()) == set(ASSUMED_CONSTANTS) - {"timing.link_buffer_msgs"}
    for seed in range(20):
        drawn = draw_constants(hw, np.random.default_rng(seed))
        for name, v in drawn.items():
            lo, hi = constant_range(hw, name)
            assert lo <= v <= hi, (seed, name, v, lo, hi)
            assert abs(v / _value(hw, name) - 1) >= 0.02, (seed, name)
        hidden = hidden_hardware(hw, seed)
        assert hidden.limits == hw.limits and hidden.n_cores == hw.n_cores  # validity unchanged


def test_same_seed_same_constants_other_seed_differs():
    a, b, c = hidden_hardware(HW, 7), hidden_hardware(HW, 7), hidden_hardware(HW, 8)
    assert a == b
    assert all(_value(a, n) != _value(c, n) for n in hidden_names())


def _host(backend, timeout_s: float = 300.0) -> tuple[HostState, str]:
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    state = HostState(backend, host_id="test")
    assert json.loads(state.upload(UploadPayload(net, HW, act).to_bytes()))["ok"]
    text = MeasureRequest(
        net.workload_key(), HW.key(), lava_default_mapping(net, HW).to_json(), "standin", timeout_s
    ).to_text()
    return state, text


def test_noise_has_the_configured_spread_and_labels():
    state, text = _host(make_backend("standin", seed=3, cv=0.05, cost_s=0.0, noise_seed=1))
    results = [MeasureResult.from_json(json.loads(state.measure(text))) for _ in range(300)]
    assert all(r.ok for r in results), results[0].message
    lat = np.array([r.latency_s for r in results])
    en = np.array([r.energy_j for r in results])
    for x in (lat, en):
        cv = x.std(ddof=1) / x.mean()
        assert 0.035 < cv < 0.065, cv
    assert len(set(lat.tolist())) == len(lat)  # successive measurements differ
    r = results[0]
    assert r.host == "standin@test" and r.counters["standin"] == 1
    assert "3" not in r.counters["standin_id"] or len(r.counters["standin_id"]) == 10
    # the hidden model differs from the default one (same mapping, no noise)
    quiet, text = _host(StandinBackend(seed=3, cv=0.0, cost_s=0.0))
    a = MeasureResult.from_json(json.loads(quiet.measure(text)))
    b = MeasureResult.from_json(json.loads(quiet.measure(text)))
    assert a.latency_s == b.latency_s
    net = network("mlp_tiny")
    from tvm_loihi.measure import backend

    ref = backend.measure(
        net, HW, activity("mlp_tiny"), lava_default_mapping(net, HW).to_json(), "event"
    )
    assert a.latency_s != pytest.approx(ref.latency_s, rel=1e-3)


def test_version_hides_seed_and_other_fidelities_refused():
    state, text = _host(StandinBackend(seed=12345, cost_s=0.0))
    v = json.loads(state.version())
    assert v["backend"] == "standin" and v["fidelities"] == ["standin"]
    assert "12345" not in state.version() and "12345" not in repr(state.backend)
    fast = text.replace('"standin"', '"fast"')
    assert MeasureResult.from_json(json.loads(state.measure(fast))).error.value == "bad_payload"


def test_cost_is_a_lower_bound_and_timeout_interrupts():
    state, text = _host(StandinBackend(seed=1, cost_s=0.3))
    r = MeasureResult.from_json(json.loads(state.measure(text)))
    assert r.ok and r.wall_s >= 0.3
    slow, short = _host(StandinBackend(seed=1, cost_s=30.0), timeout_s=1.0)
    r = MeasureResult.from_json(json.loads(slow.measure(short)))
    assert r.error.value == "timeout" and r.wall_s < 20  # generous bound: it did not sleep 30 s


def _start_standin_hosts(farm, n: int, *extra: str) -> None:
    tracker = f"{farm.tracker_addr[0]}:{farm.tracker_addr[1]}"
    for _ in range(n):
        port = free_port()
        argv = [CLI, "serve", "--backend", "standin", "--tracker", tracker, "--port", str(port)]
        host = _spawn(f"serve-{port}", [*argv, *extra], farm.log_dir)
        farm.hosts.append(host)  # stopped with the farm
        _finish_host_start(host)
    from tvm_loihi.measure.tracker import wait_for_hosts

    wait_for_hosts(*farm.tracker_addr, farm.key, n)


def _cli_tune_standin(farm, tmp_path, strategy: str, budget: int):
    """``tvm-loihi tune --workload mlp_tiny --fidelity standin`` through the farm's tracker; the
    log and summary paths and the finished process."""
    tracker = f"{farm.tracker_addr[0]}:{farm.tracker_addr[1]}"
    log, summary = tmp_path / "tune.jsonl", tmp_path / "s.json"
    argv = ["--workload", "mlp_tiny", "--runner", f"rpc://{tracker}/{farm.key}"]
    argv += ["--fidelity", "standin", "--strategy", strategy, "--budget", str(budget)]
    argv += ["--log", str(log), "--outdir", str(tmp_path / "out"), "--json", str(summary)]
    run = subprocess.run([CLI, "tune", *argv], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return log, summary, run


def test_serve_standin_host_answers_cli_tune_over_rpc(tmp_path):
    with LocalFarm(n_hosts=0) as farm:
        _start_standin_hosts(farm, 1, "--standin-seed", "5", "--standin-cost", "0")
        log, summary, run = _cli_tune_standin(farm, tmp_path, "random", 6)
        assert "STAND-IN" in run.stdout
        records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        assert records and all(r["input"]["fidelity"] == "standin" for r in records)
        records = [r for r in records if "kind" not in r]  # measurements, not race verdicts
        ok = [r for r in records if r["result"]["error"] == "no_error"]
        assert ok and all(r["result"]["host"].startswith("standin@") for r in ok)
        assert all(r["result"]["counters"]["standin"] == 1 for r in ok)
        assert json.loads(summary.read_text())["fidelity"] == "standin"
        shown = subprocess.run(
            [CLI, "log", "summary", str(log)], capture_output=True, text=True, timeout=120
        )
        assert shown.returncode == 0 and "standin" in shown.stdout


def test_racing_over_two_rpc_hosts_reports_what_the_log_replays(tmp_path):
    """Two noisy stand-in hosts (same hidden constants, 8 % noise) answer one tune run in
    parallel, racing on: the reported best is the mean of its logged samples, at least two of
    them, every repeat is in the log, and the log's best at that fidelity (what a build replays)
    is the reported mapping with the reported latency, whatever order the two hosts answered in."""
    from tvm_loihi.measure.log import TuningLog
    from tvm_loihi.measure.samples import aggregate

    with LocalFarm(n_hosts=0) as farm:
        _start_standin_hosts(
            farm, 2, "--standin-seed", "5", "--standin-cost", "0", "--standin-cv", "0.08"
        )
        log, summary, _ = _cli_tune_standin(farm, tmp_path, "bilevel", 24)
    net = json.loads(summary.read_text())["networks"][0]
    assert len(net["hosts"]) == 2, net["hosts"]  # both hosts measured
    conf = net["confirmation"]
    tl = TuningLog(str(log))
    measured = [r for r in tl.records() if r.input.fidelity == "standin"]
    assert sum(r.sample > 0 for r in measured) >= net["runs"][0]["repeats"] > 0  # logged
    best = next(r for r in measured if r.input.mapping == net["best_mapping"])
    samples = tl.samples(best.input)
    assert len(samples) >= 2, "the reported best is a single noisy measurement"
    if conf["confirmed_by"] == "unconfirmed":  # only when both hosts had measured it
        assert {r.host for r in samples} == set(net["hosts"]), conf
    else:  # the last sample is the re-measure, by a host that had not measured it before
        before = {r.host for r in samples[:-1]}
        assert samples[-1].host == conf["confirmed_by"], conf
        assert conf["confirmed_by"] in set(net["hosts"]) - before, (conf, before)
    reported = net["best"]["total_latency_s"]
    assert reported == pytest.approx(aggregate(samples).latency_s, rel=1e-12)
    top = tl.best(best.input.workload_key, best.input.hardware_key, fidelity="standin")
    assert top.input.mapping == net["best_mapping"]
    assert top.result.latency_s == pytest.approx(reported, rel=1e-12)


def test_local_runner_refuses_standin_fidelity(tmp_path):
    from tvm_loihi.cli import main

    assert (
        main(["tune", "--workload", "mlp_tiny", "--fidelity", "standin", "--outdir", str(tmp_path)])
        == 1
    )


def test_serve_standin_needs_a_seed():
    from tvm_loihi.rpc_server import make_host_backend, parse_args

    with pytest.raises(SystemExit, match="--standin-seed"):
        make_host_backend(parse_args(["--backend", "standin"]))
    with pytest.raises(SystemExit, match="need --backend standin"):
        make_host_backend(parse_args(["--standin-seed", "3"]))

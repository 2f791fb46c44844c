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


def test_rogue_lies_do_not_come_back_from_the_log(tmp_path, monkeypatch, capsys):
    """Issue #11 leftover: after a run with a plausible liar the log carries the verdict, so
    ``log best``, ``compile --log`` and a later run's cache skip the lie (and the Lava default,
    evaluation 1, is re-measured too)."""
    import json

    import tvm_loihi
    from tvm_loihi.cli import main
    from tvm_loihi.measure.records import MeasureInput
    from tvm_loihi.model import workloads

    model = workloads.write_onnx("mlp_tiny", str(tmp_path / "mlp_tiny.onnx"))
    log, summary = tmp_path / "tune.jsonl", tmp_path / "s.json"
    with LocalFarm(n_hosts=1) as farm:
        rogue = _start_rogue(farm, "lb", monkeypatch)
        argv = [
            "tune",
            model,
            "--hardware",
            "loihi2_1chip",
            "--runner",
            f"rpc://{farm.tracker_addr[0]}:{farm.tracker_addr[1]}/{farm.key}",
            "--strategy",
            "random",
            "--budget",
            "24",
            "--seed",
            "2",
            "--log",
            str(log),
            "--outdir",
            str(tmp_path / "out"),
            "--json",
            str(summary),
        ]
        assert main(argv) == 0
    capsys.readouterr()
    (net_summary,) = json.loads(summary.read_text())["networks"]
    conf = net_summary["confirmation"]
    assert conf["rejected"] and all(r["host"] == rogue for r in conf["rejected"]), conf
    tl = TuningLog(log)
    marks = tl.marks()
    lied = [r for r in tl.records() if r.result.ok and r.result.host == rogue]
    assert lied and marks and {m.host for m in marks} == {rogue}
    assert all(tl.is_rejected(r) for r in lied)  # every lie refuted in the log
    ((net, hw),) = tvm_loihi.extract_networks(tvm_loihi.load_onnx(model))
    act = tvm_loihi.tuning.default_activity(net, hw)
    for r in lied:  # a later run's cache: the honest re-measure, or nothing (measure again)
        samples = tl.samples(r.input)
        assert all(s.host != rogue for s in samples)
        for s in samples:
            assert s.latency_s == backend.measure(net, hw, act, r.input.mapping, "fast").latency_s
    # the default: re-measured too; if the liar measured it, the reported default is the truth
    default = conf["default"]
    assert default["confirmed_by"] not in ("", "unconfirmed", rogue), default
    assert net_summary["default"]["total_latency_s"] == pytest.approx(
        backend.measure(
            net, hw, act, tvm_loihi.model.mapping.lava_default_mapping(net, hw).to_json(), "fast"
        ).latency_s
    )
    # log best: not the lie, and what the mapping really does
    assert main(["log", "best", str(log), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert rogue not in row["host"]
    assert row["latency_s"] == backend.measure(net, hw, act, row["mapping"], "fast").latency_s
    # compile --log embeds that mapping
    lib = tmp_path / "m.so"
    assert (
        main(["compile", model, "--hardware", "loihi2_1chip", "--log", str(log), "-o", str(lib)])
        == 0
    )
    (embedded,) = tvm_loihi.read_mappings(str(lib))
    assert embedded["mapping"] == row["mapping"]
    inp = MeasureInput(net.workload_key(), hw.key(), row["mapping"], "fast", act.key())
    assert tl.lookup(inp) is not None and rogue not in tl.lookup(inp).host

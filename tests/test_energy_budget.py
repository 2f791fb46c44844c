"""Latency under an energy budget (#15): ``tune --max-energy-increase PCT`` reports, and
``compile --max-energy-increase PCT`` replays, the fastest measured mapping whose energy is at most
PCT above the Lava default's; ``compile --fidelity`` replays what ``tune --verify`` reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import tvm_loihi
from tvm_loihi.measure.energy_budget import fastest_within, parse_energy_increase
from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.records import MeasureResult
from tvm_loihi.model import workloads
from tvm_loihi.tuning import VerifyOptions, tune

CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")


def _line_of(log, mapping: dict) -> int:
    return next(r.line for r in TuningLog(log).records() if r.input.mapping == mapping)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("text, value", [("10%", 0.10), ("0.1", 0.10), ("0%", 0.0), ("150%", 1.5)])
def test_parse_energy_increase(text, value):
    assert parse_energy_increase(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["-5%", "ten", "nan", "inf%", ""])
def test_parse_energy_increase_refuses(text):
    with pytest.raises(ValueError):
        parse_energy_increase(text)


def test_fastest_within_keeps_to_the_budget():
    default = MeasureResult(10e-6, 1e-6)
    results = [
        MeasureResult(5e-6, 1.5e-6),
        MeasureResult(7e-6, 1.05e-6),
        default,
        MeasureResult(8e-6, 0.9e-6),
    ]
    assert fastest_within(results, default, 0.10) == 1  # 5 us costs +50 %
    assert fastest_within(results, default, 0.50) == 0
    assert fastest_within(results, default, 0.0) == 3  # below the default's energy
    with pytest.raises(ValueError):
        fastest_within(results, default, -0.1)


@pytest.fixture(scope="module")
def mlp_a(tmp_path_factory):
    model = workloads.write_onnx("mlp_a", str(tmp_path_factory.mktemp("budget") / "m.onnx"))
    ((network, hardware),) = tvm_loihi.extract_networks(tvm_loihi.load_onnx(model))
    return network, hardware


def test_tune_picks_the_fastest_measured_mapping_within_the_budget(mlp_a, tmp_path):
    network, hardware = mlp_a
    log = TuningLog(tmp_path / "t.jsonl")
    free = tune(network, hardware, strategy="ga", budget=40, seed=5, log=log)
    assert free.max_energy_increase is None and free.fastest is None
    records = [r for r in log.records() if r.result.ok]
    e0 = free.default_result.energy_j

    def within_budget(budget):  # the same seeded run again: every candidate comes from the log
        verify = VerifyOptions(max_energy_increase=budget)
        return tune(network, hardware, strategy="ga", budget=40, seed=5, log=log, verify=verify)

    for budget in (0.0, 0.05, 0.25, 10.0):
        res = within_budget(budget)  # only the pick differs
        assert res.cache_hits == res.evaluations
        within = [
            r.result.latency_s
            for r in records
            if r.result.energy_j <= e0 * (1 + budget) * (1 + 1e-12)
        ]
        assert res.best_result.latency_s == min(within)
        assert res.best_result.energy_j <= e0 * (1 + budget) * (1 + 1e-12)
        assert res.fastest[1].latency_s == free.best_result.latency_s
        assert res.max_energy_increase == budget
        json.dumps(res.to_json())
    # the budget binds on this workload: the unconstrained fastest costs energy
    assert free.best_result.energy_j > e0
    assert within_budget(0.0).best_result.latency_s > free.best_result.latency_s


def test_tune_refuses_a_bad_budget(mlp_a):
    network, hardware = mlp_a
    for bad in (-0.1, float("nan"), "10%", True):
        with pytest.raises(ValueError, match="max_increase"):
            tune(
                network,
                hardware,
                strategy="random",
                budget=2,
                verify=VerifyOptions(max_energy_increase=bad),
            )


def test_tune_and_compile_with_an_energy_budget(tmp_path):
    """Through the console script: tune reports the budgeted best, prints a replay command with
    the budget, and compile embeds exactly that mapping."""
    model = workloads.write_onnx("mlp_a", str(tmp_path / "mlp_a.onnx"))
    log, summary = tmp_path / "tune.jsonl", tmp_path / "summary.json"
    tune_run = _cli(
        "tune",
        model,
        "--hardware",
        "loihi2_1chip",
        "--strategy",
        "ga",
        "--budget",
        "40",
        "--seed",
        "5",
        "--max-energy-increase",
        "10%",
        "--log",
        str(log),
        "--outdir",
        str(tmp_path / "out"),
        "--json",
        str(summary),
    )
    assert tune_run.returncode == 0, tune_run.stderr
    assert "fastest within 10% of the default's energy" in tune_run.stdout
    assert "--max-energy-increase 10%" in tune_run.stdout
    net = json.loads(summary.read_text())["networks"][0]
    assert net["max_energy_increase"] == pytest.approx(0.1)
    budget = net["default"]["energy_per_inference_j"] * 1.1 * (1 + 1e-12)
    assert net["best"]["energy_per_inference_j"] <= budget
    assert net["fastest"]["total_latency_s"] <= net["best"]["total_latency_s"]
    # the budget binds exactly when the unconstrained fastest costs more than it allows
    binds = net["fastest"]["energy_per_inference_j"] > budget
    assert binds == (net["fastest"]["total_latency_s"] < net["best"]["total_latency_s"])

    lib = tmp_path / "model.so"
    comp = _cli(
        "compile",
        model,
        "--hardware",
        "loihi2_1chip",
        "--log",
        str(log),
        "--max-energy-increase",
        "10%",
        "-o",
        str(lib),
    )
    assert comp.returncode == 0, comp.stderr
    (embedded,) = tvm_loihi.read_mappings(str(lib))
    assert embedded["mapping"] == net["best_mapping"]
    assert f"line {_line_of(log, net['best_mapping'])}," in comp.stdout

    bad = _cli(
        "compile",
        model,
        "--hardware",
        "loihi2_1chip",
        "--log",
        str(log),
        "--max-energy-increase=-3%",
        "-o",
        str(lib),
    )
    assert bad.returncode == 2 and "energy increase" in bad.stderr

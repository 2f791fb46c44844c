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
from tvm_loihi.tuning import apply_energy_budget, tune

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
    results = [MeasureResult(5e-6, 1.5e-6), MeasureResult(7e-6, 1.05e-6), default,
               MeasureResult(8e-6, 0.9e-6)]
    assert fastest_within(results, default, 0.10) == 1  # 5 us costs +50 %
    assert fastest_within(results, default, 0.50) == 0
    assert fastest_within(results, default, 0.0) == 3  # below the default's energy
    with pytest.raises(ValueError):
        fastest_within(results, default, -0.1)


def _mlp_tiny(tmp_path_factory):
    model = workloads.write_onnx("mlp_tiny", str(tmp_path_factory.mktemp("budget") / "m.onnx"))
    ((network, hardware),) = tvm_loihi.extract_networks(tvm_loihi.load_onnx(model))
    return network, hardware


@pytest.fixture(scope="module")
def two_objective_run(tmp_path_factory):
    network, hardware = _mlp_tiny(tmp_path_factory)
    return tune(network, hardware, strategy="ga", budget=40, seed=5,
                objectives=("latency", "energy"))


def test_apply_energy_budget_picks_the_fastest_within_it(two_objective_run):
    res = two_objective_run
    e0 = res.default_result.energy_j
    for budget in (0.0, 0.05, 0.2, 10.0):
        chosen = apply_energy_budget(res, budget)
        assert chosen.best_result.energy_j <= e0 * (1 + budget) * (1 + 1e-12)
        assert chosen.fastest == (res.best_mapping, res.best_result)
        assert chosen.max_energy_increase == budget
        # nothing on the measured front within the budget is faster
        for _, r in [*res.pareto, (res.default_mapping, res.default_result)]:
            if r.energy_j <= e0 * (1 + budget):
                assert chosen.best_result.latency_s <= r.latency_s
    assert apply_energy_budget(res, 10.0).best_result.latency_s == res.best_result.latency_s
    json.dumps(apply_energy_budget(res, 0.1).to_json())  # serialisable


def test_apply_energy_budget_needs_measured_energy(tmp_path_factory):
    network, hardware = _mlp_tiny(tmp_path_factory)
    res = tune(network, hardware, strategy="random", budget=5, seed=1)
    with pytest.raises(ValueError, match="objectives"):
        apply_energy_budget(res, 0.1)


def test_tune_and_compile_with_an_energy_budget(tmp_path):
    """Through the console script: tune reports the budgeted best, prints a replay command with
    the budget, and compile embeds exactly that mapping."""
    model = workloads.write_onnx("mlp_a", str(tmp_path / "mlp_a.onnx"))
    log, summary = tmp_path / "tune.jsonl", tmp_path / "summary.json"
    tune_run = _cli("tune", model, "--hardware", "loihi2_1chip", "--strategy", "ga",
                    "--budget", "40", "--seed", "5", "--max-energy-increase", "10%",
                    "--log", str(log), "--outdir", str(tmp_path / "out"),
                    "--json", str(summary))
    assert tune_run.returncode == 0, tune_run.stderr
    assert "--objectives latency,energy" in tune_run.stderr
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
    comp = _cli("compile", model, "--hardware", "loihi2_1chip", "--log", str(log),
                "--max-energy-increase", "10%", "-o", str(lib))
    assert comp.returncode == 0, comp.stderr
    (embedded,) = tvm_loihi.read_mappings(str(lib))
    assert embedded["mapping"] == net["best_mapping"]
    assert f"line {_line_of(log, net['best_mapping'])}," in comp.stdout

    bad = _cli("compile", model, "--hardware", "loihi2_1chip", "--log", str(log),
               "--max-energy-increase=-3%", "-o", str(lib))
    assert bad.returncode == 2 and "energy increase" in bad.stderr

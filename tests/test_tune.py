"""The tuning driver, LocalRunner and the measurement backend, on the real simulator."""

from __future__ import annotations

import concurrent.futures
import json

import numpy as np
import pytest
import scipy.sparse as sps

from tvm_loihi.cli import main
from tvm_loihi.measure import backend
from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.records import MeasureError, MeasureInput
from tvm_loihi.measure.runner import LocalRunner, Runner
from tvm_loihi.model import workloads
from tvm_loihi.model.hardware import HardwareSpec
from tvm_loihi.model.mapping import Mapping, lava_default_mapping
from tvm_loihi.model.network import Layer, NetworkIR
from tvm_loihi.tuning import VerifyOptions, default_activity, tune
from tvm_loihi.tuning.result import TuneResult


def _net() -> NetworkIR:
    rng = np.random.default_rng(5)
    sizes = (32, 24, 16, 8)
    layers = []
    for k in range(3):
        shape = (sizes[k + 1], sizes[k])
        w = rng.integers(-50, 50, shape) * (rng.random(shape) < 0.5)
        layers.append(
            Layer(f"fc{k}", sps.csr_matrix(w.astype(np.int8)), 4, np.ones(shape[0]), relu=k < 2)
        )
    return NetworkIR(tuple(layers), name="tune_test")


NET = _net()
HW = HardwareSpec("mesh4x4", routers_x=4, routers_y=4)
ACT = default_activity(NET, HW, n_samples=16)


class CountingRunner(LocalRunner):
    """LocalRunner that remembers what it was asked to measure."""

    def __init__(self) -> None:
        super().__init__()
        self.measured: list[str] = []

    def submit(self, inputs):
        self.measured += [i.key() for i in inputs]
        return super().submit(inputs)


class ThreadRunner(Runner):
    """Two worker threads around the same backend: results arrive asynchronously."""

    n_parallel = 2

    def __init__(self) -> None:
        self.pool = concurrent.futures.ThreadPoolExecutor(2)
        self.workloads = {}

    def register(self, network, hardware, activity):
        self.workloads[(network.workload_key(), hardware.key())] = (network, hardware, activity)

    def submit(self, inputs):
        return [
            self.pool.submit(
                backend.measure,
                *self.workloads[(i.workload_key, i.hardware_key)],
                i.mapping,
                i.fidelity,
            )
            for i in inputs
        ]

    def close(self):
        self.pool.shutdown()


def test_tune_improves_on_lava_default_and_reports_history():
    events = []
    res = tune(NET, HW, strategy="bilevel", budget=60, seed=0, activity=ACT, callback=events.append)
    assert res.evaluations == 60 == len(res.history) == len(events)
    assert res.default_mapping.to_json() == lava_default_mapping(NET, HW).to_json()
    assert res.history[0] == res.default_result.latency_s
    assert all(a >= b for a, b in zip(res.history, res.history[1:]))
    assert res.best_result.latency_s == res.history[-1] <= res.default_result.latency_s
    res.best_mapping.validate(NET, HW)
    assert events[-1]["evaluations"] == 60 and events[-1]["best"] == res.history[-1]
    assert res.to_json()["best_result"]["latency_s"] == res.best_result.latency_s


def test_tune_result_round_trips_through_json():
    res = tune(
        NET, HW, strategy="nsga2", budget=20, seed=1, activity=ACT, objectives=("latency", "energy")
    )
    data = json.loads(json.dumps(res.to_json()))  # plain JSON, as a summary file holds it
    again = TuneResult.from_json(data)
    assert again.to_json() == data
    assert again.best_mapping.to_json() == res.best_mapping.to_json() and len(again.pareto) > 0


def test_same_seed_same_result_and_no_mapping_measured_twice():
    runs = []
    for _ in range(2):
        runner = CountingRunner()
        res = tune(NET, HW, runner=runner, strategy="ga", budget=50, seed=3, activity=ACT)
        runs.append((res, runner))
    (a, ra), (b, rb) = runs
    assert a.history == b.history and a.best_mapping.to_json() == b.best_mapping.to_json()
    assert ra.measured == rb.measured
    assert len(set(ra.measured)) == len(ra.measured) == a.evaluations


def test_log_is_consulted_before_submitting_and_resume_retraces_the_run(tmp_path):
    path = str(tmp_path / "tune.jsonl")
    first = CountingRunner()
    a = tune(NET, HW, runner=first, strategy="bilevel", budget=40, seed=1, activity=ACT, log=path)
    assert a.cache_hits == 0 and len(first.measured) == 40
    assert len(TuningLog(path).records()) == 40
    second = CountingRunner()
    b = tune(
        NET,
        HW,
        runner=second,
        strategy="bilevel",
        budget=40,
        seed=1,
        activity=ACT,
        log=TuningLog(path),
    )
    assert second.measured == [] and b.cache_hits == 40
    assert b.history == a.history and b.best_mapping.to_json() == a.best_mapping.to_json()
    third = CountingRunner()  # a longer resumed run: only the new tail is measured
    c = tune(NET, HW, runner=third, strategy="bilevel", budget=55, seed=1, activity=ACT, log=path)
    assert c.history[:40] == a.history and c.cache_hits == 40 and len(third.measured) == 15


def test_asynchronous_runner_keeps_two_in_flight_and_completes_the_budget():
    with ThreadRunner() as runner:
        res = tune(
            NET,
            HW,
            runner=runner,
            strategy="nsga2",
            budget=40,
            seed=0,
            activity=ACT,
            objectives=("latency", "energy"),
        )
    assert res.evaluations == 40
    assert res.pareto and all(r.ok for _, r in res.pareto)


def test_termination_by_stagnation_and_exhaustion():
    res = tune(NET, HW, strategy="annealing", budget=500, seed=0, activity=ACT, stagnation=15)
    assert res.stop_reason == "stagnation" and res.evaluations < 500
    only = tune(NET, HW, strategy="lava_default", budget=10, activity=ACT)
    assert only.stop_reason == "exhausted" and only.evaluations == 1
    assert only.best_result.latency_s == only.default_result.latency_s


def test_a_user_written_stopping_rule_ends_the_run():
    """tuning/termination.py's example: stop at a target latency (#12: rules are objects over the
    run's explicit state, combined with the built-in ones)."""
    from tvm_loihi.tuning.termination import Termination

    free = tune(NET, HW, strategy="ga", budget=60, seed=2, activity=ACT)
    target = free.history[len(free.history) // 2]  # reached half-way through the free run

    class TargetLatency(Termination):
        def __init__(self, seconds):
            self.seconds = seconds

        def reason(self, state):
            best = state.best_evaluation
            return "target" if best is not None and best.fitness[0] <= self.seconds else None

    res = tune(
        NET, HW, strategy="ga", budget=60, seed=2, activity=ACT, termination=TargetLatency(target)
    )
    assert res.stop_reason == "target"
    assert res.best_result.latency_s <= target
    first = next(i for i, v in enumerate(free.history) if v <= target)
    assert res.evaluations == first + 1  # stopped at the evaluation that reached it
    assert res.history == free.history[: first + 1]
    with pytest.raises(TypeError, match="Termination"):
        tune(NET, HW, budget=5, activity=ACT, termination=lambda state: "x")


def test_backend_reports_invalid_mappings_and_unknown_workloads_as_values():
    tight = HardwareSpec(
        "tight", routers_x=4, routers_y=4, limits=HW.limits.__class__(max_neurons=4)
    )
    one_core = Mapping.from_assignment(NET, (1, 1, 1), (0, 1, 2)).to_json()
    res = backend.measure(NET, tight, ACT, one_core, "fast")
    assert res.error is MeasureError.INVALID_MAPPING and "max_neurons" in res.message
    assert res.objective("latency") == float("inf")
    bad = backend.measure(
        NET, HW, ACT, {"version": 1, "bounds": [[0, 24]], "core_ids": [0]}, "fast"
    )
    assert bad.error is MeasureError.INVALID_MAPPING
    wrong_fidelity = backend.measure(NET, HW, ACT, one_core, "no_such_fidelity")
    assert wrong_fidelity.error is MeasureError.RUNTIME_ERROR
    assert "fidelity" in wrong_fidelity.message
    ok = backend.measure(NET, HW, ACT, one_core, "fast")
    assert ok.ok and ok.counters["cores_used"] == 3 and ok.counters["per_sample_latency_s"] > 0
    with LocalRunner() as runner:
        fut = runner.submit([MeasureInput("nope", HW.key(), one_core)])[0]
        assert fut.done() and fut.result().error is MeasureError.UNKNOWN_WORKLOAD


def test_default_activity_is_seeded():
    a, b = default_activity(NET, HW), default_activity(NET, HW)
    assert a.n_samples == 64
    assert all(np.array_equal(x, y) for x, y in zip(a.spikes, b.spikes))
    with pytest.raises(ValueError, match="budget"):
        tune(NET, HW, budget=0, activity=ACT)


def test_log_cache_is_keyed_on_the_activity_too(tmp_path):
    # The same mapping driven by other inputs measures differently: no cache hit across activities.
    other = default_activity(NET, HW, n_samples=16, seed=99)
    assert other.key() != ACT.key()
    log = tmp_path / "tune.jsonl"
    first = tune(
        NET,
        HW,
        runner=CountingRunner(),
        strategy="random",
        budget=12,
        seed=1,
        activity=ACT,
        log=str(log),
    )
    runner = CountingRunner()
    second = tune(
        NET, HW, runner=runner, strategy="random", budget=12, seed=1, activity=other, log=str(log)
    )
    assert first.evaluations == second.evaluations == 12
    assert second.cache_hits == 0 and len(runner.measured) == 12
    again = tune(
        NET,
        HW,
        runner=CountingRunner(),
        strategy="random",
        budget=12,
        seed=1,
        activity=ACT,
        log=str(log),
    )
    assert again.cache_hits == 12


def test_runner_refuses_an_input_for_another_activity():
    runner = LocalRunner()
    runner.register(NET, HW, ACT)
    other = default_activity(NET, HW, n_samples=16, seed=99)
    mapping = lava_default_mapping(NET, HW).to_json()
    inp = MeasureInput(NET.workload_key(), HW.key(), mapping, "fast", other.key())
    res = runner.submit([inp])[0].result()
    assert res.error is MeasureError.UNKNOWN_WORKLOAD and other.key() in res.message
    ok = runner.submit([MeasureInput(NET.workload_key(), HW.key(), mapping, "fast", ACT.key())])[0]
    assert ok.result().ok


def _search_top_k(path: str, k: int) -> list[dict]:
    """The k best distinct fast-fidelity mappings in a tuning log, ties in log order."""
    seen: dict[str, tuple[dict, float]] = {}
    for rec in TuningLog(path).records():
        if rec.input.fidelity == "fast" and rec.result.ok:
            seen.setdefault(rec.input.key(), (rec.input.mapping, rec.result.latency_s))
    return [m for m, _ in sorted(seen.values(), key=lambda v: v[1])[:k]]


def test_verify_picks_the_best_at_the_verify_fidelity_and_resumes_from_the_log(tmp_path):
    path = str(tmp_path / "tune.jsonl")
    first = CountingRunner()
    res = tune(
        NET,
        HW,
        runner=first,
        strategy="bilevel",
        budget=40,
        seed=2,
        activity=ACT,
        log=path,
        verify=VerifyOptions(fidelity="event", top_k=4),
    )
    assert res.evaluations == 40 == len(res.history) and res.verify_fidelity == "event"
    top = _search_top_k(path, 4)
    default = lava_default_mapping(NET, HW).to_json()
    expected = top + ([default] if default not in top else [])
    assert [m.to_json() for m, _ in res.verified] == expected
    assert res.verify_evaluations == len(expected) and len(first.measured) == 40 + len(expected)
    direct = [backend.measure(NET, HW, ACT, m, "event") for m in expected]
    assert [r.latency_s for _, r in res.verified] == [r.latency_s for r in direct]
    i = int(np.argmin([r.latency_s for r in direct]))
    assert res.best_mapping.to_json() == expected[i]
    assert res.best_result.latency_s == direct[i].latency_s
    assert res.default_result.latency_s == backend.measure(NET, HW, ACT, default, "event").latency_s
    assert res.search_best[1].latency_s == res.history[-1]
    assert res.search_best[0].to_json() == expected[0]
    event = [r for r in TuningLog(path).records() if r.input.fidelity == "event"]
    assert [r.input.mapping for r in event] == expected  # logged like every other measurement
    again = CountingRunner()
    b = tune(
        NET,
        HW,
        runner=again,
        strategy="bilevel",
        budget=40,
        seed=2,
        activity=ACT,
        log=path,
        verify=VerifyOptions(fidelity="event", top_k=4),
    )
    assert again.measured == [] and b.cache_hits == 40
    assert b.best_mapping.to_json() == res.best_mapping.to_json()
    assert [r.latency_s for _, r in b.verified] == [r.latency_s for _, r in res.verified]


def test_verify_is_deterministic_and_outside_the_budget():
    runs = []
    for _ in range(2):
        runner = CountingRunner()
        res = tune(
            NET,
            HW,
            runner=runner,
            strategy="ga",
            budget=30,
            seed=4,
            activity=ACT,
            verify=VerifyOptions(fidelity="event", top_k=3),
        )
        runs.append((res, runner))
    (a, ra), (b, rb) = runs
    assert ra.measured == rb.measured and a.history == b.history
    assert a.best_mapping.to_json() == b.best_mapping.to_json()
    assert a.evaluations == 30 and len(ra.measured) == 30 + a.verify_evaluations
    assert a.to_json()["verify_evaluations"] == a.verify_evaluations
    plain = tune(NET, HW, strategy="ga", budget=30, seed=4, activity=ACT)
    assert plain.history == a.history and plain.verified == () and plain.search_best is None
    with pytest.raises(ValueError, match="verify_top_k"):
        tune(NET, HW, budget=5, activity=ACT, verify=VerifyOptions(fidelity="event", top_k=0))


def test_cli_tune_verify_compares_at_the_verify_fidelity(tmp_path, capsys):
    model = workloads.write_onnx("mlp_tiny", str(tmp_path / "mlp_tiny.onnx"))
    summary = tmp_path / "s.json"
    assert (
        main(
            [
                "tune",
                model,
                "--hardware",
                "loihi2_1chip",
                "--budget",
                "20",
                "--verify",
                "event",
                "--verify-top-k",
                "2",
                "--outdir",
                str(tmp_path / "out"),
                "--json",
                str(summary),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "searched on the fast simulator" in out and "on the event simulator" in out
    data = json.loads(summary.read_text())
    assert data["verify_fidelity"] == "event" and data["verify_top_k"] == 2
    log = TuningLog(str(tmp_path / "out" / "tune.jsonl")).records()
    event = {r.input.key(): r.result for r in log if r.input.fidelity == "event"}
    assert 2 <= len(event) <= 3 * len(data["networks"])
    for net in data["networks"]:
        assert net["runs"][0]["evaluations"] == 20
        assert net["best"]["total_latency_s"] in {r.latency_s for r in event.values()}
    assert main(["tune", model, "--verify", "event", "--verify-top-k", "0"]) != 0
    assert "argument --verify-top-k: 0: must be at least 1 mapping" in capsys.readouterr().err

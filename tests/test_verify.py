"""tuning/verify.py: which candidates are verified, and that the log and the run are reused."""

from __future__ import annotations

import pytest
from _networks import tiny_network
from _sim_workloads import activity, network

from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.records import MeasureError, MeasureInput, MeasureResult
from tvm_loihi.measure.runner import LocalRunner, Runner
from tvm_loihi.measure.samples import aggregate
from tvm_loihi.measure.standin import StandinRunner
from tvm_loihi.model.hardware import HardwareSpec, get_preset
from tvm_loihi.model.mapping import Mapping, lava_default_mapping
from tvm_loihi.search.problem import MappingProblem
from tvm_loihi.tuning import VerifyOptions, default_activity, tune
from tvm_loihi.tuning.verify import candidates, verify_candidates

NET = tiny_network((24, 16, 8), seed=7, name="verify_test")
HW = HardwareSpec("mesh3x3", routers_x=3, routers_y=3)
SIM_HW = get_preset("loihi2_1chip")
ACT = default_activity(NET, HW, n_samples=8)


def _inp(i: int, fidelity: str = "fast") -> MeasureInput:
    return MeasureInput("w", "h", {"i": i}, fidelity, "a")


def test_candidates_rank_by_the_objective_ties_in_order_failures_out_default_last():
    failed = MeasureResult.failure(MeasureError.RUNTIME_ERROR, "x")
    evaluated = [
        (_inp(0), MeasureResult(5.0, 1.0)),  # the Lava default
        (_inp(1), MeasureResult(2.0, 9.0)),
        (_inp(2), failed),
        (_inp(3), MeasureResult(2.0, 1.0)),  # tie with 1 on latency: after it
        (_inp(4), MeasureResult(1.0, 5.0)),
    ]
    keys = [i.mapping["i"] for i in candidates(evaluated, 3, "latency")]
    assert keys == [4, 1, 3, 0]
    assert [i.mapping["i"] for i in candidates(evaluated, 2, "energy")] == [0, 3]
    assert [i.mapping["i"] for i in candidates(evaluated, 10, "latency")] == [4, 1, 3, 0]
    evaluated[0] = (_inp(0), failed)  # a failed default is still verified (the reference)
    assert [i.mapping["i"] for i in candidates(evaluated, 1, "latency")] == [4, 0]


class _Counting(LocalRunner):
    def __init__(self) -> None:
        super().__init__()
        self.measured: list[MeasureInput] = []

    def submit(self, inputs):
        self.measured += list(inputs)
        return super().submit(inputs)


def test_verify_measures_at_the_verify_fidelity_once_then_reads_the_log(tmp_path):
    problem = MappingProblem(NET, HW, ACT)
    keys = (NET.workload_key(), HW.key())
    default = lava_default_mapping(NET, HW).to_json()
    others = [problem.decode(g).to_json() for g in problem.seeds()[:3]]
    mappings = [default, *[m for m in others if m != default]]
    assert len(mappings) >= 2
    runner = _Counting()
    runner.register(NET, HW, ACT)
    fast = [MeasureInput(*keys, m, "fast", ACT.key()) for m in mappings]
    evaluated = [(i, f.result()) for i, f in zip(fast, runner.submit(fast))]
    log = TuningLog(str(tmp_path / "t.jsonl"))
    out = verify_candidates(evaluated, "event", 1, "latency", runner, log)
    assert all(i.fidelity == "event" for i, _ in out)
    assert out[-1][0].mapping == default and len(out) in (1, 2)
    assert [r.latency_s for _, r in out] == [
        runner.submit([i])[0].result().latency_s for i, _ in out
    ]
    measured = len(runner.measured)
    again = verify_candidates(evaluated, "event", 1, "latency", runner, log)
    assert len(runner.measured) == measured  # every one from the log
    assert [r.latency_s for _, r in again] == [r.latency_s for _, r in out]
    same = verify_candidates(evaluated, "fast", 1, "latency", runner, None)
    assert len(runner.measured) == measured  # the run's own results at the search fidelity
    assert Mapping.from_json(same[-1][0].mapping).to_json() == default


class _SimThenStandin(Runner):
    """The local simulator for the search fidelities and the in-process stand-in for
    ``"standin"``: a user's simulator plus a (noisy) chip behind one runner."""

    n_parallel = 1

    def __init__(self, **standin) -> None:
        self.sim, self.chip = LocalRunner(), StandinRunner(**standin)
        self.measured: list[MeasureInput] = []

    def register(self, network, hardware, activity) -> None:
        self.sim.register(network, hardware, activity)
        self.chip.register(network, hardware, activity)

    def submit(self, inputs):
        self.measured += list(inputs)
        return [(self.chip if i.fidelity == "standin" else self.sim).submit([i])[0] for i in inputs]

    def close(self) -> None:
        self.sim.close()


def _noisy_verify(log, cv=0.1, noise_seed=1, racing=None):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    runner = _SimThenStandin(seed=3, cv=cv, cost_s=0.0, noise_seed=noise_seed)
    res = tune(
        net,
        SIM_HW,
        runner=runner,
        strategy="bilevel",
        budget=24,
        seed=0,
        activity=act,
        fidelity="fast",
        log=str(log),
        verify=VerifyOptions(fidelity="standin", top_k=6),
        **({} if racing is None else {"racing": racing}),
    )
    return res, runner


def _inp_of(mapping, fidelity="standin") -> MeasureInput:
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    return MeasureInput(net.workload_key(), SIM_HW.key(), mapping.to_json(), fidelity, act.key())


def test_noisy_verification_races_the_winner_and_logs_every_repeat(tmp_path):
    """Searched on the fast model, verified on a stand-in with 10 % noise: the verified winner
    is not one noisy draw (issue #14.4); it was raced, its repeats are log samples and counted."""
    path = tmp_path / "v.jsonl"
    res, runner = _noisy_verify(path)
    log = TuningLog(str(path))
    best = log.samples(_inp_of(res.best_mapping))
    assert len(best) >= 2, "the verified best is a single noisy measurement"
    assert res.best_result.latency_s == pytest.approx(aggregate(best).latency_s, rel=1e-12)
    standin = [r for r in log.records() if r.input.fidelity == "standin"]
    assert res.verify_repeats == sum(r.sample > 0 for r in standin) > 0
    assert res.verify_evaluations == len(res.verified) + res.verify_repeats == len(standin)
    assert len(runner.measured) == res.evaluations + res.verify_evaluations
    # every verified mapping's figure is the mean of its samples; the winner's is the lowest
    means = [aggregate(log.samples(_inp_of(m))).latency_s for m, _ in res.verified]
    assert [r.latency_s for _, r in res.verified] == pytest.approx(means, rel=1e-12)
    assert res.best_result.latency_s == min(means)
    # a candidate that measured below the winner's mean was raced (never one sample)
    for m, r in res.verified:
        if log.samples(_inp_of(m))[0].latency_s < res.best_result.latency_s:
            assert len(log.samples(_inp_of(m))) >= 2
    # the default is the verified reference
    default = aggregate(log.samples(_inp_of(res.default_mapping)))
    assert res.default_result.latency_s == default.latency_s
    # the log replays what the tuner reported (apply_best at the verify fidelity)
    keys = (network("mlp_tiny").workload_key(), SIM_HW.key())
    top = log.best(*keys, fidelity="standin")
    assert top.input.mapping == res.best_mapping.to_json()
    # resumed on the same log: nothing is measured again, the same winner
    again, runner2 = _noisy_verify(path)
    assert runner2.measured == [] and again.best_mapping.to_json() == res.best_mapping.to_json()
    assert again.best_result.latency_s == res.best_result.latency_s

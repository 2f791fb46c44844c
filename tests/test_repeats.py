"""Noise-robust selection (issue #14.4): on the noisy silicon stand-in a challenger that looks
better than the incumbent is raced against it; every repeat is a record of the log, a mapping's
figure is the mean of its samples everywhere (the run's best, ``lookup``, ``log best``), and a
deterministic backend spends no repeat beyond the first check. Seeded noise and one worker (or a
synchronous runner) keep the runs reproducible."""

from __future__ import annotations

import json
import math

import pytest
from _sim_workloads import activity, network

from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.pool_runner import PoolRunner
from tvm_loihi.measure.records import MeasureInput, MeasureResult
from tvm_loihi.measure.rpc_runner import RPCRunner
from tvm_loihi.measure.runner import LocalRunner
from tvm_loihi.measure.samples import aggregate
from tvm_loihi.measure.standin import StandinBackend
from tvm_loihi.measure.tracker import LocalFarm
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.tuning import RacingOptions, tune
from tvm_loihi.tuning.racing import RacePolicy, needs_race, noise, resolve_policy, verdict

HW = get_preset("loihi2_1chip")


def _standin_run(log, cv=0.02, budget=30, seed=0):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    backend = StandinBackend(seed=3, cv=cv, cost_s=0.0, noise_seed=1)
    with PoolRunner(n_workers=1, backend=backend) as runner:
        return tune(
            net,
            HW,
            runner=runner,
            strategy="bilevel",
            budget=budget,
            seed=seed,
            activity=act,
            fidelity="standin",
            log=str(log),
        )


def _check_log_holds_every_repeat(result, log):
    tl = TuningLog(log)
    records = tl.records()
    assert len(records) == result.evaluations  # every evaluation, repeats included, is a record
    assert sum(r.sample > 0 for r in records) == result.repeats
    inp = MeasureInput(
        network("mlp_tiny").workload_key(),
        HW.key(),
        result.best_mapping.to_json(),
        "standin",
        activity("mlp_tiny").key(),
    )
    samples = tl.samples(inp)
    mean = math.fsum(s.latency_s for s in samples) / len(samples)
    assert result.best_result.latency_s == pytest.approx(mean, rel=1e-12)  # the aggregate
    # the log's best (what apply_best replays) is the run's reported best, the mean of its
    # samples (a challenger whose race the budget cut short is ranked after it, marked undecided)
    best = tl.best(inp.workload_key, inp.hardware_key)
    its = tl.samples(best.input)
    assert best.n_samples == len(its) and best.result.counters.get("samples", 1) == len(its)
    assert best.result.latency_s == pytest.approx(
        math.fsum(s.latency_s for s in its) / len(its), rel=1e-12
    )
    assert best.input.mapping == result.best_mapping.to_json()
    assert best.result.latency_s == pytest.approx(result.best_result.latency_s, rel=1e-12)
    return samples


def test_noisy_standin_races_logs_every_repeat_and_reports_the_mean(tmp_path):
    a = _standin_run(tmp_path / "a.jsonl")
    assert a.repeats > 0 and a.noise is not None
    assert 0.005 < a.noise < 0.06, a.noise  # the stand-in's 2 % noise, estimated from repeats
    assert a.evaluations == 30  # repeats are evaluations: the budget holds
    samples = _check_log_holds_every_repeat(a, tmp_path / "a.jsonl")
    assert len(samples) >= 2  # the reported best was raced, not one lucky draw
    # reproducible: seeded noise, one worker
    b = _standin_run(tmp_path / "b.jsonl")
    assert b.values == a.values and b.history == a.history and b.repeats == a.repeats
    # resumed on the same log: everything comes from the log, samples and all
    c = _standin_run(tmp_path / "a.jsonl")
    assert c.cache_hits >= 1 and c.best_result.latency_s <= a.history[0]


def test_deterministic_backends_spend_no_repeat_beyond_the_first_check(tmp_path):
    quiet = _standin_run(tmp_path / "q.jsonl", cv=0.0)
    assert quiet.repeats == 1 and quiet.noise == 0.0  # one check measured the noise: none
    _check_log_holds_every_repeat(quiet, tmp_path / "q.jsonl")
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    with LocalRunner() as runner:
        sim = tune(net, HW, runner=runner, budget=20, seed=0, activity=act)
        assert sim.repeats == 0 and sim.noise is None  # auto: the simulator is deterministic
        forced = tune(
            net, HW, runner=runner, budget=20, seed=0, activity=act, racing=RacingOptions(repeats=4)
        )
        assert forced.repeats == 1 and forced.noise == 0.0
        off = tune(
            net, HW, runner=runner, budget=20, seed=0, activity=act, racing=RacingOptions(repeats=1)
        )
    assert off.repeats == 0 and off.values == sim.values


def test_a_race_cut_short_is_marked_so_the_log_replays_the_reported_best(tmp_path):
    """Budget 12 cuts the last race short: the challenger's mean is below the reported best's
    but not shown better, so a log ranked by mean alone named it; the undecided line ranks it
    after, and a resumed run with more budget races on (the line then no longer applies)."""
    path = tmp_path / "cut.jsonl"
    short = _standin_run(path, budget=12)
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    marks = [x for x in lines if x.get("kind") == "undecided"]
    assert len(marks) == 1
    tl = TuningLog(path)
    keys = (network("mlp_tiny").workload_key(), HW.key())
    ranked = tl.ranked(*keys)
    cut = next(r for r in ranked if r.input.key() == marks[0]["key"])
    assert tl.is_undecided(cut) and ranked[-1] is cut and cut.n_samples == marks[0]["samples"]
    assert cut.result.latency_s < short.best_result.latency_s  # the mean alone would pick it
    assert cut.input.mapping != short.best_mapping.to_json()
    assert tl.best(*keys).input.mapping == short.best_mapping.to_json()
    assert tl.lookup(cut.input) is not None  # its sample stays in the cache
    _check_log_holds_every_repeat(short, path)
    # resumed with more budget: the race goes on from the logged sample, the mark lapses
    longer = _standin_run(path, budget=30)
    assert longer.cache_hits >= 1 and longer.evaluations == 30
    tl = TuningLog(path)
    again = next(r for r in tl.ranked(*keys) if r.input.key() == marks[0]["key"])
    assert again.n_samples > marks[0]["samples"] and not tl.is_undecided(again)
    assert tl.best(*keys).input.mapping == longer.best_mapping.to_json()


def test_repeats_over_a_real_tracker_and_standin_host(tmp_path):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    log = tmp_path / "rpc.jsonl"
    args = ("--standin-seed", "3", "--standin-cost", "0")
    with LocalFarm(n_hosts=1, backend="standin", backend_args=args) as farm:
        with RPCRunner(*farm.tracker_addr, key=farm.key, timeout_s=60) as runner:
            result = tune(
                net,
                HW,
                runner=runner,
                strategy="bilevel",
                budget=14,
                seed=0,
                activity=act,
                fidelity="standin",
                log=str(log),
            )
    assert result.repeats >= 1  # the first apparent improvement is raced
    _check_log_holds_every_repeat(result, log)
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    lines = [x for x in lines if "kind" not in x]  # measurements (not an undecided race's line)
    assert all(x["result"]["host"].startswith("standin@") for x in lines)
    assert sorted(x.get("sample", 0) for x in lines if x.get("sample"))  # repeats are marked


def test_verdict_a_lucky_challenger_loses_once_resampled():
    policy = RacePolicy(max_samples=5, confidence=0.95)
    # one lucky draw 3 % below an incumbent measured 3 times, noise 2 %: not decided
    assert needs_race([0.97], [1.0, 1.01, 0.99], 0.02, 10, policy)
    assert verdict([0.97, 1.04], [1.0, 1.01, 0.99], 0.02, 10, policy) == "lose"
    # clearly better on the first sample: one confirming sample, then it wins
    assert needs_race([0.80], [1.0, 1.01, 0.99], 0.02, 10, policy)
    assert verdict([0.80, 0.81], [1.0, 1.01, 0.99], 0.02, 10, policy) == "win"
    # before any repeat the noise is unknown: race; measured 0: decided at once
    assert needs_race([0.999], [1.0], None, 0, policy)
    assert not needs_race([0.999], [1.0], 0.0, 3, policy)
    assert noise([[1.0], [2.0, 2.0], [3.0, 3.0]]) == (0.0, 2)
    sigma, df = noise([[1.0, 1.0 * math.exp(0.02)], [2.0, 2.0 * math.exp(-0.02)]])
    assert df == 2 and sigma == pytest.approx(0.02 / math.sqrt(2), rel=1e-9)
    # capped: the lower mean wins
    assert verdict([0.99] * 5, [1.0] * 5, 0.5, 20, policy) == "win"
    assert resolve_policy("auto", "fast").max_samples == 1
    assert resolve_policy("auto", "standin").max_samples == 5
    with pytest.raises(ValueError, match="repeats"):
        resolve_policy(0, "standin")
    with pytest.raises(TypeError, match="repeats"):
        resolve_policy("often", "standin")


def test_log_samples_aggregate_old_lines_and_reject_marks(tmp_path):
    path = tmp_path / "t.jsonl"
    inp = MeasureInput("w", "h", {"bounds": [[0, 1]], "core_ids": [0]}, "standin", "a")
    old = {  # a line as logs before repeats existed wrote it: no "sample" field
        "v": 1,
        "key": inp.key(),
        "input": inp.to_json(),
        "result": MeasureResult(1.0, 2.0, host="A").to_json(),
    }
    path.write_text(json.dumps(old) + "\n")
    log = TuningLog(path)
    assert log.lookup(inp).latency_s == 1.0 and log.lookup(inp).host == "A"
    assert not log.append(inp, MeasureResult(3.0, 4.0, host="B"))  # a first measurement twice
    assert log.append(inp, MeasureResult(3.0, 4.0, host="B"), repeat=True)  # a repeat: kept
    agg = log.lookup(inp)
    assert (agg.latency_s, agg.energy_j, agg.counters["samples"]) == (2.0, 3.0, 2)
    assert agg == aggregate(log.samples(inp)) and agg.host == "A+B"
    assert [r.sample for r in log.records()] == [0, 1]
    assert log.best("w", "h").result.latency_s == 2.0
    log.reject(inp, "A", by="B", reason="test")
    for reader in (log, TuningLog(path)):  # this reader and a fresh one
        assert [s.host for s in reader.samples(inp)] == ["B"]
        assert reader.best("w", "h").result.latency_s == 3.0
        summary = reader.summary()
        assert summary["reject_marks"] == 1 and summary["groups"][0]["rejected"] == 1
    log.reject(inp, "B", by="C")
    assert TuningLog(path).lookup(inp) is None and TuningLog(path).best("w", "h") is None
    assert TuningLog(path).append(inp, MeasureResult(5.0, 6.0, host="C"))  # measured again
    assert TuningLog(path).lookup(inp).latency_s == 5.0

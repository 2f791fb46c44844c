"""The surrogate-assisted strategy (issue #14 item 3): the reported best and every log record are
measurements, never model predictions; model and hardware evaluations are counted apart; a seeded
run is reproducible; and it runs end to end through a real tracker and stand-in host."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from _sim_workloads import activity, network

from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.samples import aggregate
from tvm_loihi.measure.standin import StandinRunner
from tvm_loihi.measure.tracker import LocalFarm
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.search.problem import MappingProblem
from tvm_loihi.tuning import tune
from tvm_loihi.tuning.surrogate import SurrogateStrategy

HW = get_preset("loihi2_1chip")
CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")
SMALL = {"batch": 4, "inner_evals": 40, "min_records": 8, "refit_every": 8, "ensemble": 2}


class RecordingRunner(StandinRunner):
    """The in-process stand-in, keeping every result it returned (to check what was measured)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.returned: list = []

    def submit(self, inputs):
        futures = super().submit(inputs)
        self.returned += [(i, f.result()) for i, f in zip(inputs, futures, strict=True)]
        return futures


def _tune(tmp_path, name: str = "log.jsonl", budget: int = 24, **kw):
    runner = RecordingRunner(seed=3, cv=0.02, cost_s=0.0, noise_seed=7)
    res = tune(
        network("mlp_tiny"),
        HW,
        runner=runner,
        strategy="surrogate",
        budget=budget,
        seed=0,
        activity=activity("mlp_tiny"),
        fidelity="standin",
        log=str(tmp_path / name),
        strategy_params=dict(SMALL, **kw),
    )
    return res, runner, TuningLog(str(tmp_path / name)).records()


def test_best_and_log_are_measurements_and_counts_are_apart(tmp_path):
    res, runner, records = _tune(tmp_path)
    # every log record is a stand-in measurement the runner returned, one per hardware evaluation
    returned = {(i.key(), r.latency_s) for i, r in runner.returned}
    assert len(records) == res.hardware_evaluations == res.evaluations <= 24
    assert all(r.input.fidelity == "standin" and r.result.counters["standin"] == 1 for r in records)
    assert all((r.input.key(), r.result.latency_s) in returned for r in records)
    # the reported best is measured: the mean of its mapping's logged samples (racing re-measures
    # a close challenger and the incumbent, tuning/racing.py), never a model prediction
    best = [r.result for r in records if r.input.mapping == res.best_mapping.to_json()]
    assert best and all(r.ok for r in best)
    assert res.best_result.latency_s == pytest.approx(aggregate(best).latency_s, rel=1e-12)
    assert res.model_evaluations > res.hardware_evaluations  # the model was searched, not measured
    j = res.to_json()
    assert j["model_evaluations"] == res.model_evaluations
    assert j["hardware_evaluations"] == res.hardware_evaluations


def test_other_strategies_make_no_model_evaluations(tmp_path):
    runner = StandinRunner(seed=3, cost_s=0.0, noise_seed=7)
    res = tune(
        network("mlp_tiny"),
        HW,
        runner=runner,
        strategy="random",
        budget=6,
        activity=activity("mlp_tiny"),
        fidelity="standin",
    )
    assert res.model_evaluations == 0 and res.hardware_evaluations == 6


def test_seeded_run_is_reproducible(tmp_path):
    a, _, ra = _tune(tmp_path, "a.jsonl", budget=14)
    b, _, rb = _tune(tmp_path, "b.jsonl", budget=14)
    assert a.history == b.history and a.best_mapping.to_json() == b.best_mapping.to_json()
    assert [r.input.key() for r in ra] == [r.input.key() for r in rb]
    assert a.model_evaluations == b.model_evaluations


def test_refits_ask_only_new_mappings_and_keep_state():
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    problem = MappingProblem(net, HW, act)
    runner = StandinRunner(seed=3, cost_s=0.0, noise_seed=1)
    runner.register(net, HW, act)
    strat = SurrogateStrategy(
        problem.space, problem=problem, seed=1, seeds=problem.seeds(), **SMALL
    )
    from tvm_loihi.measure.records import MeasureInput

    asked = []
    strat.tell(problem.default, (1.0,))  # as the driver does: the Lava default first
    for _ in range(20):
        g = strat.ask()
        assert g.key() not in {x.key() for x in asked}  # distinct, never re-measured
        asked.append(g)
        inp = MeasureInput(
            net.workload_key(), HW.key(), problem.decode(g).to_json(), "standin", act.key()
        )
        strat.tell(g, (runner.submit([inp])[0].result().latency_s,))
    fitted = [f for f in strat.fits if f["members"]]
    assert fitted and fitted[0]["records"] >= SMALL["min_records"]
    assert len(strat.members) == SMALL["ensemble"] and strat.members[0] != HW
    state = json.loads(json.dumps(strat.state()))
    again = SurrogateStrategy(
        problem.space, problem=problem, seed=1, seeds=problem.seeds(), **SMALL
    )
    again.load_state(state)
    assert again.ask().key() == strat.ask().key()


def test_bad_parameters_are_refused():
    problem = MappingProblem(network("mlp_tiny"), HW, activity("mlp_tiny"))
    with pytest.raises(ValueError, match="min_records"):
        SurrogateStrategy(problem.space, problem=problem, min_records=4)
    with pytest.raises(ValueError, match="inner"):
        SurrogateStrategy(problem.space, problem=problem, inner="surrogate")
    with pytest.raises(TypeError, match="MappingProblem"):
        SurrogateStrategy(problem.space)
    with pytest.raises(ValueError, match="one objective"):
        SurrogateStrategy(problem.space, problem=problem, n_obj=2)
    with pytest.raises(ValueError, match="local"):
        SurrogateStrategy(problem.space, problem=problem, batch=4, local=5)
    with pytest.raises(ValueError, match="fit_model"):
        SurrogateStrategy(problem.space, problem=problem, fit_model="exact")


def _measured_strategy(n: int, **kw):
    """A surrogate strategy told the Lava default and its first ``n`` asks, measured on the
    in-process stand-in, as the driver does."""
    from tvm_loihi.measure.records import MeasureInput

    net, act = network("mlp_tiny"), activity("mlp_tiny")
    problem = MappingProblem(net, HW, act)
    strat = SurrogateStrategy(
        problem.space, problem=problem, seed=2, seeds=problem.seeds(), **dict(SMALL, **kw)
    )
    runner = StandinRunner(seed=3, cost_s=0.0, noise_seed=1)
    runner.register(net, HW, act)
    strat.tell(problem.default, (1.0,))
    for _ in range(n):
        g = strat.ask()
        inp = MeasureInput(
            net.workload_key(), HW.key(), problem.decode(g).to_json(), "standin", act.key()
        )
        strat.tell(g, (runner.submit([inp])[0].result().latency_s,))
    return strat


def test_local_batch_is_the_model_best_of_unmeasured_neighbours_of_the_incumbent():
    # local=batch, one member: every queued candidate comes from the incumbent's neighbourhood
    strat = _measured_strategy(SMALL["min_records"] + 2, local=SMALL["batch"], ensemble=1)
    strat.queue.clear()
    if strat._refit_due():
        strat._refit()
    assert strat.n_fitted  # past the uncalibrated round
    state = strat.rng.bit_generator.state
    pool = strat._neighbours()
    strat.rng.bit_generator.state = state  # the round below draws the same neighbourhood
    assert pool and len({g.key() for g, _ in pool}) == len(pool)
    assert not {g.key() for g, _ in pool} & strat.seen  # never a measured mapping again
    assert [v for _, v in pool] == sorted(v for _, v in pool)
    strat._plan()
    keys = [g.key() for g in strat.queue]
    assert len(keys) == SMALL["batch"] and set(keys) <= {g.key() for g, _ in pool}
    # they are the model's best of the pool (up to per_counts' diversity rule)
    rank = {g.key(): i for i, (g, _) in enumerate(pool)}
    assert min(rank[k] for k in keys) == 0


def test_revise_moves_the_measured_figure_the_neighbourhood_centres_on():
    strat = _measured_strategy(4)
    g = next(iter(strat.measured.values()))[0]
    strat.revise(g, (1e-9,))  # racing's new aggregate for a mapping told before
    assert strat.measured[g.key()][1] == 1e-9
    assert min(strat.measured.values(), key=lambda gv: gv[1])[0].key() == g.key()


def test_event_model_fitted_with_the_fast_model_reports_only_measurements(tmp_path):
    res, runner, records = _tune(tmp_path, budget=24, model="event", fit_model="fast")
    returned = {(i.key(), r.latency_s) for i, r in runner.returned}
    assert len(records) == res.hardware_evaluations <= 24
    assert all((r.input.key(), r.result.latency_s) in returned for r in records)
    best = [r.result for r in records if r.input.mapping == res.best_mapping.to_json()]
    assert res.best_result.latency_s == pytest.approx(aggregate(best).latency_s, rel=1e-12)
    assert res.model_evaluations > 0  # the event model was searched, only measurements logged


def test_cli_tune_surrogate_through_a_real_tracker_and_standin_host(tmp_path):
    args = ("--standin-seed", "4", "--standin-cost", "0")
    with LocalFarm(n_hosts=1, backend="standin", backend_args=args) as farm:
        log, summary = tmp_path / "tune.jsonl", tmp_path / "s.json"
        run = subprocess.run(
            [
                CLI,
                "tune",
                "--workload",
                "mlp_tiny",
                "--runner",
                f"rpc://{farm.tracker_addr[0]}:{farm.tracker_addr[1]}/{farm.key}",
                "--fidelity",
                "standin",
                "--strategy",
                "surrogate",
                "--budget",
                "12",
                "--log",
                str(log),
                "--outdir",
                str(tmp_path / "out"),
                "--json",
                str(summary),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "hardware evaluations" in run.stdout and "model evaluations" in run.stdout
    records = TuningLog(str(log)).records()
    assert 0 < len(records) <= 12
    assert all(r.result.host.startswith("standin@") for r in records if r.result.ok)
    rec = json.loads(summary.read_text())["networks"][0]
    r0 = rec["runs"][0]
    assert r0["strategy"] == "surrogate" and r0["model_evaluations"] > 0
    assert r0["hardware_evaluations"] == len(records)
    # the best is measured: the mean of its mapping's logged samples (racing), not a prediction
    samples: dict[str, list] = {}
    for r in records:
        if r.result.ok:
            samples.setdefault(json.dumps(r.input.mapping, sort_keys=True), []).append(r.result)
    key = json.dumps(rec["best_mapping"], sort_keys=True)
    assert aggregate(samples[key]).latency_s == pytest.approx(
        rec["best"]["total_latency_s"], rel=1e-12
    )


def test_event_rerank_orders_each_batch_by_the_event_model_of_the_fit(tmp_path):
    res, _, records = _tune(tmp_path, budget=20, rerank="event")
    assert len(records) == res.hardware_evaluations <= 20  # still only measurements logged
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    problem = MappingProblem(net, HW, act)
    strat = SurrogateStrategy(  # local=0: the whole batch from the re-ranked shortlist
        problem.space,
        problem=problem,
        seed=2,
        seeds=problem.seeds(),
        rerank="event",
        local=0,
        **SMALL,
    )
    runner = StandinRunner(seed=3, cost_s=0.0, noise_seed=1)
    runner.register(net, HW, act)
    from tvm_loihi.measure.records import MeasureInput

    strat.tell(problem.default, (1.0,))
    for _ in range(SMALL["min_records"]):  # the uncalibrated round, then a fit is due
        g = strat.ask()
        inp = MeasureInput(
            net.workload_key(), HW.key(), problem.decode(g).to_json(), "standin", act.key()
        )
        strat.tell(g, (runner.submit([inp])[0].result().latency_s,))
    strat.queue.clear()
    strat._plan()
    assert strat.n_fitted and strat.queue
    event = [strat._predict(0, g, "event") for g in strat.queue]
    assert event == sorted(event)  # the batch in event-model order (per_counts keeps the order)
    with pytest.raises(ValueError, match="rerank"):
        SurrogateStrategy(problem.space, problem=problem, rerank="exact")

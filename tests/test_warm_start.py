"""Warm start (issue #14.5): seeds from the logs of other networks and other hardware are
repaired to valid mappings of the new problem, measured like any candidate, and the run is at
least as good as its seeds; untrusted log lines never yield an invalid mapping."""

from __future__ import annotations

import json

import pytest
from _networks import tiny_network
from _sim_workloads import network

from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.records import MeasureInput, MeasureResult
from tvm_loihi.measure.runner import LocalRunner
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.search.genome import is_feasible
from tvm_loihi.search.problem import MappingProblem
from tvm_loihi.tuning import WarmStartOptions, default_activity, tune
from tvm_loihi.tuning.warm import WarmStartWarning, warm_records, warm_seeds

HW1, HW2 = get_preset("loihi2_1chip"), get_preset("loihi2_2chip")


@pytest.fixture(scope="module")
def source_logs(tmp_path_factory):
    """A log of mlp_tiny (3 layers) on one chip and one of a 4-layer net on two chips."""
    d = tmp_path_factory.mktemp("warm")
    a, b = d / "tiny_1chip.jsonl", d / "deep_2chip.jsonl"
    with LocalRunner() as runner:
        tune(network("mlp_tiny"), HW1, runner=runner, budget=25, seed=0, log=str(a))
        deep = tiny_network((40, 120, 90, 60, 8), seed=2, name="deep")
        tune(deep, HW2, runner=runner, budget=15, seed=0, log=str(b))
    return a, b


def _target():
    net = tiny_network((48, 160, 72, 12), seed=5, name="target")
    return net, default_activity(net, HW1)


def test_seeds_from_other_networks_and_hardware_are_valid(source_logs):
    net, act = _target()
    problem = MappingProblem(net, HW1, act)
    seeds = warm_seeds(problem, list(source_logs), top_k=3)
    assert 2 <= len(seeds) <= 6 and len({g.key() for g in seeds}) == len(seeds)
    for g in seeds:
        assert is_feasible(g, problem.space)
        problem.decode(g).validate(net, HW1)  # raises on an invalid mapping
    records = warm_records(source_logs)
    assert {r.input.hardware_key for r in records} == {HW1.key(), HW2.key()}
    assert all(r.result.ok for r in records)


def test_warm_started_run_measures_its_seeds_and_is_at_least_as_good(source_logs, tmp_path):
    net, act = _target()
    seeds = warm_seeds(MappingProblem(net, HW1, act), list(source_logs), top_k=3)
    log = tmp_path / "t.jsonl"
    with LocalRunner() as runner:
        res = tune(
            net, HW1, runner=runner, budget=20, seed=0, activity=act, log=str(log),
            warm=WarmStartOptions(logs=tuple(source_logs), top_k=3),
        )  # fmt: skip
    assert res.warm_seeds == len(seeds)
    measured = {json.dumps(r.input.mapping, sort_keys=True): r.result for r in TuningLog(log)}
    problem = MappingProblem(net, HW1, act)
    seed_results = [
        measured[json.dumps(problem.decode(g).to_json(), sort_keys=True)] for g in seeds
    ]
    assert all(r.ok for r in seed_results)  # asked and measured, not taken from the source log
    assert res.best_result.latency_s <= min(r.latency_s for r in seed_results)
    # the first evaluations after the Lava default are the warm seeds, in order
    first = [json.dumps(r.input.mapping, sort_keys=True) for r in TuningLog(log)][
        1 : 1 + len(seeds)
    ]
    assert first == [json.dumps(problem.decode(g).to_json(), sort_keys=True) for g in seeds]


def test_untrusted_log_lines_never_give_an_invalid_seed(tmp_path):
    net, act = _target()
    problem = MappingProblem(net, HW1, act)
    path = tmp_path / "crafted.jsonl"
    # a "best" record claiming 1 ps with duplicate and out-of-range cores, and one that is no
    # mapping at all; plus a corrupt line
    bad = {"bounds": [[0, 50, 100]], "core_ids": [99999, 3]}
    junk = {"bounds": "x", "core_ids": [1]}
    lines = []
    for i, mapping in enumerate((bad, junk)):
        inp = MeasureInput("w", "h", mapping, "fast", "a")
        rec = {
            "v": 1,
            "input": inp.to_json(),
            "result": MeasureResult(1e-12 * (i + 1), 1.0).to_json(),
        }
        lines.append(json.dumps(rec))
    lines.append('{"v": 1, "input": 5}')
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(Warning) as caught:
        seeds = warm_seeds(problem, [path])
    assert any(issubclass(w.category, WarmStartWarning) for w in caught)
    for g in seeds:
        assert is_feasible(g, problem.space)
        problem.decode(g).validate(net, HW1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        warm_seeds(problem, [tmp_path / "missing.jsonl"])


def test_cli_warm_start(source_logs, tmp_path, capsys):
    from tvm_loihi.cli import main

    summary = tmp_path / "s.json"
    argv = ["tune", "--workload", "mlp_tiny", "--strategy", "bilevel", "--budget", "10",
            "--outdir", str(tmp_path / "out"), "--json", str(summary),
            "--warm-start", str(source_logs[1])]  # fmt: skip
    assert main(argv) == 0
    (run,) = json.loads(summary.read_text())["networks"][0]["runs"]
    assert run["warm_seeds"] >= 1 and run["repeats"] == 0
    assert "warm-start seed(s)" in capsys.readouterr().err
    assert main([*argv[:-1], str(tmp_path / "nope.jsonl")]) == 1

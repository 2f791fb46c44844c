"""tuning/verify.py: which candidates are verified, and that the log and the run are reused."""

from __future__ import annotations

from _networks import tiny_network

from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.records import MeasureError, MeasureInput, MeasureResult
from tvm_loihi.measure.runner import LocalRunner
from tvm_loihi.model.hardware import HardwareSpec
from tvm_loihi.model.mapping import Mapping, lava_default_mapping
from tvm_loihi.search.problem import MappingProblem
from tvm_loihi.tuning import default_activity
from tvm_loihi.tuning.verify import candidates, verify_candidates

NET = tiny_network((24, 16, 8), seed=7, name="verify_test")
HW = HardwareSpec("mesh3x3", routers_x=3, routers_y=3)
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

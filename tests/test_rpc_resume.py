"""A tuner measuring on a real RPC host is SIGKILLed mid-run and restarted on the same log: the
restart re-measures nothing the log holds, and (one candidate in flight, a deterministic strategy)
ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from _sim_workloads import activity, network

from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.rpc_runner import RPCRunner
from tvm_loihi.measure.runner import LocalRunner
from tvm_loihi.measure.tracker import LocalFarm
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.tuning import tune

WORKLOAD, BUDGET, SEED, STRATEGY = "mlp_tiny", 40, 5, "ga"
HW = get_preset("loihi2_1chip")

_TUNER = textwrap.dedent(f"""
    import sys, time
    sys.path.insert(0, {os.path.dirname(__file__)!r})
    from _sim_workloads import activity, network
    from tvm_loihi.model.hardware import get_preset
    from tvm_loihi.measure.rpc_runner import RPCRunner
    from tvm_loihi.tuning import tune
    host, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    net, act = network({WORKLOAD!r}), activity({WORKLOAD!r})
    with RPCRunner(host, port, n_parallel=1) as runner:
        tune(net, get_preset("loihi2_1chip"), runner=runner, strategy={STRATEGY!r}, budget={BUDGET},
             seed={SEED}, activity=act, log=log, callback=lambda p: time.sleep(0.1))
""")


class RecordingRPCRunner(RPCRunner):
    """An RPCRunner that remembers what it was asked to measure."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.submitted: list[str] = []

    def submit(self, inputs):
        self.submitted += [i.key() for i in inputs]
        return super().submit(inputs)


def _kill_when_logged(
    proc: subprocess.Popen, log: str, n_lines: int, timeout_s: float = 120
) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(log) and open(log).read().count("\n") >= n_lines:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            return open(log).read().count("\n")
        time.sleep(0.05)
    raise AssertionError(f"tuner exited ({proc.poll()}) or stalled before logging {n_lines} lines")


def test_sigkilled_tuner_resumes_with_zero_remeasurements(tmp_path):
    net, act = network(WORKLOAD), activity(WORKLOAD)
    log = str(tmp_path / "tune.jsonl")
    with LocalFarm(n_hosts=1) as farm:
        proc = subprocess.Popen(
            [sys.executable, "-c", _TUNER, *map(str, farm.tracker_addr), log],
            start_new_session=True,
        )
        try:
            logged = _kill_when_logged(proc, log, n_lines=15)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        assert proc.returncode == -signal.SIGKILL and 15 <= logged < BUDGET
        before = {r.input.key() for r in TuningLog(log).records()}
        assert len(before) == logged

        with RecordingRPCRunner(*farm.tracker_addr, n_parallel=1) as runner:
            resumed = tune(
                net,
                HW,
                runner=runner,
                strategy=STRATEGY,
                budget=BUDGET,
                seed=SEED,
                activity=act,
                log=log,
            )
    assert not before & set(runner.submitted), "the restart re-measured logged candidates"
    assert resumed.cache_hits == len(before) and len(runner.submitted) == BUDGET - len(before)
    after = TuningLog(log).records()
    assert len(after) == BUDGET and len({r.input.key() for r in after}) == BUDGET

    reference = tune(
        net,
        HW,
        runner=LocalRunner(),
        strategy=STRATEGY,
        budget=BUDGET,
        seed=SEED,
        activity=act,
        log=str(tmp_path / "reference.jsonl"),
    )
    assert resumed.history == reference.history
    assert resumed.best_mapping.to_json() == reference.best_mapping.to_json()


def test_resume_of_finished_run_measures_nothing(tmp_path):
    net, act = network(WORKLOAD), activity(WORKLOAD)
    log = str(tmp_path / "tune.jsonl")
    kwargs = dict(strategy=STRATEGY, budget=20, seed=SEED, activity=act, log=log)
    first = tune(net, HW, runner=LocalRunner(), **kwargs)
    again = tune(net, HW, runner=LocalRunner(), **kwargs)
    assert again.cache_hits == again.evaluations == 20 and first.history == again.history
    assert len(TuningLog(log).records()) == 20


_RACER = textwrap.dedent(f"""
    import json, sys
    sys.path.insert(0, {os.path.dirname(__file__)!r})
    from _sim_workloads import activity, network
    from tvm_loihi.model.hardware import get_preset
    from tvm_loihi.measure.runner import LocalRunner
    from tvm_loihi.tuning import tune
    net, act = network({WORKLOAD!r}), activity({WORKLOAD!r})
    res = tune(net, get_preset("loihi2_1chip"), runner=LocalRunner(), strategy="random", budget=30,
               seed=int(sys.argv[2]), activity=act, log=sys.argv[1])
    print(json.dumps({{"evaluations": res.evaluations, "cache_hits": res.cache_hits}}))
""")


def test_two_tuner_processes_share_one_log(tmp_path):
    # same seed: both propose the same candidates at the same time, so they race on every append
    log = str(tmp_path / "shared.jsonl")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, log, "7"],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    try:
        outs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
    assert [p.returncode for p in procs] == [0, 0]
    stats = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    assert all(s["evaluations"] == 30 for s in stats)
    records = TuningLog(log).records()
    keys = [r.input.key() for r in records]
    assert len(keys) == len(set(keys)) == 30, "a candidate was logged twice (or lost)"
    with open(log) as f:
        assert all(json.loads(line)["v"] == 1 for line in f)  # every line whole

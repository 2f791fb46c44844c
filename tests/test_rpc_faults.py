"""Farm faults that must end in bounded time (issue #11 item 4), on a real tracker and real hosts
on 127.0.0.1: a SIGSTOPed (wedged) host, a lost tracker, hosts held by another client. Only
generous upper bounds on time are asserted (3 x the configured time-outs), never speed."""

from __future__ import annotations

import os
import signal
import time

import pytest
from _sim_workloads import activity, network

from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.rpc_runner import (
    CALL_GRACE_S,
    FarmUnavailable,
    RPCRunner,
    request_session,
)
from tvm_loihi.measure.tracker import LocalFarm
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.tuning import tune

HW = get_preset("loihi2_1chip")
TIMEOUT_S = 5.0  # per-measurement limit of these runs
REQUEST_TIMEOUT_S = 10.0


def _signal_group(proc, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def test_sigstopped_host_is_left_behind_and_run_completes(tmp_path):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    log = tmp_path / "tune.jsonl"
    with LocalFarm(n_hosts=2) as farm:
        victim = farm.hosts[0]
        victim_addr = f"127.0.0.1:{victim.port}"
        stopped_at: list[float] = []

        def stop_victim(progress: dict) -> None:
            if stopped_at or progress["evaluations"] < 6:
                return
            if victim_addr in {r.result.host for r in TuningLog(log).records()}:
                _signal_group(victim, signal.SIGSTOP)  # listen process and its session: wedged
                stopped_at.append((time.monotonic(), time.time()))

        try:
            with RPCRunner(
                *farm.tracker_addr,
                key=farm.key,
                timeout_s=TIMEOUT_S,
                request_timeout_s=REQUEST_TIMEOUT_S,
                max_attempts=3,
            ) as runner:
                result = tune(
                    net,
                    HW,
                    runner=runner,
                    strategy="random",
                    budget=30,
                    seed=5,
                    activity=act,
                    fidelity="fast",
                    log=str(log),
                    callback=stop_victim,
                )
            ended = time.monotonic()
        finally:
            _signal_group(victim, signal.SIGCONT)
    assert stopped_at, "the victim host never measured"
    assert result.evaluations == 30 and result.stop_reason == "budget"
    records = TuningLog(log).records()
    assert all(r.result.ok for r in records), [r.result.message for r in records if not r.result.ok]
    # one wedged call costs the deadline plus a bounded close, then the candidate is retried
    bound = 3 * (TIMEOUT_S + CALL_GRACE_S + REQUEST_TIMEOUT_S)
    assert ended - stopped_at[0][0] < bound, (ended - stopped_at[0][0], bound)
    after = {r.result.host for r in records if r.result.timestamp > stopped_at[0][1]}
    assert after and victim_addr not in after, after


def _tune_forever(runner, log, callback=None):
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    return tune(
        net,
        HW,
        runner=runner,
        strategy="random",
        budget=100_000,
        seed=6,
        activity=act,
        fidelity="event",
        log=str(log),
        callback=callback,
    )


def test_lost_tracker_ends_the_run_with_how_to_resume(tmp_path):
    log = tmp_path / "tune.jsonl"
    give_up_s, session_s = 10.0, 20.0  # sessions need renewing ~5 s after the tracker is gone
    with LocalFarm(n_hosts=2) as farm:
        killed_at: list[float] = []

        def kill_tracker(progress: dict) -> None:
            if not killed_at and progress["evaluations"] >= 3:
                farm.tracker.kill()
                killed_at.append(time.monotonic())

        with RPCRunner(
            *farm.tracker_addr,
            key=farm.key,
            timeout_s=TIMEOUT_S,
            session_timeout_s=session_s,
            request_timeout_s=REQUEST_TIMEOUT_S,
            give_up_after_s=give_up_s,
        ) as runner:
            with pytest.raises(FarmUnavailable) as err:
                _tune_forever(runner, log, kill_tracker)
        ended = time.monotonic()
    assert killed_at
    message = str(err.value)
    assert "tracker" in message and "unreachable" in message and "resume" in message, message
    assert "\n" not in message
    assert ended - killed_at[0] < 3 * (session_s + give_up_s + REQUEST_TIMEOUT_S)
    measured = [r for r in TuningLog(log).records() if r.result.ok]
    assert len(measured) >= 3  # the log keeps what was measured before the tracker died


def test_hosts_held_by_another_client_end_in_bounded_time(tmp_path):
    give_up_s = 8.0
    with LocalFarm(n_hosts=2) as farm:
        held = [request_session(farm.tracker_addr, farm.key, 120, 30) for _ in range(2)]
        try:
            start = time.monotonic()
            with RPCRunner(
                *farm.tracker_addr,
                key=farm.key,
                timeout_s=TIMEOUT_S,
                request_timeout_s=3.0,
                give_up_after_s=give_up_s,
            ) as runner:
                with pytest.raises(FarmUnavailable, match="stayed busy") as err:
                    _tune_forever(runner, tmp_path / "tune.jsonl")
            assert time.monotonic() - start < 3 * (give_up_s + 3.0 + TIMEOUT_S)
            assert "resume" in str(err.value)
        finally:
            del held

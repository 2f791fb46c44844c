"""Benchmark: measurement in the loop through the RPC tracker on loopback.

Measures, side by side in one run (event fidelity on ``mlp_b`` unless told otherwise):

* measurements per second with 1, 2 and 4 hosts, and parallel efficiency ``rate_n / (n * rate_1)``;
* RPC overhead per measurement vs the in-process ``LocalRunner`` (same candidates, same backend);
* the local process pool (``PoolRunner``) at the same worker counts, for reference;
* the cache hit rate of a tuning run SIGKILLed half-way and resumed on the same log;
* the cost of authentication (``--insecure`` hosts vs HMAC-authenticated ones, issue #11.2): per
  measurement (near-free ``mlp_tiny`` measurements, 1 host) and per session (open + handshake);
* the cost of the result checks per measurement (strict parse + range check vs the unchecked parse,
  as a ratio), and the time to recover from a wedged (SIGSTOPed) host and to end on a lost tracker
  (``--faults-only`` redoes just these);
* scale-out of a whole tuning run at the fast fidelity (issue #15.5; ``--scale-only`` redoes just
  this): ``--scale-budget`` (200) evaluations of a seeded bilevel tune, in process and over RPC
  with 1 and 2 hosts, batched (the default) and one candidate per request: evaluations per second,
  parallel efficiency ``rate_2 / (2 rate_1)``, speed-up vs in-process, the per-host split, the
  mean batch and the RPC overhead per candidate, and the CPU accounting that bounds it (the tuner
  process's own CPU per evaluation, the hosts' time per measurement).

Prints a table and writes ``results/bench_rpc.json``. Absolute rates depend on the machine's cores
(printed): hosts beyond the core count share CPUs, so efficiency there measures the machine, not the
RPC path.

Usage: ``python scripts/bench_rpc.py [--workload mlp_b] [--fidelity event] [--n 48] [--hosts 1 2
4] [--auth-only]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time


def candidates(network, hardware, activity, n: int, seed: int = 0) -> list:
    """``n`` distinct feasible random mappings (the random strategy's proposals), as
    MeasureInputs."""
    from tvm_loihi.search import get_strategy
    from tvm_loihi.search.problem import MappingProblem

    problem = MappingProblem(network, hardware, activity)
    strategy = get_strategy("random")(problem.space, budget=n, seed=seed)
    seen, out = set(), []
    while len(out) < n:
        mapping = problem.decode(strategy.ask()).to_json()
        key = json.dumps(mapping, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(mapping)
    return out


def timed_batch(runner, inputs) -> tuple[float, list]:
    """Wall time to measure ``inputs`` (all submitted at once), and the results."""
    start = time.perf_counter()
    results = [f.result(timeout=600) for f in runner.submit(inputs)]
    return time.perf_counter() - start, results


def bench_local(net, hw, act, inputs) -> dict:
    from tvm_loihi.measure.runner import LocalRunner

    runner = LocalRunner()
    runner.register(net, hw, act)
    timed_batch(runner, inputs[:2])  # warm caches (slice statistics) like a tuner's first ones
    wall, results = timed_batch(runner, inputs)
    assert all(r.ok for r in results), [r.message for r in results if not r.ok][:3]
    return {
        "runner": "local",
        "workers": 1,
        "wall_s": wall,
        "rate": len(inputs) / wall,
        "per_measurement_s": wall / len(inputs),
        "results": [r.latency_s for r in results],
    }


def bench_rpc(net, hw, act, inputs, n_hosts: int, insecure: bool = False) -> dict:
    from tvm_loihi.measure.rpc_runner import RPCRunner
    from tvm_loihi.measure.tracker import LocalFarm

    with (
        LocalFarm(n_hosts=n_hosts, insecure=insecure) as farm,
        RPCRunner(*farm.tracker_addr, key=farm.key, timeout_s=300, secret=farm.secret) as runner,
    ):
        runner.register(net, hw, act)
        timed_batch(runner, inputs[:n_hosts])  # warm-up: one session and one upload per host
        wall, results = timed_batch(runner, inputs)
        hosts = sorted({r.host for r in results})
    assert all(r.ok for r in results), [r.message for r in results if not r.ok][:3]
    return {
        "runner": "rpc",
        "workers": n_hosts,
        "wall_s": wall,
        "rate": len(inputs) / wall,
        "per_measurement_s": wall / len(inputs),
        "hosts_used": len(hosts),
        "results": [r.latency_s for r in results],
    }


def bench_pool(net, hw, act, inputs, n_workers: int) -> dict:
    from tvm_loihi.measure.pool_runner import PoolRunner

    with PoolRunner(n_workers=n_workers, timeout_s=300) as runner:
        runner.register(net, hw, act)
        timed_batch(runner, inputs[:n_workers])  # warm-up: start the workers, load the workload
        wall, results = timed_batch(runner, inputs)
    assert all(r.ok for r in results), [r.message for r in results if not r.ok][:3]
    return {
        "runner": "pool",
        "workers": n_workers,
        "wall_s": wall,
        "rate": len(inputs) / wall,
        "per_measurement_s": wall / len(inputs),
        "results": [r.latency_s for r in results],
    }


_TUNER = textwrap.dedent("""
    import sys
    from tvm_loihi.model.hardware import get_preset
    from tvm_loihi.measure.rpc_runner import RPCRunner
    from tvm_loihi.model.network import NetworkIR
    from tvm_loihi.tuning import tune
    from tvm_loihi.model.workloads import WORKLOADS, sample_inputs
    from tvm_loihi.model.activity import activity_from_float
    host, port, log, net_path, hw_name, workload, fidelity, budget, n_parallel = sys.argv[1:10]
    net = NetworkIR.load(net_path)
    act = activity_from_float(net, sample_inputs(WORKLOADS[workload]))
    with RPCRunner(host, int(port), n_parallel=int(n_parallel)) as runner:
        tune(net, get_preset(hw_name), runner=runner, strategy="ga", budget=int(budget), seed=0,
             activity=act, fidelity=fidelity, log=log)
""")


def bench_resume(
    net, hw, act, workload: str, fidelity: str, budget: int, n_hosts: int, n_parallel: int
) -> dict:
    """Tune in a subprocess, SIGKILL it half-way, resume on the same log; report the cache hit rate
    and how many logged candidates the resumed run sent to a host again (should be 0)."""
    from tvm_loihi.measure.log import TuningLog
    from tvm_loihi.measure.rpc_runner import RPCRunner
    from tvm_loihi.measure.tracker import LocalFarm
    from tvm_loihi.tuning import tune

    class RecordingRPCRunner(RPCRunner):
        submitted: list

        def submit(self, inputs):
            self.submitted = [*getattr(self, "submitted", []), *(i.key() for i in inputs)]
            return super().submit(inputs)

    tmp = tempfile.mkdtemp(prefix="bench_rpc_")
    log, net_path = os.path.join(tmp, "tune.jsonl"), os.path.join(tmp, "net.npz")
    net.save(net_path)
    with LocalFarm(n_hosts=n_hosts) as farm:
        argv = [
            sys.executable,
            "-c",
            _TUNER,
            *map(str, farm.tracker_addr),
            log,
            net_path,
            hw.name,
            workload,
            fidelity,
            str(budget),
            str(n_parallel),
        ]
        proc = subprocess.Popen(argv, start_new_session=True)
        try:
            while proc.poll() is None and (
                not os.path.exists(log) or open(log).read().count("\n") < budget // 2
            ):
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        logged = {r.input.key() for r in TuningLog(log).records()}
        with RecordingRPCRunner(*farm.tracker_addr, n_parallel=n_parallel) as runner:
            resumed = tune(
                net,
                hw,
                runner=runner,
                strategy="ga",
                budget=budget,
                seed=0,
                activity=act,
                fidelity=fidelity,
                log=log,
            )
    errors = sorted({r.result.message[:120] for r in TuningLog(log).records() if not r.result.ok})
    return {
        "budget": budget,
        "in_flight": n_parallel,
        "logged_before_kill": len(logged),
        "error_results": errors,
        "evaluations": resumed.evaluations,
        "cache_hits": resumed.cache_hits,
        "hit_rate": resumed.cache_hits / resumed.evaluations,
        "reused_of_logged": resumed.cache_hits / max(1, len(logged)),
        "re_measured": len(logged & set(getattr(runner, "submitted", []))),
    }


def bench_overhead(n: int = 200) -> dict:
    """Per-measurement cost of the RPC path where the measurement itself is nearly free (mlp_tiny,
    fast)."""
    from tvm_loihi.measure.records import MeasureInput
    from tvm_loihi.model.activity import activity_from_float
    from tvm_loihi.model.hardware import get_preset
    from tvm_loihi.model.quantize import quantize_network
    from tvm_loihi.model.workloads import WORKLOADS, float_layers, sample_inputs

    spec = WORKLOADS["mlp_tiny"]
    net = quantize_network(float_layers(spec), calibration=sample_inputs(spec), name=spec.name)
    hw = get_preset(spec.hardware)
    act = activity_from_float(net, sample_inputs(spec))
    inputs = [
        MeasureInput(net.workload_key(), hw.key(), m, "fast") for m in candidates(net, hw, act, n)
    ]
    local, rpc = bench_local(net, hw, act, inputs), bench_rpc(net, hw, act, inputs, 1)
    return {
        "workload": "mlp_tiny",
        "fidelity": "fast",
        "n": n,
        "local_ms": local["per_measurement_s"] * 1e3,
        "rpc_ms": rpc["per_measurement_s"] * 1e3,
        "overhead_ms": (rpc["per_measurement_s"] - local["per_measurement_s"]) * 1e3,
    }


def _session_setup_s(farm, n: int) -> float:
    """Median time to get a session from the tracker and authenticate it (then release it)."""
    from tvm_loihi.measure.rpc_runner import request_session
    from tvm_loihi.measure.tracker import free_hosts

    times = []
    for _ in range(n):
        while not free_hosts(farm.summary(), farm.key):  # the last session's host re-registers
            time.sleep(0.02)
        start = time.perf_counter()
        sess = request_session(farm.tracker_addr, farm.key, 60, 30, secret=farm.secret)
        sess.get_function("tvm_loihi.remote.version")()
        times.append(time.perf_counter() - start)
        del sess
    return sorted(times)[len(times) // 2]


def bench_auth(n: int = 200, repeats: int = 3, sessions: int = 10) -> dict:
    """Authenticated vs ``--insecure`` hosts: per measurement (mlp_tiny, fast, 1 host; fastest of
    ``repeats`` interleaved rounds) and per session (median of ``sessions`` opens)."""
    from tvm_loihi.measure.auth import ENV_FILE_VAR, ENV_VAR
    from tvm_loihi.measure.records import MeasureInput
    from tvm_loihi.measure.tracker import LocalFarm
    from tvm_loihi.model.activity import activity_from_float
    from tvm_loihi.model.hardware import get_preset
    from tvm_loihi.model.quantize import quantize_network
    from tvm_loihi.model.workloads import WORKLOADS, float_layers, sample_inputs

    for var in (ENV_VAR, ENV_FILE_VAR):  # the insecure rounds must not find a secret
        os.environ.pop(var, None)
    spec = WORKLOADS["mlp_tiny"]
    net = quantize_network(float_layers(spec), calibration=sample_inputs(spec), name=spec.name)
    hw = get_preset(spec.hardware)
    act = activity_from_float(net, sample_inputs(spec))
    inputs = [
        MeasureInput(net.workload_key(), hw.key(), m, "fast") for m in candidates(net, hw, act, n)
    ]
    best = {"insecure": float("inf"), "auth": float("inf")}
    results = {}
    for rep in range(repeats):
        for mode in ("insecure", "auth"):
            row = bench_rpc(net, hw, act, inputs, 1, insecure=(mode == "insecure"))
            print(
                f"  auth round {rep + 1}: {mode}: {row['per_measurement_s'] * 1e3:.2f} ms/meas",
                flush=True,
            )
            best[mode] = min(best[mode], row["per_measurement_s"])
            results[mode] = row["results"]
    setup = {}
    for mode in ("insecure", "auth"):
        with LocalFarm(n_hosts=1, insecure=(mode == "insecure")) as farm:
            setup[mode] = _session_setup_s(farm, sessions)
    return {
        "workload": "mlp_tiny",
        "fidelity": "fast",
        "n": n,
        "repeats": repeats,
        "insecure_ms": best["insecure"] * 1e3,
        "auth_ms": best["auth"] * 1e3,
        "per_measurement_ratio": best["auth"] / best["insecure"],
        "session_insecure_ms": setup["insecure"] * 1e3,
        "session_auth_ms": setup["auth"] * 1e3,
        "per_session_ratio": setup["auth"] / setup["insecure"],
        "same_results": results["insecure"] == results["auth"],
    }


def print_auth(a: dict) -> None:
    print(f"\n{'authentication':16s} {'insecure':>10s} {'hmac':>10s} {'ratio':>7s}")
    print(
        f"{'ms/measurement':16s} {a['insecure_ms']:10.2f} {a['auth_ms']:10.2f} "
        f"{a['per_measurement_ratio']:7.3f}"
    )
    print(
        f"{'ms/session open':16s} {a['session_insecure_ms']:10.1f} "
        f"{a['session_auth_ms']:10.1f} {a['per_session_ratio']:7.3f}"
    )
    print(
        f"(mlp_tiny, fast, {a['n']} measurements on 1 host, fastest of {a['repeats']} rounds; "
        f"same figures: {a['same_results']})"
    )


def bench_checks(n: int = 2000) -> dict:
    """Client-side cost per result of :mod:`tvm_loihi.measure.checks` vs the unchecked parse, on a
    real result's JSON text (mlp_tiny, fast)."""
    from tvm_loihi.measure import backend
    from tvm_loihi.measure.checks import check_result, parse_result, tolerance_for
    from tvm_loihi.measure.records import MeasureResult
    from tvm_loihi.model.mapping import lava_default_mapping
    from tvm_loihi.sim import lower_bound

    net, hw, act = _tiny()
    text = json.dumps(
        backend.measure(net, hw, act, lava_default_mapping(net, hw).to_json()).to_json()
    )
    bound, tol = lower_bound(net, hw, act), tolerance_for("fast")
    start = time.perf_counter()
    for _ in range(n):
        MeasureResult.from_json(json.loads(text))
    unchecked = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n):
        res, _problem = parse_result(text)
        check_result(res, bound, tol)
    checked = (time.perf_counter() - start) / n
    measure_s = backend.measure(net, hw, act, lava_default_mapping(net, hw).to_json()).wall_s
    return {
        "unchecked_us": unchecked * 1e6,
        "checked_us": checked * 1e6,
        "ratio": checked / unchecked,
        "share_of_fast_measurement": checked / measure_s,
    }


def _tiny():
    from tvm_loihi.model.activity import activity_from_float
    from tvm_loihi.model.hardware import get_preset
    from tvm_loihi.model.quantize import quantize_network
    from tvm_loihi.model.workloads import WORKLOADS, float_layers, sample_inputs

    spec = WORKLOADS["mlp_tiny"]
    net = quantize_network(float_layers(spec), calibration=sample_inputs(spec), name=spec.name)
    return net, get_preset(spec.hardware), activity_from_float(net, sample_inputs(spec))


def bench_wedged(timeout_s: float = 5.0, n: int = 40) -> dict:
    """SIGSTOP one host of two while ``n`` candidates are queued: seconds from the stop until every
    candidate has a result (the wedged call's deadline, then a retry elsewhere)."""
    from tvm_loihi.measure.records import MeasureInput
    from tvm_loihi.measure.rpc_runner import CALL_GRACE_S, RPCRunner
    from tvm_loihi.measure.tracker import LocalFarm

    net, hw, act = _tiny()
    inputs = [
        MeasureInput(net.workload_key(), hw.key(), m, "event") for m in candidates(net, hw, act, n)
    ]
    with (
        LocalFarm(n_hosts=2) as farm,
        RPCRunner(*farm.tracker_addr, key=farm.key, timeout_s=timeout_s) as runner,
    ):
        runner.register(net, hw, act)
        timed_batch(runner, inputs[:4])  # warm-up: both sessions open
        futures = runner.submit(inputs[4:])
        futures[1].result(timeout=600)
        victim = farm.hosts[0]
        os.killpg(victim.pid, signal.SIGSTOP)
        stopped = time.perf_counter()
        try:
            results = [f.result(timeout=600) for f in futures]
            recovered = time.perf_counter() - stopped
        finally:
            os.killpg(victim.pid, signal.SIGCONT)
    return {
        "timeout_s": timeout_s,
        "deadline_s": timeout_s + CALL_GRACE_S,
        "recovery_s": recovered,
        "ok": sum(r.ok for r in results),
        "n": len(results),
    }


def bench_lost_tracker(session_timeout_s: float = 20.0, give_up_after_s: float = 10.0) -> dict:
    """Kill the tracker mid-run: seconds until the runner refuses work with FarmUnavailable."""
    from tvm_loihi.measure.records import MeasureInput
    from tvm_loihi.measure.rpc_runner import FarmUnavailable, RPCRunner
    from tvm_loihi.measure.tracker import LocalFarm

    net, hw, act = _tiny()
    inputs = [
        MeasureInput(net.workload_key(), hw.key(), m, "event")
        for m in candidates(net, hw, act, 400)
    ]
    with (
        LocalFarm(n_hosts=2) as farm,
        RPCRunner(
            *farm.tracker_addr,
            key=farm.key,
            timeout_s=5.0,
            session_timeout_s=session_timeout_s,
            request_timeout_s=5.0,
            give_up_after_s=give_up_after_s,
        ) as runner,
    ):
        runner.register(net, hw, act)
        timed_batch(runner, inputs[:4])
        farm.tracker.kill()
        killed = time.perf_counter()
        message = ""
        for inp in inputs[4:]:
            try:
                runner.submit([inp])[0].result(timeout=600)
            except FarmUnavailable as exc:
                message = str(exc)
                break
        ended = time.perf_counter() - killed
    return {
        "session_timeout_s": session_timeout_s,
        "give_up_after_s": give_up_after_s,
        "ended_s": ended,
        "message": message,
    }


def _fresh_workload(workload: str):
    """The workload with new network/activity objects: the simulator's per-partition caches (keyed
    by those objects) start cold, as in a new tuning process."""
    from tvm_loihi.model.activity import activity_from_float
    from tvm_loihi.model.hardware import get_preset
    from tvm_loihi.model.quantize import quantize_network
    from tvm_loihi.model.workloads import WORKLOADS, float_layers, sample_inputs

    spec = WORKLOADS[workload]
    net = quantize_network(float_layers(spec), calibration=sample_inputs(spec), name=spec.name)
    return net, get_preset(spec.hardware), activity_from_float(net, sample_inputs(spec))


def _timed_tune(runner, workload: str, budget: int) -> dict:
    """A seeded bilevel tune at the fast fidelity: wall time, the tuner process's CPU time, the
    per-host figures and the value sequence (to check every configuration's reproducibility)."""
    from tvm_loihi.tuning import tune

    net, hw, act = _fresh_workload(workload)
    cpu, start = time.process_time(), time.perf_counter()
    result = tune(
        net,
        hw,
        runner=runner,
        strategy="bilevel",
        budget=budget,
        seed=0,
        activity=act,
        fidelity="fast",
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "wall_s": wall,
        "rate": result.evaluations / wall,
        "evaluations": result.evaluations,
        "tuner_cpu_s": cpu,
        "tuner_cpu_ms_per_eval": cpu / result.evaluations * 1e3,
        "hosts": result.hosts,
        "values": [v if v != float("inf") else None for v in result.values],
    }


def bench_scaleout(workload: str = "mlp_b", budget: int = 200, repeats: int = 2) -> dict:
    """Whole tuning runs (fast fidelity) in process and over RPC; see the module docstring."""
    from tvm_loihi.measure.rpc_runner import DEFAULT_BATCH, RPCRunner
    from tvm_loihi.measure.runner import LocalRunner
    from tvm_loihi.measure.tracker import LocalFarm

    configs = [
        ("local", 0, 0),
        ("rpc", 1, DEFAULT_BATCH),
        ("rpc", 2, DEFAULT_BATCH),
        ("rpc", 1, 1),
        ("rpc", 2, 1),
    ]
    best: dict = {}
    load_start = os.getloadavg()[0]
    for rep in range(repeats):
        for runner_name, n_hosts, batch in configs:
            if runner_name == "local":
                row = _timed_tune(LocalRunner(), workload, budget)
            else:
                with (
                    LocalFarm(n_hosts=n_hosts) as farm,
                    RPCRunner(*farm.tracker_addr, key=farm.key, batch=batch) as runner,
                ):
                    row = _timed_tune(runner, workload, budget)
                    row["in_flight"] = runner.n_parallel
            row.update(runner=runner_name, hosts_n=n_hosts, batch=batch)
            print(
                f"  scale round {rep + 1}: {runner_name} x{n_hosts} batch {batch}: "
                f"{row['wall_s']:.2f} s, tuner CPU {row['tuner_cpu_ms_per_eval']:.1f} ms/eval, "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            key = (runner_name, n_hosts, batch)
            if key not in best or row["wall_s"] < best[key]["wall_s"]:
                best[key] = row
    rows = [best[c] for c in configs]
    local = rows[0]
    best_one = max(r["rate"] for r in rows if r["runner"] == "rpc" and r["hosts_n"] == 1)
    for row in rows:
        one = best.get((row["runner"], 1, row["batch"]), row)
        row["efficiency"] = row["rate"] / (max(1, row["hosts_n"]) * one["rate"])
        # against the fastest 1-host configuration, whatever its batching (the stricter figure)
        row["efficiency_vs_best_1"] = (
            row["rate"] / (row["hosts_n"] * best_one) if row["runner"] == "rpc" else 1.0
        )
        row["speedup_vs_local"] = row["rate"] / local["rate"]
        row["same_values_as_local"] = row["values"] == local["values"]
        hs = row["hosts"].values()
        measured = sum(h["measured"] for h in hs)
        row["split"] = [h["measured"] for h in hs]
        if row["runner"] == "rpc":
            calls = sum(h["calls"] for h in hs)
            host_s = sum(h["host_s"] for h in hs)
            row["mean_batch"] = measured / max(1, calls)
            row["host_ms_per_measurement"] = host_s / max(1, measured) * 1e3
            row["host_s_total"] = host_s
            row["overhead_ms_per_measurement"] = (
                (sum(h["rpc_s"] for h in hs) - host_s) / max(1, measured) * 1e3
            )
    for row in rows:
        row.pop("values")
    return {
        "workload": workload,
        "budget": budget,
        "repeats": repeats,
        "cpu_count": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg()[0],
        "rows": rows,
        "floor": scaleout_floor(rows),
    }


def scaleout_floor(rows: list[dict]) -> dict:
    """What bounds the 2-host efficiency on this machine, from the measured figures.

    On ``C`` cores an evaluation costs the tuner ``t`` CPU (ask, tell, RPC client) and a host
    ``m`` (its measurement, on cold per-host caches), so 2 hosts give at most ``C / (t + m)``
    evaluations per second however well batched, at most ``2 / (m + o)`` (``o``: RPC overhead per
    candidate), and at most ``1 / t`` (the tuner is one Python process: its asks, tells and the
    problem's traffic model are serial); 1 host, pipelined with the tuner, gives
    ``min(1 / (m + o), C / (t + m), 1 / t)``. The efficiency bound is their ratio over 2 (other
    processes on the machine lower it further). ``t`` includes building the search problem
    (per-partition traffic), which the in-process runner's measurements then reuse from the same
    caches; the hosts compute it again.
    """
    by = {(r["runner"], r["hosts_n"], r["batch"]): r for r in rows}
    one = next(r for k, r in by.items() if k[0] == "rpc" and k[1] == 1 and k[2] > 1)
    two = next(r for k, r in by.items() if k[0] == "rpc" and k[1] == 2 and k[2] > 1)
    cores = os.cpu_count() or 1
    t = two["tuner_cpu_ms_per_eval"] / 1e3
    m1, m2 = one["host_ms_per_measurement"] / 1e3, two["host_ms_per_measurement"] / 1e3
    o = one["overhead_ms_per_measurement"] / 1e3
    rate_1 = min(1.0 / (m1 + o), cores / (t + m1), 1.0 / t)
    rate_2 = min(2.0 / (m2 + o), cores / (t + m2), 1.0 / t)
    return {
        "tuner_ms_per_eval": t * 1e3,
        "tuner_bound_rate": 1.0 / t,
        "local_cpu_ms_per_eval": by[("local", 0, 0)]["tuner_cpu_ms_per_eval"],
        "host_ms_per_measurement_1": m1 * 1e3,
        "host_ms_per_measurement_2": m2 * 1e3,
        "overhead_ms": o * 1e3,
        "host_work_ratio_2_vs_1": two["host_s_total"] / one["host_s_total"],
        "bound_efficiency": rate_2 / (2 * rate_1),
    }


def print_scaleout(sc: dict) -> None:
    print(
        f"\nscale-out: {sc['budget']} evaluations of a seeded bilevel tune, {sc['workload']}, "
        f"fast fidelity, {sc['cpu_count']} cores (load {sc['load_average_start']:.1f} -> "
        f"{sc['load_average_end']:.1f}), fastest of {sc['repeats']}"
    )
    print(
        f"{'runner':7s} {'hosts':>5s} {'batch':>5s} {'wall s':>7s} {'eval/s':>7s} "
        f"{'effic.':>7s} {'vs b.1':>6s} {'vs local':>8s} {'split':>10s} {'mean b':>6s} "
        f"{'host ms':>7s} {'ovh ms':>6s} {'tuner ms':>8s}"
    )
    for r in sc["rows"]:
        split = "/".join(map(str, r["split"]))
        extra = (
            f"{r['mean_batch']:6.2f} {r['host_ms_per_measurement']:7.1f} "
            f"{r['overhead_ms_per_measurement']:6.2f}"
            if r["runner"] == "rpc"
            else f"{'':6s} {'':7s} {'':6s}"
        )
        print(
            f"{r['runner']:7s} {r['hosts_n']:5d} {r['batch']:5d} {r['wall_s']:7.2f} "
            f"{r['rate']:7.1f} {r['efficiency']:7.0%} {r['efficiency_vs_best_1']:6.0%} "
            f"{r['speedup_vs_local']:7.2f}x "
            f"{split:>10s} {extra} {r['tuner_cpu_ms_per_eval']:8.1f}"
        )
    f = sc["floor"]
    print(
        f"floor: tuner {f['tuner_ms_per_eval']:.1f} ms CPU/eval, host "
        f"{f['host_ms_per_measurement_1']:.1f} ms/measurement with 1 host, "
        f"{f['host_ms_per_measurement_2']:.1f} with 2 (host work x"
        f"{f['host_work_ratio_2_vs_1']:.2f}: each host warms its own caches), overhead "
        f"{f['overhead_ms']:.2f} ms -> efficiency bound {f['bound_efficiency']:.0%} on "
        f"{sc['cpu_count']} cores"
    )
    print(
        f"       the tuner process alone allows {f['tuner_bound_rate']:.1f} eval/s "
        f"({f['tuner_ms_per_eval']:.1f} ms CPU/eval, serial) vs in-process "
        f"{f['local_cpu_ms_per_eval']:.1f} ms CPU/eval (tuner + measurement): speed-up vs local "
        f"at most {f['local_cpu_ms_per_eval'] / f['tuner_ms_per_eval']:.2f}x with any number "
        "of hosts"
    )


def bench_faults() -> dict:
    return {
        "checks": bench_checks(),
        "wedged_host": bench_wedged(),
        "lost_tracker": bench_lost_tracker(),
    }


def print_faults(f: dict) -> None:
    c, w, t = f["checks"], f["wedged_host"], f["lost_tracker"]
    print(f"\n{'fault / check':34s} {'figure':>12s} {'reference':>22s} {'ratio':>7s}")
    print(
        f"{'result check per measurement':34s} {c['checked_us']:10.1f}us "
        f"{c['unchecked_us']:12.1f}us unchecked {c['ratio']:6.2f}x"
    )
    print(
        f"{'recover from a SIGSTOPed host':34s} {w['recovery_s']:11.1f}s "
        f"{w['deadline_s']:11.1f}s deadline {w['recovery_s'] / w['deadline_s']:6.2f}x"
    )
    bound = t["session_timeout_s"] + t["give_up_after_s"]
    print(
        f"{'end on a lost tracker':34s} {t['ended_s']:11.1f}s "
        f"{bound:6.1f}s session+give-up {t['ended_s'] / bound:6.2f}x"
    )
    print(
        f"  (checks: {c['share_of_fast_measurement']:.2%} of one fast mlp_tiny measurement; "
        f"wedged: {w['ok']}/{w['n']} candidates measured; tracker: {t['message'][:90]}...)"
    )


def run_configs(net, hw, act, inputs, hosts: list[int], repeats: int) -> list[dict]:
    """Every configuration ``repeats`` times, interleaved; keep each one's fastest run."""
    configs = [("local", 1), *(("rpc", n) for n in hosts), *(("pool", n) for n in hosts)]
    bench = {
        "local": lambda n: bench_local(net, hw, act, inputs),
        "rpc": lambda n: bench_rpc(net, hw, act, inputs, n),
        "pool": lambda n: bench_pool(net, hw, act, inputs, n),
    }
    best: dict = {}
    for rep in range(repeats):
        for runner, n in configs:
            row = bench[runner](n)
            print(f"  round {rep + 1}: {runner} x{n}: {row['rate']:.2f} meas/s", flush=True)
            if (runner, n) not in best or row["wall_s"] < best[(runner, n)]["wall_s"]:
                best[(runner, n)] = row
    return [best[c] for c in configs]


def summarise(rows: list[dict]) -> None:
    """Add efficiency (vs the same runner with one worker), speed-up vs local, figure mismatches."""
    local = rows[0]
    reference = local["results"]
    base = {r["runner"]: r["rate"] for r in rows if r["workers"] == 1}
    for row in rows:
        row["efficiency"] = row["rate"] / (row["workers"] * base[row["runner"]])
        row["speedup_vs_local"] = row["rate"] / local["rate"]
    for row in rows:  # every path should give the same figures for the same candidates
        got = row.pop("results")
        row["mismatches"] = [[i, a, b] for i, (a, b) in enumerate(zip(got, reference)) if a != b]
        if row["mismatches"]:
            print(
                f"WARNING: {row['runner']} x{row['workers']} figures differ from in-process ones "
                f"for {len(row['mismatches'])} candidates: {row['mismatches'][:3]}"
            )


def print_report(
    rows: list[dict], overhead_s: float, tiny: dict, resumes: list[dict], auth: dict
) -> None:
    print(
        f"\n{'runner':8s} {'workers':>7s} {'meas/s':>8s} {'ms/meas':>8s} {'efficiency':>10s} "
        f"{'vs local':>8s}"
    )
    for r in rows:
        ms = r["per_measurement_s"] * 1e3
        print(
            f"{r['runner']:8s} {r['workers']:7d} {r['rate']:8.2f} {ms:8.1f} "
            f"{r['efficiency']:10.0%} {r['speedup_vs_local']:8.2f}x"
        )
    local_s = rows[0]["per_measurement_s"]
    print(
        f"\nRPC overhead per measurement (1 host vs in-process): {overhead_s * 1e3:.2f} ms "
        f"({overhead_s / local_s:.1%} of a local measurement)"
    )
    print(
        f"RPC overhead with a near-free measurement (mlp_tiny, fast, {tiny['n']} candidates): "
        f"{tiny['rpc_ms']:.2f} ms via RPC vs {tiny['local_ms']:.2f} ms in-process "
        f"= {tiny['overhead_ms']:.2f} ms per measurement"
    )
    for r in resumes:
        print(
            f"resumed run ({r['in_flight']} in flight): {r['cache_hits']}/{r['evaluations']} "
            f"evaluations from the log (hit rate {r['hit_rate']:.0%}; "
            f"{r['reused_of_logged']:.0%} of the {r['logged_before_kill']} logged before SIGKILL "
            "reused), "
            f"{r['re_measured']} logged candidates re-measured"
        )
    print_auth(auth)


def _update_saved(out: str, key: str, value: dict) -> None:
    """Replace one section of the saved JSON (a ``--*-only`` rerun keeps the others)."""
    saved = json.load(open(out)) if os.path.exists(out) else {}
    saved[key] = value
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(saved, f, indent=2)
    print(f"wrote {out} ({key})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workload", default="mlp_b")
    p.add_argument("--fidelity", default="event")
    p.add_argument("--n", type=int, default=24, help="measurements per configuration")
    p.add_argument("--hosts", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--repeats", type=int, default=2, help="interleaved rounds; the fastest counts")
    p.add_argument("--resume-budget", type=int, default=40)
    p.add_argument("--out", default="results/bench_rpc.json")
    p.add_argument(
        "--resume-only",
        action="store_true",
        help="only redo the resume measurement and update it in --out",
    )
    p.add_argument(
        "--auth-only",
        action="store_true",
        help="only redo the authentication measurement and update it in --out",
    )
    p.add_argument(
        "--faults-only",
        action="store_true",
        help="only redo the checks / wedged host / lost tracker figures (into --out)",
    )
    p.add_argument(
        "--scale-only",
        action="store_true",
        help="only redo the fast-fidelity tuning scale-out table (into --out)",
    )
    p.add_argument("--scale-workload", default="mlp_b")
    p.add_argument("--scale-budget", type=int, default=200)
    args = p.parse_args()
    if args.scale_only:
        scale = bench_scaleout(args.scale_workload, args.scale_budget, args.repeats)
        print_scaleout(scale)
        _update_saved(args.out, "scaleout", scale)
        return
    if args.faults_only:
        faults = bench_faults()
        print_faults(faults)
        _update_saved(args.out, "faults", faults)
        return
    if args.auth_only:
        auth = bench_auth()
        print_auth(auth)
        _update_saved(args.out, "auth", auth)
        return

    from tvm_loihi.measure.records import MeasureInput
    from tvm_loihi.model.activity import activity_from_float
    from tvm_loihi.model.hardware import get_preset
    from tvm_loihi.model.quantize import quantize_network
    from tvm_loihi.model.workloads import WORKLOADS, float_layers, sample_inputs

    spec = WORKLOADS[args.workload]
    net = quantize_network(float_layers(spec), calibration=sample_inputs(spec), name=spec.name)
    hw = get_preset(spec.hardware)
    act = activity_from_float(net, sample_inputs(spec))
    inputs = [
        MeasureInput(net.workload_key(), hw.key(), m, args.fidelity)
        for m in candidates(net, hw, act, args.n)
    ]
    cores = os.cpu_count()
    n_hosts = max(1, min(2, cores))
    if args.resume_only:
        resumes = [
            bench_resume(
                net, hw, act, args.workload, args.fidelity, args.resume_budget, n_hosts, n_parallel
            )
            for n_parallel in (1, n_hosts)
        ]
        with open(args.out) as f:
            saved = json.load(f)
        saved["resume"] = resumes
        with open(args.out, "w") as f:
            json.dump(saved, f, indent=2)
        print(json.dumps(resumes, indent=2))
        return
    print(
        f"machine: {cores} CPU cores, load average {os.getloadavg()[0]:.1f}; workload "
        f"{spec.name} {net.layer_sizes} on {hw.name}, fidelity {args.fidelity}, {args.n} "
        "measurements per configuration",
        flush=True,
    )
    rows = run_configs(net, hw, act, inputs, args.hosts, args.repeats)
    summarise(rows)
    overhead_s = rows[1]["per_measurement_s"] - rows[0]["per_measurement_s"]
    tiny = bench_overhead()
    resumes = [
        bench_resume(
            net, hw, act, args.workload, args.fidelity, args.resume_budget, n_hosts, n_parallel
        )
        for n_parallel in (1, n_hosts)
    ]
    auth = bench_auth()
    print_report(rows, overhead_s, tiny, resumes, auth)
    faults = bench_faults()
    print_faults(faults)
    scale = bench_scaleout(args.scale_workload, args.scale_budget, args.repeats)
    print_scaleout(scale)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(
            {
                "cpu_count": cores,
                "load_average_end": os.getloadavg(),
                "workload": spec.name,
                "hardware": hw.name,
                "fidelity": args.fidelity,
                "n_measurements": args.n,
                "repeats": args.repeats,
                "rows": rows,
                "rpc_overhead_s": overhead_s,
                "rpc_overhead_ratio": overhead_s / rows[0]["per_measurement_s"],
                "rpc_overhead_near_free": tiny,
                "resume": resumes,
                "auth": auth,
                "faults": faults,
                "scaleout": scale,
            },
            f,
            indent=2,
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

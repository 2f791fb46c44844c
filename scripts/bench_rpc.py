"""Benchmark: measurement in the loop through the RPC tracker on loopback.

Measures, side by side in one run (event fidelity on ``mlp_b`` unless told otherwise):

* measurements per second with 1, 2 and 4 hosts, and parallel efficiency ``rate_n / (n * rate_1)``;
* RPC overhead per measurement vs the in-process ``LocalRunner`` (same candidates, same backend);
* the local process pool (``PoolRunner``) at the same worker counts, for reference;
* the cache hit rate of a tuning run SIGKILLed half-way and resumed on the same log.

Prints a table and writes ``results/bench_rpc.json``. Absolute rates depend on the machine's cores
(printed): hosts beyond the core count share CPUs, so efficiency there measures the machine, not the
RPC path.

Usage: ``python scripts/bench_rpc.py [--workload mlp_b] [--fidelity event] [--n 48] [--hosts 1 2
4]``
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
    from tvm_loihi.measure.records import MeasureInput
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
    return {"runner": "local", "workers": 1, "wall_s": wall, "rate": len(inputs) / wall,
            "per_measurement_s": wall / len(inputs), "results": [r.latency_s for r in results]}


def bench_rpc(net, hw, act, inputs, n_hosts: int) -> dict:
    from tvm_loihi.measure.rpc_runner import RPCRunner
    from tvm_loihi.measure.tracker import LocalFarm

    with LocalFarm(n_hosts=n_hosts) as farm, \
            RPCRunner(*farm.tracker_addr, key=farm.key, timeout_s=300) as runner:
        runner.register(net, hw, act)
        timed_batch(runner, inputs[:n_hosts])  # warm-up: one session and one upload per host
        wall, results = timed_batch(runner, inputs)
        hosts = sorted({r.host for r in results})
    assert all(r.ok for r in results), [r.message for r in results if not r.ok][:3]
    return {"runner": "rpc", "workers": n_hosts, "wall_s": wall, "rate": len(inputs) / wall,
            "per_measurement_s": wall / len(inputs), "hosts_used": len(hosts),
            "results": [r.latency_s for r in results]}


def bench_pool(net, hw, act, inputs, n_workers: int) -> dict:
    from tvm_loihi.measure.pool_runner import PoolRunner

    with PoolRunner(n_workers=n_workers, timeout_s=300) as runner:
        runner.register(net, hw, act)
        timed_batch(runner, inputs[:n_workers])  # warm-up: start the workers, load the workload
        wall, results = timed_batch(runner, inputs)
    assert all(r.ok for r in results), [r.message for r in results if not r.ok][:3]
    return {"runner": "pool", "workers": n_workers, "wall_s": wall, "rate": len(inputs) / wall,
            "per_measurement_s": wall / len(inputs), "results": [r.latency_s for r in results]}


_TUNER = textwrap.dedent("""
    import sys
    from tvm_loihi.hardware import get_preset
    from tvm_loihi.measure.rpc_runner import RPCRunner
    from tvm_loihi.network import NetworkIR
    from tvm_loihi.tune import tune
    from tvm_loihi.workloads import WORKLOADS, sample_inputs
    from tvm_loihi.activity import activity_from_float
    host, port, log, net_path, hw_name, workload, fidelity, budget = sys.argv[1:9]
    net = NetworkIR.load(net_path)
    act = activity_from_float(net, sample_inputs(WORKLOADS[workload]))
    with RPCRunner(host, int(port)) as runner:
        tune(net, get_preset(hw_name), runner=runner, strategy="ga", budget=int(budget), seed=0,
             activity=act, fidelity=fidelity, log=log)
""")


def bench_resume(net, hw, act, workload: str, fidelity: str, budget: int, n_hosts: int) -> dict:
    """Tune in a subprocess, SIGKILL it half-way, resume on the same log; report the cache hit
    rate."""
    from tvm_loihi.measure.log import TuningLog
    from tvm_loihi.measure.rpc_runner import RPCRunner
    from tvm_loihi.measure.tracker import LocalFarm
    from tvm_loihi.tune import tune

    tmp = tempfile.mkdtemp(prefix="bench_rpc_")
    log, net_path = os.path.join(tmp, "tune.jsonl"), os.path.join(tmp, "net.npz")
    net.save(net_path)
    with LocalFarm(n_hosts=n_hosts) as farm:
        argv = [sys.executable, "-c", _TUNER, *map(str, farm.tracker_addr), log, net_path, hw.name,
                workload, fidelity, str(budget)]
        proc = subprocess.Popen(argv, start_new_session=True)
        try:
            while proc.poll() is None and (not os.path.exists(log) or
                                           open(log).read().count("\n") < budget // 2):
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        logged = len(TuningLog(log).records())
        with RPCRunner(*farm.tracker_addr) as runner:
            start = time.perf_counter()
            resumed = tune(net, hw, runner=runner, strategy="ga", budget=budget, seed=0,
                           activity=act, fidelity=fidelity, log=log)
            wall = time.perf_counter() - start
    records = TuningLog(log).records()
    return {"budget": budget, "logged_before_kill": logged, "evaluations": resumed.evaluations,
            "cache_hits": resumed.cache_hits, "hit_rate": resumed.cache_hits / resumed.evaluations,
            "re_measured": len(records) - len({r.input.key() for r in records}),
            "log_records": len(records), "resume_wall_s": wall}


def bench_overhead(n: int = 200) -> dict:
    """Per-measurement cost of the RPC path where the measurement itself is nearly free (mlp_tiny,
    fast)."""
    from tvm_loihi.activity import activity_from_float
    from tvm_loihi.hardware import get_preset
    from tvm_loihi.measure.records import MeasureInput
    from tvm_loihi.quantize import quantize_network
    from tvm_loihi.workloads import WORKLOADS, float_layers, sample_inputs

    spec = WORKLOADS["mlp_tiny"]
    net = quantize_network(float_layers(spec), calibration=sample_inputs(spec), name=spec.name)
    hw = get_preset(spec.hardware)
    act = activity_from_float(net, sample_inputs(spec))
    inputs = [MeasureInput(net.workload_key(), hw.key(), m, "fast")
              for m in candidates(net, hw, act, n)]
    local, rpc = bench_local(net, hw, act, inputs), bench_rpc(net, hw, act, inputs, 1)
    return {"workload": "mlp_tiny", "fidelity": "fast", "n": n,
            "local_ms": local["per_measurement_s"] * 1e3, "rpc_ms": rpc["per_measurement_s"] * 1e3,
            "overhead_ms": (rpc["per_measurement_s"] - local["per_measurement_s"]) * 1e3}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workload", default="mlp_b")
    p.add_argument("--fidelity", default="event")
    p.add_argument("--n", type=int, default=48, help="measurements per configuration")
    p.add_argument("--hosts", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--resume-budget", type=int, default=40)
    p.add_argument("--out", default="results/bench_rpc.json")
    args = p.parse_args()

    from tvm_loihi.activity import activity_from_float
    from tvm_loihi.hardware import get_preset
    from tvm_loihi.measure.records import MeasureInput
    from tvm_loihi.quantize import quantize_network
    from tvm_loihi.workloads import WORKLOADS, float_layers, sample_inputs

    spec = WORKLOADS[args.workload]
    net = quantize_network(float_layers(spec), calibration=sample_inputs(spec), name=spec.name)
    hw = get_preset(spec.hardware)
    act = activity_from_float(net, sample_inputs(spec))
    inputs = [MeasureInput(net.workload_key(), hw.key(), m, args.fidelity)
              for m in candidates(net, hw, act, args.n)]
    cores = os.cpu_count()
    print(f"machine: {cores} CPU cores; workload {spec.name} {net.layer_sizes} on {hw.name}, "
          f"fidelity {args.fidelity}, {args.n} measurements per configuration", flush=True)

    local = bench_local(net, hw, act, inputs)
    reference = local["results"]
    print(f"  local: {local['rate']:.2f} meas/s", flush=True)
    rows = [local]
    for n in args.hosts:
        rows.append(bench_rpc(net, hw, act, inputs, n))
        print(f"  rpc x{n}: {rows[-1]['rate']:.2f} meas/s", flush=True)
    for n in args.hosts:
        rows.append(bench_pool(net, hw, act, inputs, n))
        print(f"  pool x{n}: {rows[-1]['rate']:.2f} meas/s", flush=True)
    # The machine is shared: measure the in-process reference again at the end and keep the faster run.
    again = bench_local(net, hw, act, inputs)
    if again["wall_s"] < local["wall_s"]:
        local.update({k: again[k] for k in ("wall_s", "rate", "per_measurement_s")})
    for row in rows:  # every path should give the same figures for the same candidates
        got = row.pop("results")
        row["mismatches"] = [[i, a, b] for i, (a, b) in enumerate(zip(got, reference)) if a != b]
        if row["mismatches"]:
            print(f"WARNING: {row['runner']} x{row['workers']} figures differ from in-process ones "
                  f"for {len(row['mismatches'])} candidates: {row['mismatches'][:3]}")
    base = {r["runner"]: r["rate"] for r in rows if r["workers"] == 1}
    for row in rows:
        one = base.get(row["runner"], row["rate"])
        row["efficiency"] = row["rate"] / (row["workers"] * one)
        row["speedup_vs_local"] = row["rate"] / local["rate"]
    rpc1 = next(r for r in rows if r["runner"] == "rpc" and r["workers"] == 1)
    overhead_s = rpc1["per_measurement_s"] - local["per_measurement_s"]
    tiny = bench_overhead()
    resume = bench_resume(net, hw, act, args.workload, args.fidelity, args.resume_budget,
                          max(1, min(2, cores)))

    print(f"\n{'runner':8s} {'workers':>7s} {'meas/s':>8s} {'ms/meas':>8s} {'efficiency':>10s} "
          f"{'vs local':>8s}")
    for r in rows:
        ms = r["per_measurement_s"] * 1e3
        print(f"{r['runner']:8s} {r['workers']:7d} {r['rate']:8.2f} {ms:8.1f} "
              f"{r['efficiency']:10.0%} {r['speedup_vs_local']:8.2f}x")
    print(f"\nRPC overhead per measurement (1 host vs in-process): {overhead_s * 1e3:.2f} ms "
          f"({overhead_s / local['per_measurement_s']:.1%} of a local measurement)")
    print(f"RPC overhead with a near-free measurement (mlp_tiny, fast, {tiny['n']} candidates): "
          f"{tiny['rpc_ms']:.2f} ms via RPC vs {tiny['local_ms']:.2f} ms in-process "
          f"= {tiny['overhead_ms']:.2f} ms per measurement")
    print(f"resumed run: {resume['cache_hits']}/{resume['evaluations']} evaluations from the log "
          f"(hit rate {resume['hit_rate']:.0%}), {resume['re_measured']} re-measured, "
          f"{resume['logged_before_kill']} logged before SIGKILL")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"cpu_count": cores, "workload": spec.name, "hardware": hw.name,
                   "fidelity": args.fidelity, "n_measurements": args.n, "rows": rows,
                   "rpc_overhead_s": overhead_s,
                   "rpc_overhead_ratio": overhead_s / local["per_measurement_s"],
                   "rpc_overhead_near_free": tiny, "resume": resume}, f,
                  indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

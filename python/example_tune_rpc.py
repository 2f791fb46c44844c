"""Tune over a local RPC farm: a TVM tracker and two measurement hosts on 127.0.0.1.

The same path a lab uses with real machines (``tvm-loihi tracker`` on one, ``tvm-loihi serve
--tracker HOST:PORT`` on each measurement host, or the images in docker/), started here as local
subprocesses by :class:`tvm_loihi.measure.tracker.LocalFarm` and stopped at the end, also on
errors. Candidates go to whichever host is free; every measurement lands in the tuning log with the
host that made it.

Usage::

    python python/example_tune_rpc.py                                  # mlp_a, 2 hosts, budget 60
    python python/example_tune_rpc.py --workload mlp_tiny --budget 12 --hosts 2
"""

from __future__ import annotations

import argparse
import atexit
import collections
import os
import shutil
import tempfile


def _scratch_dir(prefix: str) -> str:
    """A temporary directory removed when the example exits (examples leave nothing behind)."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="mlp_a", help="reference workload name")
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--hosts", type=int, default=2, help="measurement hosts to start")
    parser.add_argument("--strategy", default="bilevel")
    args = parser.parse_args(argv)

    from tvm_loihi.compiler.frontend import load_onnx
    from tvm_loihi.compiler.replay import extract_networks
    from tvm_loihi.measure.log import TuningLog
    from tvm_loihi.measure.rpc_runner import RPCRunner
    from tvm_loihi.measure.tracker import LocalFarm
    from tvm_loihi.model import workloads
    from tvm_loihi.tuning import tune

    outdir = _scratch_dir("tvm_loihi_rpc_")
    onnx_path = workloads.write_onnx(args.workload, os.path.join(outdir, f"{args.workload}.onnx"))
    (network, hardware), *_ = extract_networks(load_onnx(onnx_path))
    log = os.path.join(outdir, "tune.jsonl")
    # The hosts are killed at the end, so TVM's per-session temp dirs would outlive them: keep
    # them, and the farm's process logs, inside the scratch dir removed at exit.
    os.environ["TMPDIR"] = os.path.join(outdir, "hosts_tmp")
    os.makedirs(os.environ["TMPDIR"])
    with LocalFarm(n_hosts=args.hosts, log_dir=os.environ["TMPDIR"]) as farm:
        host, port = farm.tracker_addr
        print(
            f"tracker {host}:{port}, hosts {farm.hosts and [h.port for h in farm.hosts]} "
            f"(same as: tvm-loihi tune ... --runner rpc://{host}:{port}/{farm.key})"
        )
        runner = RPCRunner(host, port, key=farm.key)
        try:
            result = tune(
                network,
                hardware,
                runner=runner,
                strategy=args.strategy,
                budget=args.budget,
                seed=0,
                log=log,
            )
        finally:
            runner.close()
    by_host = collections.Counter(r.result.host for r in TuningLog(log).records())
    print(
        f"{network.name} {network.layer_sizes} on {hardware.name}: "
        f"{result.default_result.latency_s * 1e6:.1f} us (Lava default) -> "
        f"{result.best_result.latency_s * 1e6:.1f} us ({result.change() * 100:+.1f} %) "
        f"after {result.evaluations} evaluations in {result.wall_s:.1f} s"
    )
    print(f"measurements per host: {dict(by_host)}; farm stopped; log {log}")
    return {"hosts": dict(by_host), "change": result.change()}


if __name__ == "__main__":
    main()

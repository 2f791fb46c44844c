"""Tune, then replay the log at build time: ``with tvm_loihi.apply_best(log): tvm.compile(...)``.

The whole user path in Python: write a reference workload as ONNX, find what a ``loihi2`` build
offloads (:func:`tvm_loihi.compiler.replay.extract_networks`, so the workload keys are the build's),
tune each offloaded network on the simulator into a JSON-lines log, build with the log replayed,
export the library, load it back and run it. The tuned mapping changes where neurons live, not what
they compute: the outputs equal those of a build with Lava's default mapping, bit for bit.

Usage::

    python python/example_replay.py                                   # mlp_a, budget 100
    python python/example_replay.py --workload mlp_tiny --budget 10
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import tempfile

import numpy as np


def _run(ex_or_lib, x: np.ndarray) -> np.ndarray:
    import tvm

    vm = tvm.relax.VirtualMachine(ex_or_lib, tvm.cpu())
    return np.concatenate(
        [vm["main"](tvm.runtime.tensor(x[i : i + 1])).numpy() for i in range(len(x))]
    )


def _scratch_dir(prefix: str) -> str:
    """A temporary directory removed when the example exits (examples leave nothing behind)."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="mlp_a", help="reference workload name")
    parser.add_argument("--budget", type=int, default=100, help="evaluations per offloaded network")
    parser.add_argument("--strategy", default="bilevel")
    parser.add_argument("--outdir", default=None, help="where the ONNX, log and library go")
    args = parser.parse_args(argv)

    import tvm

    import tvm_loihi
    from tvm_loihi.compiler.frontend import load_onnx
    from tvm_loihi.compiler.replay import extract_networks
    from tvm_loihi.model import workloads
    from tvm_loihi.tuning import tune

    outdir = args.outdir or _scratch_dir("tvm_loihi_replay_")
    os.makedirs(outdir, exist_ok=True)
    onnx_path = workloads.write_onnx(args.workload, os.path.join(outdir, f"{args.workload}.onnx"))
    log = os.path.join(outdir, "tune.jsonl")

    # 1. tune what the build will offload (same quantisation, so the same workload keys)
    for network, hardware in extract_networks(load_onnx(onnx_path)):
        result = tune(
            network, hardware, strategy=args.strategy, budget=args.budget, seed=0, log=log
        )
        print(
            f"tuned {network.name} {network.layer_sizes} on {hardware.name}: total latency "
            f"{result.default_result.latency_s * 1e6:.1f} us (Lava default) -> "
            f"{result.best_result.latency_s * 1e6:.1f} us ({result.change() * 100:+.1f} %), "
            f"{result.evaluations} evaluations"
        )

    # 2. build with the log replayed; export; load back in a fresh runtime module
    with tvm_loihi.apply_best(log) as report:
        ex = tvm.compile(load_onnx(onnx_path), target="loihi2")
    for name, key, record in report.applied:
        print(f"replayed {name} (workload {key}) from {log} line {record.line}")
    lib_path = os.path.join(outdir, "model.so")
    ex.export_library(lib_path)
    embedded = tvm_loihi.read_mappings(lib_path)
    print(
        f"exported {lib_path}: embedded mappings use "
        f"{[len(m['mapping']['core_ids']) for m in embedded]} cores"
    )

    # 3. run: the tuned build computes exactly what the default-mapping build computes
    x = workloads.sample_inputs(args.workload, 4, seed=7)
    tuned = _run(tvm.runtime.load_module(lib_path), x)
    default = _run(tvm.compile(load_onnx(onnx_path), target="loihi2"), x)
    assert np.array_equal(tuned, default), "replay changed the numerics"
    print(f"outputs {tuned.shape} equal the default-mapping build bit for bit")
    return {"log": log, "library": lib_path, "applied": len(report.applied)}


if __name__ == "__main__":
    main()

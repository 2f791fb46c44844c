"""Benchmark the TVM path: import, partition, tvm.compile (loihi2 vs llvm), VM run time, as ratios.

For each workload (default mlp_a and mlp_b, batch 1 and 8) in one run:

* import time of ``tvm`` and of ``tvm_loihi`` (fresh interpreters; ``tvm_loihi`` includes ``tvm``),
* ``load_onnx`` and ``partition_for_loihi`` time,
* ``tvm.compile(mod, target="loihi2")`` vs ``tvm.compile(mod, target="llvm")`` on the same module,
* one VM call of the loihi2 build (bit-exact reference executor behind ``tvm_loihi.run_subgraph``)
vs the
  llvm build.

Medians over ``--repeat`` runs. Prints a table and writes ``results/bench_compile.json``.
Usage: ``python scripts/bench_compile.py [--workloads mlp_a mlp_b] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

_IMPORT = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"


def _import_time(module: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        cmd = [sys.executable, "-c", _IMPORT.format(mod=module)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def _timed(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def _vm_call_time(ex, x: np.ndarray, repeat: int) -> float:
    import tvm
    from tvm import relax

    vm = relax.VirtualMachine(ex, tvm.cpu())
    arg = tvm.runtime.tensor(x)
    vm["main"](arg)  # warm-up: the runtime rebuilds and caches the network on the first call
    return _timed(lambda: vm["main"](arg), max(repeat, 20))[0]


def bench_workload(name: str, batch: int, repeat: int) -> dict:
    import tvm

    import tvm_loihi
    from tvm_loihi.compiler.frontend import load_onnx
    from tvm_loihi.model import workloads

    model = workloads.make_onnx(name, batch=batch)
    t_load, mod = _timed(lambda: load_onnx(model), repeat)
    t_part, _ = _timed(lambda: tvm_loihi.partition_for_loihi(mod), repeat)
    t_loihi, ex_loihi = _timed(lambda: tvm.compile(mod, target="loihi2"), repeat)
    t_llvm, ex_llvm = _timed(lambda: tvm.compile(mod, target="llvm"), repeat)
    x = workloads.sample_inputs(name, batch, seed=3)
    run_loihi = _vm_call_time(ex_loihi, x, repeat)
    run_llvm = _vm_call_time(ex_llvm, x, repeat)
    return {
        "workload": name,
        "batch": batch,
        "load_onnx_s": t_load,
        "partition_s": t_part,
        "compile_loihi2_s": t_loihi,
        "compile_llvm_s": t_llvm,
        "compile_ratio": t_loihi / t_llvm,
        "vm_run_loihi2_s": run_loihi,
        "vm_run_llvm_s": run_llvm,
        "run_ratio": run_loihi / run_llvm,
        "offloaded_networks": len(tvm_loihi.read_payloads(ex_loihi)),
    }


def _table(imports: dict, rows: list[dict]) -> str:
    lines = [
        f"import tvm {imports['tvm_s']:.2f} s | import tvm_loihi {imports['tvm_loihi_s']:.2f} s "
        f"(ratio {imports['ratio']:.2f})",
        "",
        f"{'workload':9} {'batch':>5} {'load':>7} {'partition':>9} {'compile loihi2':>14} "
        f"{'compile llvm':>12} {'ratio':>6} {'run loihi2':>11} {'run llvm':>9} {'ratio':>6}",
    ]
    for r in rows:
        lines.append(
            f"{r['workload']:9} {r['batch']:>5} {r['load_onnx_s']:>6.3f}s "
            f"{r['partition_s']:>8.3f}s {r['compile_loihi2_s']:>13.3f}s "
            f"{r['compile_llvm_s']:>11.3f}s {r['compile_ratio']:>6.2f} "
            f"{r['vm_run_loihi2_s'] * 1e3:>9.2f}ms {r['vm_run_llvm_s'] * 1e3:>7.2f}ms "
            f"{r['run_ratio']:>6.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["mlp_a", "mlp_b"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=os.path.join("results", "bench_compile.json"))
    args = parser.parse_args(argv)
    t_tvm = _import_time("tvm", args.repeat)
    t_ours = _import_time("tvm_loihi", args.repeat)
    imports = {"tvm_s": t_tvm, "tvm_loihi_s": t_ours, "ratio": t_ours / t_tvm}
    rows = [bench_workload(w, b, args.repeat) for w in args.workloads for b in args.batches]
    result = {
        "imports": imports,
        "rows": rows,
        "repeat": args.repeat,
        "note": "medians; ratios are loihi2 / llvm on the same module in the same run",
    }
    print(_table(imports, rows))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()

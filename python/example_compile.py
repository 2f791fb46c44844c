"""ONNX -> ``tvm.compile(mod, target="loihi2")`` -> VirtualMachine: what ran where, and how close.

Writes a reference workload as a real ONNX file (or takes yours), compiles it for Loihi 2 with
calibration samples, runs it in the VM (bit-exact reference executor behind
``tvm_loihi.run_subgraph``; ``--backend lava`` runs Lava's Loihi 2 simulator instead), and compares
with the float model (the same ONNX compiled for llvm).

Usage::

    python python/example_compile.py                      # mlp_a, batch 1
    python python/example_compile.py --workload mlp_tiny --batch 4
    python python/example_compile.py --onnx my_model.onnx --outputs hidden_out
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import tempfile
import time
from collections import Counter

import numpy as np


def _run(ex, x: np.ndarray, batch: int) -> np.ndarray:
    import tvm
    from tvm import relax

    vm = relax.VirtualMachine(ex, tvm.cpu())
    chunks = [np.ascontiguousarray(x[i : i + batch]) for i in range(0, len(x) - batch + 1, batch)]
    return np.concatenate([vm["main"](tvm.runtime.tensor(c)).numpy() for c in chunks])


def _report_offload(mod, hardware) -> None:
    import tvm_loihi

    decisions = tvm_loihi.explain_offload(mod, hardware)
    layers = Counter(d.pattern for d in decisions if d.on_loihi and d.op == "relax.matmul")
    n_host = sum(not d.on_loihi for d in decisions)
    print(
        f"ops in main: {len(decisions)} ({len(decisions) - n_host} on Loihi, {n_host} on host); "
        f"Loihi layers: {sum(layers.values())} "
        f"({', '.join(f'{k} x{v}' for k, v in sorted(layers.items())) or 'none'})"
    )
    for d in decisions:
        if not d.on_loihi:
            print(f"  host: {d}")


def _scratch_dir(prefix: str) -> str:
    """A temporary directory removed when the example exits (examples leave nothing behind)."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="mlp_a", help="reference workload name")
    parser.add_argument("--onnx", help="your ONNX file instead of a reference workload")
    parser.add_argument("--outputs", nargs="*", help="cut the ONNX graph to these outputs first")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--samples", type=int, default=16, help="test inputs to compare on")
    parser.add_argument(
        "--calibration", type=int, default=64, help="calibration samples (0: weight-based default)"
    )
    parser.add_argument("--target", default="loihi2", help="loihi2, loihi2-2chip, loihi2-kapoho")
    parser.add_argument("--backend", default="reference", choices=["reference", "lava"])
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    import tvm

    import tvm_loihi
    from tvm_loihi.compiler.frontend import load_onnx
    from tvm_loihi.model import workloads

    print(f"import tvm + tvm_loihi: {time.perf_counter() - t0:.2f} s")
    path = args.onnx
    if path is None:
        path = os.path.join(_scratch_dir("tvm_loihi_"), f"{args.workload}.onnx")
        workloads.write_onnx(args.workload, path, batch=args.batch)
        print(f"wrote {path}")
    mod = load_onnx(path, outputs=args.outputs)
    n_in = int(mod["main"].params[0].ty.shape[1])
    rng_name = args.workload if args.onnx is None else None
    x = (
        workloads.sample_inputs(rng_name, args.samples, seed=7)
        if rng_name
        else np.random.default_rng(7).random((args.samples, n_in)).astype(np.float32)
    )
    cal = (
        workloads.sample_inputs(rng_name, args.calibration, seed=1)
        if rng_name
        else np.random.default_rng(1).random((args.calibration, n_in)).astype(np.float32)
    )
    target = tvm.target.Target(args.target)
    hardware = tvm_loihi.compiler.pipeline.hardware_for(tvm_loihi.LoihiConfig(), target)
    _report_offload(mod, hardware)

    t = time.perf_counter()
    with tvm_loihi.LoihiConfig(calibration=cal if args.calibration else None):
        ex = tvm.compile(mod, target=args.target)
    print(f"tvm.compile(target={args.target!r}): {time.perf_counter() - t:.2f} s")
    for info in tvm_loihi.read_mappings(ex):
        print(
            f"  offloaded {info['network']}: layers {info['layer_sizes']} on {hardware.name} "
            f"(workload {info['workload_key']}, "
            f"mapping: {'embedded' if info['mapping'] else 'Lava default'})"
        )
    reference = _run(tvm.compile(mod, target="llvm"), x, args.batch)
    with tvm_loihi.use_backend(args.backend):
        y = _run(ex, x, args.batch)
    err = float(np.abs(y - reference).max())
    scale = float(np.abs(reference).max())
    agree = float(np.mean(y.argmax(axis=1) == reference.argmax(axis=1)))
    print(
        f"max |loihi2 - float| = {err:.4g} "
        f"({100 * err / scale:.2f} % of max |float| = {scale:.4g}); "
        f"argmax agreement {100 * agree:.1f} % over {len(y)} samples ({args.backend} backend)"
    )
    return err


if __name__ == "__main__":
    main()

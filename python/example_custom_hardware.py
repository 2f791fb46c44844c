"""A custom Loihi system from JSON: write a spec, load it, see what fits, tune on it.

Hardware presets are :class:`tvm_loihi.model.hardware.HardwareSpec` values; any field can be changed
in a JSON file (unknown keys are an error, so a typo cannot silently fall back to a default). Here:
two small chips of 4 x 4 routers side by side with a tighter synaptic memory per core, so the
network needs more cores per layer. The same file works on the command line::

tvm-loihi tune --workload mlp_tiny --hardware my_system.json --budget 50

Usage::

    python python/example_custom_hardware.py
    python python/example_custom_hardware.py --workload mlp_tiny --budget 10
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import tempfile


def write_spec(path: str) -> dict:
    """Start from the one-chip preset's JSON and change the geometry and one per-core limit."""
    from tvm_loihi.model.hardware import get_preset

    spec = get_preset("loihi2_1chip").to_json()
    spec.update(name="two_small_chips", chips_x=2, chips_y=1, routers_x=4, routers_y=4)
    spec["limits"]["synmem_words"] = 1000  # a quarter-size synaptic memory per core (what-if)
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)
    return spec


def _scratch_dir(prefix: str) -> str:
    """A temporary directory removed when the example exits (examples leave nothing behind)."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="mlp_tiny", help="reference workload name")
    parser.add_argument("--budget", type=int, default=80)
    args = parser.parse_args(argv)

    import tvm_loihi
    from tvm_loihi.compiler.frontend import load_onnx
    from tvm_loihi.compiler.pipeline import LoihiConfig
    from tvm_loihi.compiler.replay import extract_networks
    from tvm_loihi.model import workloads
    from tvm_loihi.model.hardware import HardwareSpec
    from tvm_loihi.model.mapping import min_cores_per_layer
    from tvm_loihi.tuning import tune

    outdir = _scratch_dir("tvm_loihi_hw_")
    spec_path = os.path.join(outdir, "my_system.json")
    write_spec(spec_path)
    hardware = HardwareSpec.load(spec_path)
    print(
        f"{hardware.name}: {hardware.n_chips} chips x {hardware.routers_x}x{hardware.routers_y} "
        f"routers = {hardware.n_cores} cores, synmem {hardware.limits.synmem_words} words/core "
        f"(key {hardware.key()})"
    )
    onnx_path = workloads.write_onnx(args.workload, os.path.join(outdir, f"{args.workload}.onnx"))
    pairs = extract_networks(load_onnx(onnx_path), config=LoihiConfig(hardware=hardware))
    (network, hw), *_ = pairs
    default_cores = min_cores_per_layer(network, hw)
    preset_cores = min_cores_per_layer(network, tvm_loihi.model.hardware.get_preset("loihi2_1chip"))
    print(
        f"{network.name} {network.layer_sizes}: fewest cores per layer {default_cores} here, "
        f"{preset_cores} on loihi2_1chip"
    )
    result = tune(network, hw, strategy="bilevel", budget=args.budget, seed=0)
    print(
        f"tuned on {hw.name}: {result.default_result.latency_s * 1e6:.1f} us (Lava default, "
        f"{result.default_result.counters['chips_used']} chip(s)) -> "
        f"{result.best_result.latency_s * 1e6:.1f} us ({result.change() * 100:+.1f} %, "
        f"{result.best_result.counters['chips_used']} chip(s))"
    )
    return {"spec": spec_path, "cores": default_cores, "change": result.change()}


if __name__ == "__main__":
    main()

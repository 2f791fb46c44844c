"""``tvm-loihi compile`` (replay a tuning log into ``tvm.compile``) and ``tvm-loihi run`` (execute
it)."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from . import inputs
from .errors import CliError, one_line


def _check_output(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CliError(f"-o {path}: directory {directory} does not exist (create it first)")


def _build(mod, hardware, calibration, log: str | None, input_layer: str = "host"):
    import tvm

    from ..compiler.pipeline import LoihiConfig
    from ..compiler.replay import ReplayWarning, apply_best

    with LoihiConfig(hardware=hardware, calibration=calibration, input_layer=input_layer):
        if log is None:
            return tvm.compile(mod, target="loihi2"), None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ReplayWarning)  # reported below, one line per network
            with apply_best(log) as report:
                return tvm.compile(mod, target="loihi2"), report


def _report(report, log: str | None) -> None:
    if report is None:
        print("no --log: every offloaded network uses the Lava default mapping")
        return
    for name, key, record in report.applied:
        print(
            f"{name} (workload {key}): tuned mapping from {log} line {record.line}, "
            f"{record.input.mapping and len(record.input.mapping['core_ids'])} cores, "
            f"simulated total latency {record.result.latency_s * 1e6:.2f} us"
        )
    for name, line, problem in report.rejected:
        print(
            f"tvm-loihi compile: warning: {log} line {line}: the mapping recorded for {name} is "
            f"invalid and was skipped ({problem})",
            file=sys.stderr,
        )
    for name, key, _hw_key, reason in report.fallbacks:
        print(
            f"tvm-loihi compile: warning: {name} (workload {key}) gets the Lava default mapping: "
            f"{reason} (tune with the same model, --hardware, --calibration, --input-layer and "
            "--outputs)",
            file=sys.stderr,
        )


def cmd_compile(args) -> int:
    """``tvm-loihi compile MODEL.onnx --log tune.jsonl -o model.so``."""
    _check_output(args.output)
    if args.log is not None and not os.path.isfile(args.log):
        raise CliError(
            f"--log {args.log} does not exist (run `tvm-loihi tune` first, or omit --log to "
            "build with Lava's default mapping)"
        )
    hardware = inputs.resolve_hardware(args.hardware)
    directory = os.path.dirname(os.path.abspath(args.output))
    mod = inputs.load_model(inputs.model_path(args, directory), args.outputs)
    calibration = inputs.load_calibration(args.calibration)
    executable, report = _build(mod, hardware, calibration, args.log, args.input_layer)
    _report(report, args.log)
    try:
        executable.export_library(args.output)
    except Exception as err:  # TVM raises its own error types for a missing compiler or a bad path
        raise CliError(f"cannot write {args.output}: {one_line(err, hint=False)}") from None
    print(
        f"wrote {os.path.abspath(args.output)} (load with `import tvm_loihi` first; "
        f"run: tvm-loihi run {args.output} --input x.npy)"
    )
    return 0


def _load_vm(path: str):
    import tvm

    if not os.path.isfile(path):
        raise CliError(
            f"compiled model {path!r} does not exist (build it with `tvm-loihi compile`)"
        )
    try:
        return tvm.relax.VirtualMachine(tvm.runtime.load_module(path), tvm.cpu())
    except Exception as err:
        raise CliError(
            f"{path} is not a library built by `tvm-loihi compile`: {one_line(err, hint=False)}"
        ) from None


def _load_input(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise CliError(f"--input {path!r} does not exist (save inputs with numpy.save)")
    try:
        return np.load(path, allow_pickle=False).astype(np.float32)
    except (ValueError, OSError) as err:
        raise CliError(f"--input {path}: not a .npy array ({err})") from None


def _flatten(value) -> list[np.ndarray]:
    if hasattr(value, "numpy"):
        return [value.numpy()]
    return [a for item in value for a in _flatten(item)]


def _execute(vm, x: np.ndarray) -> list[np.ndarray]:
    """Run ``main`` on ``x``; a batch the model's static shape rejects runs sample by sample."""
    import tvm

    try:
        return _flatten(vm["main"](tvm.runtime.tensor(np.ascontiguousarray(x))))
    except Exception:
        if x.ndim < 2 or len(x) < 2:
            raise
        first = _flatten(
            vm["main"](tvm.runtime.tensor(np.ascontiguousarray(x[:1])))
        )  # raises if not batch 1
    rest = [
        _flatten(vm["main"](tvm.runtime.tensor(np.ascontiguousarray(x[i : i + 1]))))
        for i in range(1, len(x))
    ]
    return [np.concatenate([f, *(r[j] for r in rest)]) for j, f in enumerate(first)]


def cmd_run(args) -> int:
    """``tvm-loihi run model.so --input x.npy [--backend reference|lava] [-o out.npy]``."""
    from ..compiler.runtime import use_backend

    vm = _load_vm(args.model)
    x = _load_input(args.input)
    if args.output:
        _check_output(args.output)
    try:
        with use_backend(args.backend):
            outs = _execute(vm, x)
    except Exception as err:  # shape mismatch, Lava failure: TVM wraps them in its FFI errors
        detail = one_line(err, hint=False)
        fix = " (give an input of the shape the model declares)" if "mismatch" in detail else ""
        raise CliError(
            f"running {args.model} on --input {args.input} (shape {x.shape}) with the "
            f"{args.backend} backend failed: {detail}{fix}"
        ) from None
    for i, out in enumerate(outs):
        print(
            f"output {i}: shape {out.shape}, dtype {out.dtype}, first values "
            f"{np.array2string(out.ravel()[:6], precision=4)}"
        )
    if args.output:
        if len(outs) == 1:
            np.save(args.output, outs[0])
        else:
            np.savez(args.output, *outs)
        print(f"wrote {os.path.abspath(args.output)}")
    return 0

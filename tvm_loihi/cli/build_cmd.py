"""``tvm-loihi compile`` (replay a tuning log into ``tvm.compile``) and ``tvm-loihi run`` (execute
it)."""

from __future__ import annotations

import os
import sys
import warnings
import zipfile

import numpy as np

from ..report.units import count_of
from . import inputs
from .errors import CliError, one_line

# An exported Relax function of the library returning the ONNX output names, in output order:
# what `run -o` names the saved arrays by.
OUTPUT_NAMES_FUNC = "tvm_loihi_output_names"
# Likewise the input shapes of ``main`` ("batch,3,100": a number per static dimension, the name
# of a symbolic one), so `run` says "model wants (batch, 3, 100), got (4, 50)" before TVM does.
INPUT_SHAPES_FUNC = "tvm_loihi_input_shapes"


def _check_output(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CliError(f"-o {path}: directory {directory} does not exist (create it first)")


def _build(
    mod,
    hardware,
    calibration,
    log: str | None,
    input_layer: str = "host",
    fidelity: str | None = None,
    max_energy_increase: float | None = None,
    weight_clip_percentile: float | None = None,
):
    import tvm

    from ..compiler.pipeline import LoihiConfig
    from ..compiler.replay import ReplayWarning, apply_best

    with LoihiConfig(
        hardware=hardware,
        calibration=calibration,
        input_layer=input_layer,
        weight_clip_percentile=weight_clip_percentile,
    ):
        if log is None:
            return tvm.compile(mod, target="loihi2"), None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ReplayWarning)  # reported below, one line per network
            with apply_best(
                log, fidelity=fidelity, max_energy_increase=max_energy_increase
            ) as report:
                return tvm.compile(mod, target="loihi2"), report


def _report(report, log: str | None) -> None:
    if report is None:
        print("no --log: every offloaded network uses the Lava default mapping")
        return
    for name, key, record in report.applied:
        print(
            f"{name} (workload {key}): tuned mapping from {log} line {record.line}, "
            f"{count_of(len(record.input.mapping['core_ids']), 'core')}, "
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
    model = inputs.model_path(args.model, getattr(args, "workload", None), directory)
    calibration = inputs.load_calibration(args.calibration)  # files first, TVM after
    mod = _with_output_names(
        inputs.load_model(model, args.outputs), _onnx_output_names(model, args.outputs)
    )
    executable, report = _build(
        mod,
        hardware,
        calibration,
        args.log,
        args.input_layer,
        args.fidelity,
        args.max_energy_increase,
        args.weight_clip_percentile,
    )
    _report(report, args.log)
    from ..compiler.artifact import read_payloads

    if not read_payloads(executable):
        print(
            f"tvm-loihi compile: warning: {inputs.NOTHING_OFFLOADED}; the library runs entirely "
            "on the host (`tvm-loihi inspect MODEL.onnx` says why per operator)",
            file=sys.stderr,
        )
    try:
        executable.export_library(args.output)
    except Exception as err:  # TVM raises its own error types for a missing compiler or a bad path
        raise CliError(f"cannot write {args.output}: {one_line(err, hint=False)}") from None
    print(
        f"wrote {os.path.abspath(args.output)} (load with `import tvm_loihi` first; "
        f"run: tvm-loihi run {args.output} --input x.npy)"
    )
    return 0


def _onnx_output_names(path: str, outputs: list[str] | None) -> list[str]:
    """The graph's output names (or ``--outputs`` when the graph is cut there), in output order."""
    if outputs:
        return list(outputs)
    import onnx

    try:
        graph = onnx.load(path, load_external_data=False).graph
    except Exception:  # load_model already accepted it; names are a nicety, never an error
        return []
    return [o.name for o in graph.output]


def _with_output_names(mod, names: list[str]):
    """``mod`` plus :data:`OUTPUT_NAMES_FUNC` and :data:`INPUT_SHAPES_FUNC`, so the library
    itself says what its outputs are and what inputs it takes."""
    shapes = _main_input_shapes(mod)
    if shapes:
        mod = _with_strings(mod, INPUT_SHAPES_FUNC, shapes)
    return _with_strings(mod, OUTPUT_NAMES_FUNC, names) if names else mod


def _main_input_shapes(mod) -> list[str]:
    from ..compiler import _compat

    shapes = []
    for param in mod["main"].params:
        dims = getattr(getattr(_compat.type_of(param), "shape", None), "values", None)
        if dims is None:
            return []  # unknown rank: nothing to check against
        shapes.append(",".join(str(d.value) if hasattr(d, "value") else str(d) for d in dims))
    return shapes


def _with_strings(mod, func_name: str, strings: list[str]):
    from tvm import relax

    from ..compiler import _compat

    bb = relax.BlockBuilder()
    with bb.function(func_name, params=[]):
        out = bb.emit(relax.Tuple([_compat.string_imm(s) for s in strings]))
        bb.emit_func_output(out)
    mod[func_name] = bb.get()[func_name]
    return mod


def _check_input_shape(vm, x: np.ndarray) -> None:
    """A :class:`CliError` "model wants (batch, 64), got (4, 50)" unless ``x`` fits ``main``'s
    input (a static batch dimension may differ: :func:`_execute` then runs sample by sample)."""
    try:
        shapes = [str(s) for s in vm[INPUT_SHAPES_FUNC]()]
    except Exception:  # a library built without them: TVM's own check decides
        return
    if len(shapes) != 1:
        return
    dims = [int(d) if d.lstrip("-").isdigit() else d for d in shapes[0].split(",")]
    fits = len(dims) == x.ndim and all(
        not isinstance(d, int) or d == n for d, n in zip(dims[1:], x.shape[1:])
    )
    if not fits:
        wants = "(" + ", ".join(map(str, dims)) + ")"
        got = "(" + ", ".join(map(str, x.shape)) + ")"
        raise CliError(
            f"--input: model wants {wants}, got {got} (save an array of that shape "
            "with numpy.save; the first dimension is the batch)"
        )


def _output_names(vm, n: int) -> list[str]:
    """The ONNX output names embedded by ``compile``; ``output_0`` ... for other libraries."""
    try:
        names = [str(name) for name in vm[OUTPUT_NAMES_FUNC]()]
    except Exception:  # a library built without them ("Module has no function")
        names = []
    if len(names) != n or len(set(names)) != n:
        names = [f"output_{i}" for i in range(n)]
    return names


def _save_outputs(path: str, names: list[str], outs: list[np.ndarray]) -> str:
    """Write exactly ``path``: one output as ``.npy``, several as an ``.npz`` archive (a zip of
    ``NAME.npy``, as ``numpy.savez`` writes, but never appending a suffix); returns what it is."""
    try:
        if len(outs) == 1:
            with open(path, "wb") as f:
                np.save(f, outs[0], allow_pickle=False)
            return f"output {names[0]!r} as .npy"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, out in zip(names, outs):
                with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(out), allow_pickle=False)
    except OSError as err:
        raise CliError(f"cannot write -o {path}: {err.strerror or err}") from None
    return (
        f"{len(outs)} outputs as an .npz archive, arrays {', '.join(map(repr, names))}; "
        f"read with numpy.load({path!r})[{names[0]!r}]"
    )


def _check_model_file(path: str) -> None:
    if not os.path.isfile(path):
        raise CliError(
            f"compiled model {path!r} does not exist (build it with `tvm-loihi compile`)"
        )


def _load_vm(path: str):
    import tvm

    _check_model_file(path)
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
    _check_model_file(args.model)  # every file checked before TVM is imported
    x = _load_input(args.input)
    if args.output:
        _check_output(args.output)
    from ..compiler.runtime import use_backend

    vm = _load_vm(args.model)
    _check_input_shape(vm, x)
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
    names = _output_names(vm, len(outs))
    for i, (name, out) in enumerate(zip(names, outs)):
        print(
            f"output {i}: shape {out.shape}, dtype {out.dtype}, name {name!r}, first values "
            f"{np.array2string(out.ravel()[:6], precision=4)}"
        )
    if args.output:
        what = _save_outputs(args.output, names, outs)
        print(f"wrote {os.path.abspath(args.output)} ({what})")
    if args.reference:
        _print_comparison(args.reference, names, outs)
    return 0


def _load_reference(path: str, names: list[str]) -> list[np.ndarray]:
    """The reference outputs in output order: one ``.npy`` array for one output, or an ``.npz``
    whose arrays are named by the outputs (as ``run -o`` writes them)."""
    if not os.path.isfile(path):
        raise CliError(f"--reference {path!r} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise CliError(f"--reference {path}: not a .npy or .npz file ({err})") from None
    if isinstance(loaded, np.ndarray):
        if len(names) != 1:
            raise CliError(
                f"--reference {path}: one array for a model with {len(names)} outputs; give an "
                f".npz with arrays {', '.join(map(repr, names))}"
            )
        return [loaded]
    with loaded:
        missing = [n for n in names if n not in loaded.files]
        if missing:
            raise CliError(
                f"--reference {path}: no array named {', '.join(map(repr, missing))} (it holds "
                f"{', '.join(map(repr, loaded.files)) or 'none'})"
            )
        return [loaded[n] for n in names]


def _print_comparison(path: str, names: list[str], outs: list[np.ndarray]) -> None:
    from ..report.accuracy import compare_outputs

    for name, out, ref in zip(names, outs, _load_reference(path, names)):
        try:
            c = compare_outputs(out, ref)
        except ValueError as err:
            raise CliError(f"--reference {path}, output {name!r}: {err}") from None
        agree = (
            ""
            if c["argmax_agreement"] is None
            else f", argmax agreement {c['argmax_agreement']:.1%} of {c['n_samples']} samples"
        )
        print(
            f"vs reference, output {name!r}: relative L2 error {c['rel_l2_error']:.4g}, "
            f"max abs error {c['max_abs_error']:.4g}{agree}"
        )

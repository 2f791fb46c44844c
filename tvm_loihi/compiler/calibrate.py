"""Calibration samples at each offloaded function's input, from the user's model-input samples.

The user passes typical model inputs: ``LoihiConfig(calibration=x)`` with ``x`` of shape
``(n_samples, *input_shape[1:])`` when ``main`` has one input, or a dict ``{input_name: array}``.

* An offloaded function fed directly by a model input is calibrated on those samples.
* One fed by host computation in the middle of the graph is calibrated by **running the host prefix
with
  TVM**: ``main`` is cut just before the call, made to return the call's arguments, compiled for
  ``llvm`` and run on the samples (an input given with exactly its static shape, e.g. a runtime
  weight, is fed unchanged to every chunk; earlier offloaded functions, already lowered, run on the
  bit-exact reference backend, so the samples see the same quantised values the chip will produce).
  The samples are fed in chunks of ``main``'s static batch size (the tail that does not fill a chunk
  is dropped).
* Without calibration, or when the prefix cannot be run (e.g. a model input has no samples), the
  documented weight-based default of :mod:`tvm_loihi.model.quantize` applies (a warning says so in
  the latter case).
"""

from __future__ import annotations

import logging

import numpy as np
import tvm
from tvm import relax

from . import _compat
from .runtime import use_backend

logger = logging.getLogger(__name__)


def user_calibration(main: relax.Function, calibration) -> dict:
    """Map the user's calibration samples onto ``main``'s tensor parameters (validated)."""
    params = [p for p in main.params if isinstance(_compat.type_of(p), relax.TensorType)]
    names = [str(p.name) for p in params]
    if isinstance(calibration, dict):
        unknown = sorted(set(calibration) - set(names))
        if unknown:
            raise ValueError(
                f"calibration inputs {unknown} are not inputs of the model; inputs: {names}"
            )
        pairs = [(p, calibration[str(p.name)]) for p in params if str(p.name) in calibration]
    else:
        if len(params) != 1:
            raise ValueError(
                f"calibration is one array but the model has {len(params)} inputs {names}: "
                "pass a dict {input_name: samples}"
            )
        pairs = [(params[0], calibration)]
    out = {}
    for param, samples in pairs:
        arr = np.asarray(samples, dtype=np.float32)
        shape = _compat.tensor_shape(param) or ()
        want = tuple(shape[1:])
        mismatch = any(w is not None and w != a for w, a in zip(want, arr.shape[1:]))
        if arr.ndim != len(shape) or mismatch:
            raise ValueError(
                f"calibration for input {param.name!r} has shape {arr.shape}; expected "
                f"(n_samples, {', '.join(str(w) for w in want)})"
            )
        out[param] = arr
    return out


def _find_call(main: relax.Function, fname: str):
    for b, block in enumerate(main.body.blocks):
        for i, binding in enumerate(block.bindings):
            value = binding.value
            if (
                isinstance(value, relax.Call)
                and isinstance(value.op, tvm.ir.GlobalVar)
                and value.op.name_hint == fname
            ):
                return value, b, i
    return None, -1, -1


def calibration_for_call(mod: tvm.IRModule, fname: str, config) -> dict[int, np.ndarray] | None:
    """Calibration samples per parameter index of offloaded function ``fname`` (None: default)."""
    if config.calibration is None or "main" not in [g.name_hint for g in mod.get_global_vars()]:
        return None
    main = mod["main"]
    user = user_calibration(main, config.calibration)
    call, block_index, binding_index = _find_call(main, fname)
    if call is None:
        logger.warning("%s is not called from main: weight-based default quantisation", fname)
        return None
    result = {i: user[a] for i, a in enumerate(call.args) if a in user}
    missing = [i for i in range(len(call.args)) if i not in result]
    if not missing:
        return result
    tensor_params = [p for p in main.params if isinstance(_compat.type_of(p), relax.TensorType)]
    if any(p not in user for p in tensor_params):
        logger.warning(
            "%s is fed by host ops and not every model input has calibration samples: "
            "weight-based default quantisation",
            fname,
        )
        return result or None
    args = [call.args[i] for i in missing]
    samples = [user[p] for p in tensor_params]
    values = run_host_prefix(mod, main, block_index, binding_index, args, samples)
    result.update(zip(missing, values))
    return result


def _probe_module(
    mod: tvm.IRModule,
    main: relax.Function,
    block_index: int,
    binding_index: int,
    args: list[relax.Expr],
) -> tvm.IRModule:
    blocks = list(main.body.blocks)
    block = blocks[block_index]
    outs = [relax.Var(f"probe{i}", _compat.type_of(a)) for i, a in enumerate(args)]
    bindings = list(block.bindings)[:binding_index]
    bindings += [relax.VarBinding(v, a) for v, a in zip(outs, args)]
    dataflow = isinstance(block, relax.DataflowBlock)
    block_type = relax.DataflowBlock if dataflow else relax.BindingBlock
    cut = block_type(bindings)
    body = relax.SeqExpr([*blocks[:block_index], cut], relax.Tuple(outs))
    ret_ty = relax.TupleType([_compat.type_of(a) for a in args])
    probe_main = relax.Function(main.params, body, ret_ty, True, main.attrs)
    funcs = {
        g: f
        for g, f in mod.functions.items()
        if g.name_hint != "main" and _compat.func_attr(f, "Codegen") is None
    }
    probe = tvm.IRModule(funcs)
    probe["main"] = probe_main
    probe = relax.transform.Normalize()(probe)
    return relax.transform.DeadCodeElimination(["main"])(probe)


def run_host_prefix(mod, main, block_index, binding_index, args, inputs) -> list[np.ndarray]:
    """Run ``main`` up to a binding on calibration inputs and return the values of ``args``.

    An input given with exactly its static shape (e.g. a runtime weight) is passed unchanged to
    every chunk; the others are sample sets cut into chunks of ``main``'s batch size along axis 0.
    """

    probe = _probe_module(mod, main, block_index, binding_index, args)
    ex = tvm.compile(probe, target="llvm", relax_pipeline=_compat.original_default_pipeline())
    vm = relax.VirtualMachine(ex, tvm.cpu())
    params = [p for p in main.params if isinstance(_compat.type_of(p), relax.TensorType)]
    shapes = [_compat.tensor_shape(p) or () for p in params]
    fixed = [tuple(a.shape) == s for a, s in zip(inputs, shapes)]
    batched = [i for i, f in enumerate(fixed) if not f] or [0]
    step = shapes[batched[0]][0] if shapes[batched[0]] else None
    n = min(len(inputs[i]) for i in batched)
    step = step or n
    total = max(n, step)
    feeds = [a if f else np.resize(a, (total, *a.shape[1:])) for a, f in zip(inputs, fixed)]
    chunks: list[list[np.ndarray]] = [[] for _ in args]
    with use_backend("reference"):
        for start in range(0, total - step + 1, step):
            feed = [a if f else a[start : start + step] for a, f in zip(feeds, fixed)]
            outs = vm["main"](*[tvm.runtime.tensor(np.ascontiguousarray(a)) for a in feed])
            for i in range(len(args)):
                chunks[i].append(outs[i].numpy())
    return [np.concatenate(c, axis=0) for c in chunks]

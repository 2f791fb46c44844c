"""The ``loihi.*`` pattern table: which Relax ops become Loihi 2 layers, and why the others do not.

A Loihi 2 layer is a population of neurons fed by a dense or sparse synapse matrix held in core
SRAM, with a per-neuron bias and an optional ReLU (graded spikes are clipped at zero). In Relax that
is ``relu?(add?(matmul(x, W), b))`` with constant ``W`` and ``b``. Every legality rule is a small
``_check_*`` predicate returning a one-line hardware reason (or None); rejections are logged at
DEBUG and collected for :func:`tvm_loihi.compiler.partition.explain_offload`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np
from tvm import relax
from tvm.relax.backend.pattern_registry import get_patterns_with_prefix, register_patterns
from tvm.relax.backend.utils import has_leaking_intermediate_variables
from tvm.relax.dpl import is_op, wildcard

from ..model.resources import layer_capacity_problem
from . import _compat
from .codegen import weight_fingerprint

logger = logging.getLogger(__name__)

PATTERN_PREFIX = "loihi"
SUPPORTED_DTYPES = ("float32",)


@dataclass(frozen=True)
class Rejection:
    """A matmul the Loihi patterns looked at and left on the host, with the hardware reason."""

    var: str
    pattern: str
    reason: str


@dataclass
class CheckLog:
    """What the checks saw during one partitioning run (per thread; see :func:`recording`)."""

    hardware: object | None = None
    rejections: list[Rejection] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)  # bound var name -> pattern name
    too_large: list[Rejection] = field(default_factory=list)
    layer_names: dict[str, str] = field(default_factory=dict)  # weight fingerprint -> source name


_STATE = threading.local()


class recording:  # lower case: a context manager, like tvm.transform.PassContext
    """Collect rejections and accepted matches of the checks run inside the ``with`` block."""

    def __init__(self, hardware: object | None = None, layer_names: dict | None = None):
        self.log = CheckLog(hardware=hardware, layer_names=dict(layer_names or {}))

    def __enter__(self) -> CheckLog:
        self._saved = getattr(_STATE, "log", None)
        _STATE.log = self.log
        return self.log

    def __exit__(self, *exc) -> None:
        _STATE.log = self._saved


def _current_log() -> CheckLog | None:
    return getattr(_STATE, "log", None)


# -- predicates: each returns None when fine, else a one-line hardware reason
# ---------------------------


def _check_weight_constant(weight: relax.Expr) -> str | None:
    if not _compat.is_const(weight):
        return (
            "weights must be constant: synapses live in core SRAM and are programmed before the run"
        )
    return None


def _check_rank(inp: relax.Expr, weight: relax.Expr) -> str | None:
    in_shape, w_shape = _compat.tensor_shape(inp), _compat.tensor_shape(weight)
    if in_shape is None or len(in_shape) != 2:
        rank = "unknown" if in_shape is None else f"{len(in_shape)}-D"
        return (
            f"activations must be 2-D (batch, features), got {rank}: a Loihi layer is a flat "
            "population"
        )
    if w_shape is None or len(w_shape) != 2 or None in w_shape:
        return "weights must be a static 2-D matrix (inputs x neurons)"
    if in_shape[1] is None:
        return "the feature dimension must be static: it fixes the number of input axons"
    return None


def _check_dtype(*exprs: relax.Expr) -> str | None:
    for e in exprs:
        dtype = _compat.tensor_dtype(e)
        if dtype not in SUPPORTED_DTYPES:
            return f"dtype {dtype} unsupported: only float32 models are quantised to 8-bit synapses"
    return None


def _check_bias(bias: relax.Expr, n_neurons: int) -> str | None:
    if not _compat.is_const(bias):
        return "bias must be constant: it is each neuron's bias register, set before the run"
    shape = _compat.tensor_shape(bias) or ()
    if int(np.prod([d or 0 for d in shape])) != n_neurons or max(shape, default=1) != n_neurons:
        return (
            f"bias of shape {shape} is not one value per neuron ({n_neurons}); only a "
            "per-neuron bias maps"
        )
    return None


def _check_not_leaking(ctx: relax.transform.PatternCheckContext) -> str | None:
    if has_leaking_intermediate_variables(ctx):
        return (
            "a pre-activation value is also used on the host; a neuron only emits its "
            "activated output"
        )
    return None


def _check_fits(var: str, weight: relax.Expr, log: CheckLog) -> str | None:
    if log.hardware is None:
        return None
    w = _compat.const_value(weight)
    name = log.layer_names.get(weight_fingerprint(w), var) if log.layer_names else var
    return layer_capacity_problem(name, w.T, log.hardware)


# -- pattern table
# --------------------------------------------------------------------------------------


def _dense_pattern(with_bias: bool, with_relu: bool):
    x, w = wildcard(), wildcard()  # constness is decided by the check, for a readable reason
    matmul = is_op("relax.matmul")(x, w)
    out, ann = matmul, {"input": x, "weight": w, "matmul": matmul}
    if with_bias:
        b = wildcard()
        out = is_op("relax.add")(out, b)
        ann["bias"], ann["add"] = b, out
    if with_relu:
        out = is_op("relax.nn.relu")(out)
    ann["root"] = out
    return out, ann


def _var_name(ctx: relax.transform.PatternCheckContext, expr: relax.Expr) -> str:
    var = ctx.value_to_bound_var.get(expr)
    return str(var.name) if var is not None else "?"


def _reasons(ctx: relax.transform.PatternCheckContext) -> list[tuple[str, str]]:
    """``(bound var the reason is about, reason)`` pairs; empty when the match is legal."""
    ann = ctx.annotated_expr
    inp, weight = ann["input"], ann["weight"]
    matmul = _var_name(ctx, ann["matmul"])
    reasons = [(matmul, _check_weight_constant(weight)), (matmul, _check_dtype(inp, weight))]
    if reasons[0][1] is None:
        reasons.append((matmul, _check_rank(inp, weight)))
    if "bias" in ann and not any(r for _, r in reasons):
        n_neurons = int(_compat.tensor_shape(weight)[1])
        reasons.append((_var_name(ctx, ann["add"]), _check_bias(ann["bias"], n_neurons)))
    reasons.append((_var_name(ctx, ctx.matched_expr), _check_not_leaking(ctx)))
    return [(v, r) for v, r in reasons if r]


def _make_check(pattern_name: str):
    def check(ctx: relax.transform.PatternCheckContext) -> bool:
        log = _current_log()
        var = _var_name(ctx, ctx.annotated_expr["matmul"])
        reasons = _reasons(ctx)
        if not reasons and log is not None:
            too_large = _check_fits(var, ctx.annotated_expr["weight"], log)
            if too_large:
                log.too_large.append(Rejection(var, pattern_name, too_large))
                reasons.append((var, too_large))
        if reasons:
            for about, reason in reasons:
                logger.debug("%s: %s not offloaded: %s", pattern_name, about, reason)
            if log is not None:
                log.rejections.extend(Rejection(v, pattern_name, r) for v, r in reasons)
            return False
        if log is not None:
            for bound in ctx.matched_bindings.keys():
                log.accepted.setdefault(str(bound.name), pattern_name)
        return True

    return check


def _table():
    table = []
    # register_patterns gives later entries higher priority: most specific (bias + relu) last.
    for with_bias, with_relu in ((False, False), (False, True), (True, False), (True, True)):
        suffix = ("_bias" if with_bias else "") + ("_relu" if with_relu else "")
        name = PATTERN_PREFIX + ".dense" + suffix
        pattern, annotations = _dense_pattern(with_bias, with_relu)
        table.append((name, pattern, annotations, _make_check(name)))
    return table


_REGISTERED: list[bool] = []


def register() -> None:
    """Register the ``loihi.*`` patterns with TVM's pattern registry (once per process)."""
    if not _REGISTERED:
        register_patterns(_table())
        _REGISTERED.append(True)


def loihi_patterns() -> list:
    """The registered ``loihi.*`` patterns, highest priority first, for ``FuseOpsByPattern``."""
    register()
    return list(get_patterns_with_prefix(PATTERN_PREFIX))

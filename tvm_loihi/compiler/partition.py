"""Partition a Relax module: every maximal chain of Loihi-legal layers becomes ONE
``Codegen="loihi"`` function; everything else stays on the host.

``FoldConstant`` runs first (ONNX ``Gemm(transB=1)`` leaves ``permute_dims(W)``, which must become a
constant before the weight check can accept it); then ``FuseOpsByPattern(bind_constants=True,
annotate_codegen=False)`` wraps each match in a ``Composite`` function with its weights bound
inside, and ``MergeCompositeFunctions`` merges neighbouring composites into one offloaded function.
A chain interrupted by a host op becomes two functions; a hidden activation also used on the host
makes the offloaded function return a tuple.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import tvm
from tvm import relax

from ..model.argcheck import check_type
from ..model.resources import LoihiCapacityError
from . import _compat
from .codegen import LAYER_NAMES_ATTR
from .config import resolve_hardware
from .patterns import CheckLog, loihi_patterns, recording

logger = logging.getLogger(__name__)

CODEGEN_NAME = "loihi"


def _partition_passes() -> tvm.transform.Pass:
    return tvm.transform.Sequential(
        [
            relax.transform.FoldConstant(),
            relax.transform.FuseOpsByPattern(
                loihi_patterns(), bind_constants=True, annotate_codegen=False
            ),
            relax.transform.MergeCompositeFunctions(),
        ],
        name="PartitionForLoihi",
    )


def _resolve(hardware):
    if hardware is None:
        return None

    return resolve_hardware(hardware)


def partition_with_log(mod: tvm.IRModule, hardware=None) -> tuple[tvm.IRModule, CheckLog]:
    """:func:`partition_for_loihi` plus the check log (rejections, accepted matches) of the run."""
    names = mod.attrs.get(LAYER_NAMES_ATTR) if mod.attrs is not None else None
    names = {str(k): str(v) for k, v in names.items()} if names else {}
    with recording(_resolve(hardware), names) as log:
        out = _partition_passes()(mod)
    for var, reason in dict.fromkeys((r.var, r.reason) for r in log.rejections):
        if var not in log.accepted:
            logger.info("host: %s: %s", var, reason)
    return out, log


def partition_for_loihi(
    mod: tvm.IRModule, hardware=None, *, on_too_large: str = "error"
) -> tvm.IRModule:
    """Offload every maximal chain of Loihi-legal dense layers as one ``Codegen="loihi"`` function.

    Parameters
    ----------
    mod : tvm.IRModule
        A Relax module (e.g. from ``tvm.relax.frontend.onnx.from_onnx``) with weights as constants.
    hardware : str or HardwareSpec, optional
        Target hardware (preset name or spec). When given, a layer larger than the whole hardware
        can hold is handled per ``on_too_large``; without it no size check is made here.
    on_too_large : {"error", "host"}
        ``"error"`` raises :class:`LoihiCapacityError` naming the layer and the limit; ``"host"``
        keeps the layer on the host (the reason is logged and reported by :func:`explain_offload`).

    Returns
    -------
    tvm.IRModule
        The partitioned module; offloaded functions carry ``{"Codegen": "loihi"}``.
    """
    check_type(
        "partition_for_loihi", "mod", mod, tvm.IRModule, "e.g. from tvm_loihi.load_onnx(path)"
    )
    if on_too_large not in ("error", "host"):
        raise ValueError(f"on_too_large must be 'error' or 'host', got {on_too_large!r}")
    out, log = partition_with_log(mod, hardware)
    if log.too_large and on_too_large == "error":
        details = "; ".join(sorted({r.reason for r in log.too_large}))
        raise LoihiCapacityError(
            f"{details}. Choose a larger hardware preset (e.g. target 'loihi2-2chip' or "
            "'loihi2-kapoho'), or pass LoihiConfig(on_too_large='host') to run such layers on the "
            "host"
        )
    return out


def offloaded_functions(mod: tvm.IRModule) -> dict[str, relax.Function]:
    """The ``Codegen="loihi"`` functions of a partitioned module, by global name."""
    return {
        gv.name_hint: f
        for gv, f in mod.functions.items()
        if isinstance(f, relax.Function) and _compat.func_attr(f, "Codegen") == CODEGEN_NAME
    }


@dataclass(frozen=True)
class OffloadDecision:
    """Where one operator of the (constant-folded) ``main`` function runs, and why.

    Parameters
    ----------
    var : str
        The Relax variable the op is bound to.
    op : str
        The Relax op name (``relax.matmul`` ...).
    on_loihi : bool
        True when the op is part of an offloaded layer.
    pattern : str
        The ``loihi.*`` pattern that took it ("" when on the host).
    reasons : tuple of str
        Why it stays on the host (empty when offloaded).
    """

    var: str
    op: str
    on_loihi: bool
    pattern: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        where = f"loihi ({self.pattern})" if self.on_loihi else "host"
        reasons = "; ".join(self.reasons) or "no Loihi pattern for this op"
        why = "" if self.on_loihi else ": " + reasons
        return f"{self.var} = {self.op} -> {where}{why}"


def _main_bindings(mod: tvm.IRModule, func_name: str = "main"):
    func = mod[func_name]
    body = func.body
    for block in getattr(body, "blocks", []):
        for binding in block.bindings:
            value = binding.value
            if isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op):
                yield str(binding.var.name), str(value.op.name)


def explain_offload(mod: tvm.IRModule, hardware=None) -> list[OffloadDecision]:
    """Per operator of ``main``: offloaded to Loihi or kept on the host, with the hardware reason.

    Parameters
    ----------
    mod : tvm.IRModule
        The un-partitioned Relax module.
    hardware : str or HardwareSpec, optional
        Hardware for the size check (see :func:`partition_for_loihi`).

    Returns
    -------
    list of OffloadDecision
        In program order of the constant-folded ``main``.
    """
    check_type("explain_offload", "mod", mod, tvm.IRModule, "e.g. from tvm_loihi.load_onnx(path)")
    folded = relax.transform.FoldConstant()(mod)
    _, log = partition_with_log(folded, hardware)
    by_var: dict[str, list[str]] = {}
    for rej in log.rejections:
        by_var.setdefault(rej.var, [])
        if rej.reason not in by_var[rej.var]:
            by_var[rej.var].append(rej.reason)
    decisions = []
    for var, op in _main_bindings(folded):
        pattern = log.accepted.get(var, "")
        decisions.append(
            OffloadDecision(
                var, op, bool(pattern), pattern, () if pattern else tuple(by_var.get(var, ()))
            )
        )
    return decisions

"""``LowerLoihiToPacked``: replace every ``Codegen="loihi"`` function by calls to the Loihi runtime.

Each chain of an offloaded function (see :mod:`tvm_loihi.compiler.codegen`) becomes::

    R.call_dps_packed("tvm_loihi.run_subgraph", (R.str(payload_json), x, *weight_consts), out_ty)

``payload_json`` holds ``NetworkIR.meta_json()`` under ``"network"`` (plus ``"mapping"`` when the
mapping provider returns one, and ``"hardware"`` when a hardware spec is known); the constants are
``NetworkIR.arrays()`` (CSR data/indices/indptr and bias per layer). The offloaded function keeps
its name but becomes a plain private host function, which ``InlinePrivateFunctions`` then inlines
into its caller (unless a shape is symbolic, e.g. a dynamic batch). The module also gains an
exported function ``tvm_loihi_payloads`` returning every payload string, which
:func:`tvm_loihi.read_mappings` reads back from a compiled artifact.

Mapping seam: the config's ``mapping_provider`` (``fn(network, hardware) -> dict | None``, a mapping
JSON, e.g. the best tuned mapping from a tuning log; see
:class:`~tvm_loihi.compiler.config.LoihiConfig`) is consulted once per network at lowering time.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import tvm
from tvm import relax

from ..constants import PAYLOADS_FUNC, RUNTIME_FUNC
from ..model.network import NetworkIR
from ..model.resources import check_network_fits
from . import _compat
from .calibrate import calibration_for_call
from .codegen import LAYER_NAMES_ATTR, Chain, compile_function, returned_exprs
from .config import current_config, mapping_for, resolve_hardware
from .partition import offloaded_functions

logger = logging.getLogger(__name__)

PAYLOAD_FORMAT = "tvm_loihi.payload"
PAYLOAD_VERSION = 1


def make_payload(
    network: NetworkIR, function: str, hardware: object | None, mapping: dict | None = None
) -> str:
    """The JSON payload string of one network (see the module docstring)."""
    payload = {
        "format": PAYLOAD_FORMAT,
        "version": PAYLOAD_VERSION,
        "function": function,
        "workload_key": network.workload_key(),
        "n_arrays": len(network.arrays()),
        "network": network.meta_json(),
    }
    if mapping is not None:
        payload["mapping"] = mapping
    if hardware is not None and hasattr(hardware, "to_json"):
        payload["hardware"] = hardware.to_json()
    return json.dumps(payload, sort_keys=True)


def _emit_chain(
    bb: relax.BlockBuilder, chain: Chain, network: NetworkIR, payload: str, env: dict
) -> None:
    consts = [relax.const(np.ascontiguousarray(a)) for a in network.arrays()]
    inp = env.get(chain.input_expr, chain.input_expr)
    out_types = [chain.calls[t].out_type for t in chain.taps]
    args = [_compat.string_imm(payload), inp, *consts]
    call = _compat.call_dps_packed(RUNTIME_FUNC, args, out_types)
    result = bb.emit(call, name_hint="loihi_out")
    if len(chain.taps) == 1:
        env[chain.calls[chain.taps[0]].out_var] = result
        return
    for i, t in enumerate(chain.taps):
        env[chain.calls[t].out_var] = bb.emit(relax.TupleGetItem(result, i))


def _lowered_function(func: relax.Function, compiled, payloads: list[str]) -> relax.Function:
    bb = relax.BlockBuilder()
    env: dict = {}
    with bb.function("loihi_lowered", params=list(func.params), private=True):
        with bb.dataflow():
            for (chain, network), payload in zip(compiled, payloads):
                _emit_chain(bb, chain, network, payload, env)
            mapped = [env.get(f, f) for f in returned_exprs(func)]
            is_tuple = isinstance(func.body.body, relax.Tuple)
            out = bb.emit_output(relax.Tuple(mapped) if is_tuple else mapped[0])
        bb.emit_func_output(out)
    return bb.get()["loihi_lowered"]


def _payloads_function(payloads: list[str]) -> relax.Function:
    bb = relax.BlockBuilder()
    with bb.function(PAYLOADS_FUNC, params=[]):
        out = bb.emit(relax.Tuple([_compat.string_imm(p) for p in payloads]))
        bb.emit_func_output(out)
    return bb.get()[PAYLOADS_FUNC]


def _call_order(mod: tvm.IRModule, names: set[str]) -> list[str]:
    """Offloaded function names in the order ``main`` calls them (then any others)."""
    order: list[str] = []

    def visit(expr):
        if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.GlobalVar):
            if expr.op.name_hint in names and expr.op.name_hint not in order:
                order.append(expr.op.name_hint)

    if "main" in [gv.name_hint for gv in mod.get_global_vars()]:
        relax.analysis.post_order_visit(mod["main"], visit)
    return order + sorted(names - set(order))


def lower_loihi(mod: tvm.IRModule, config=None) -> tvm.IRModule:
    """Apply the lowering to a partitioned module (see the module docstring).

    Parameters
    ----------
    mod : tvm.IRModule
        Output of :func:`tvm_loihi.partition_for_loihi`.
    config : LoihiConfig, optional
        Hardware and calibration; default: :func:`tvm_loihi.compiler.config.current_config`.

    Returns
    -------
    tvm.IRModule
        The module with no ``Codegen="loihi"`` function left.
    """
    config = config or current_config()
    hardware = resolve_hardware(config.hardware) if config.hardware is not None else None
    offloaded = offloaded_functions(mod)
    if not offloaded:
        return mod
    names_attr = mod.attrs.get(LAYER_NAMES_ATTR) if mod.attrs is not None else None
    layer_names = {str(k): str(v) for k, v in names_attr.items()} if names_attr else {}
    all_payloads: list[str] = []
    static = all(
        None not in (_compat.tensor_shape(p) or (None,))
        for f in offloaded.values()
        for p in f.params
    )
    for index, fname in enumerate(_call_order(mod, set(offloaded))):
        func = offloaded[fname]
        calibration = calibration_for_call(mod, fname, config)
        compiled = compile_function(
            func,
            f"loihi{index}",
            calibration,
            layer_names,
            input_layer=config.input_layer == "chip",
            weight_clip_percentile=config.weight_clip_percentile,
        )
        _check_capacity(compiled, hardware)
        payloads = [
            make_payload(net, fname, hardware, mapping_for(config, net, hardware))
            for _, net in compiled
        ]
        all_payloads += payloads
        gv = mod.get_global_var(fname)
        mod = _replace(mod, gv, _lowered_function(func, compiled, payloads))
        logger.info(
            "lowered %s: %s",
            fname,
            ", ".join(f"{net.name} {net.layer_sizes}" for _, net in compiled),
        )
    mod[PAYLOADS_FUNC] = _payloads_function(all_payloads)
    # Inlining would leave the callee's symbolic shape vars unbound in call_dps_packed's out_ty, so
    # functions with a dynamic batch stay separate private functions.
    return relax.transform.InlinePrivateFunctions()(mod) if static else mod


def _replace(mod: tvm.IRModule, gv: tvm.ir.GlobalVar, func: relax.Function) -> tvm.IRModule:
    funcs = {g: f for g, f in mod.functions.items() if not g.same_as(gv)}
    funcs[gv] = func
    return tvm.IRModule(funcs, attrs=mod.attrs)


def _check_capacity(compiled, hardware) -> None:
    if hardware is None:
        return
    for _, network in compiled:
        check_network_fits(network, hardware)


def LowerLoihiToPacked(config=None) -> tvm.transform.Pass:  # CamelCase: TVM pass naming
    """The lowering as a module pass (see :func:`lower_loihi`)."""

    @tvm.transform.module_pass(opt_level=0, name="LowerLoihiToPacked")
    def _pass(mod: tvm.IRModule, ctx) -> tvm.IRModule:
        return lower_loihi(mod, config)

    return _pass

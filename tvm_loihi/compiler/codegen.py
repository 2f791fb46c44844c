"""Codegen: ``Codegen="loihi"`` Relax function -> float layers -> quantised NetworkIR chains.

An offloaded function is a sequence of calls to ``Composite="loihi.dense[_bias][_relu]"`` functions
(see :mod:`tvm_loihi.compiler.patterns`). Each call is one layer. Layers are grouped into *chains*:
a layer extends the chain whose last output it consumes; otherwise (fan-out, or an independent
branch merged by ``MergeCompositeFunctions``) it starts a new chain. Every layer output used outside
its chain -- returned by the function (hidden activation also used on the host) or feeding another
chain -- is a
*tap*: an extra output of that chain's network. Almost always an offloaded function is exactly one
chain.

Layer names: the ONNX node name when the module came through :func:`tvm_loihi.load_onnx` (it
records a fingerprint of every weight), else the Relax variable the matmul was bound to in ``main``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import tvm
from tvm import relax

from ..model.network import NetworkIR
from ..model.quantize import FloatLayer, float_reference, quantize_network
from . import _compat

LAYER_NAMES_ATTR = "tvm_loihi.layer_names"  # IRModule attr: weight fingerprint -> source layer name


def weight_fingerprint(weight_in_out: np.ndarray) -> str:
    """Fingerprint of a float weight as Relax holds it (``(n_in, n_out)``, ``matmul(x, W)``)."""
    w = np.ascontiguousarray(weight_in_out, dtype=np.float32)
    # blake2b is fast enough for 16 MB weights (tens of ms); the shape disambiguates reshaped
    # copies.
    return hashlib.blake2b(
        memoryview(w).cast("B"), digest_size=8, person=repr(w.shape).encode()[:16]
    ).hexdigest()


@dataclass(frozen=True, eq=False)
class LayerCall:
    """One composite call inside an offloaded function."""

    out_var: relax.Var
    in_expr: relax.Expr
    layer: FloatLayer
    out_type: object


@dataclass(frozen=True, eq=False)
class Chain:
    """One network of an offloaded function: its input expression, layers, and tapped outputs.

    Parameters
    ----------
    input_expr : relax.Expr
        A parameter of the offloaded function, or a tapped output of an earlier chain.
    calls : tuple of LayerCall
        The layers, input to output.
    taps : tuple of int
        Indices (into ``calls``) whose outputs leave the chain, ascending; the last layer always
        does.
    """

    input_expr: relax.Expr
    calls: tuple[LayerCall, ...]
    taps: tuple[int, ...]

    @property
    def float_layers(self) -> list[FloatLayer]:
        return [c.layer for c in self.calls]


def _composite_layer(func: relax.Function, default_name: str, names: dict) -> FloatLayer:
    weight = bias = None
    relu = False
    matmul_var = default_name
    for block in func.body.blocks:
        for binding in block.bindings:
            value = binding.value
            is_op_call = isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op)
            op = value.op.name if is_op_call else ""
            if op == "relax.matmul":
                weight = _compat.const_value(value.args[1])
                matmul_var = str(binding.var.name)
            elif op == "relax.add":
                bias = _compat.const_value(value.args[1]).reshape(-1)
            elif op == "relax.nn.relu":
                relu = True
    if weight is None:
        raise ValueError(f"loihi composite {default_name!r} has no matmul with a constant weight")
    name = names.get(weight_fingerprint(weight), matmul_var) if names else matmul_var
    return FloatLayer(name, np.ascontiguousarray(weight.T), bias, relu)


def layer_calls(func: relax.Function, names: dict | None = None) -> list[LayerCall]:
    """The composite calls of an offloaded function, in program order, as float layers."""
    names = names or {}
    composites: dict[relax.Var, relax.Function] = {}
    aliases = var_aliases(func)
    calls = []
    for block in func.body.blocks:
        for binding in block.bindings:
            value = binding.value
            if isinstance(value, relax.Function):
                composites[binding.var] = value
            elif isinstance(value, relax.Call) and value.op in composites:
                layer = _composite_layer(composites[value.op], str(binding.var.name), names)
                inp = aliases.get(value.args[0], value.args[0])
                calls.append(LayerCall(binding.var, inp, layer, _compat.type_of(binding.var)))
            elif not isinstance(value, relax.Var):
                raise ValueError(
                    f"unexpected binding {binding.var.name} in offloaded function: "
                    f"{type(value).__name__}"
                )
    return calls


def var_aliases(func: relax.Function) -> dict[relax.Var, relax.Expr]:
    """``v = w`` bindings of a function, resolved to the original expression."""
    aliases: dict[relax.Var, relax.Expr] = {}
    for block in func.body.blocks:
        for binding in block.bindings:
            if isinstance(binding.value, relax.Var):
                aliases[binding.var] = aliases.get(binding.value, binding.value)
    return aliases


def returned_exprs(func: relax.Function) -> list[relax.Expr]:
    """The function's outputs (tuple fields, or the single result), with aliases resolved."""
    ret = func.body.body
    aliases = var_aliases(func)
    fields = list(ret.fields) if isinstance(ret, relax.Tuple) else [ret]
    return [aliases.get(f, f) for f in fields]


def split_chains(func: relax.Function, calls: list[LayerCall]) -> list[Chain]:
    """Group layer calls into chains and find each chain's tapped outputs (module docstring)."""
    groups: list[list[LayerCall]] = []
    open_end: dict[relax.Var, int] = {}  # last output of a chain that can still grow -> chain index
    for call in calls:
        k = open_end.pop(call.in_expr, None) if isinstance(call.in_expr, relax.Var) else None
        if k is None:
            groups.append([call])
            k = len(groups) - 1
        else:
            groups[k].append(call)
        open_end[call.out_var] = k
    returned = set(returned_exprs(func))
    chain_inputs = {g[0].in_expr for g in groups}
    chains = []
    for group in groups:
        taps = [
            i
            for i, c in enumerate(group)
            if i == len(group) - 1 or c.out_var in returned or c.out_var in chain_inputs
        ]
        chains.append(Chain(group[0].in_expr, tuple(group), tuple(taps)))
    return chains


def compile_chain(
    chain: Chain,
    calibration: np.ndarray | None,
    name: str,
    input_layer: bool = False,
    weight_clip_percentile: float | None = None,
) -> NetworkIR:
    """Quantise one chain with fixed parameters (calibration samples at its input, or default);
    ``input_layer`` prepends the on-chip input population
    (:func:`tvm_loihi.model.quantize.input_relay`); ``weight_clip_percentile`` as in
    :func:`~tvm_loihi.model.quantize.quantize_network`."""
    return quantize_network(
        chain.float_layers,
        calibration,
        name=name,
        tap_layers=chain.taps,
        input_layer=input_layer,
        weight_clip_percentile=weight_clip_percentile,
    )


def compile_function(
    func: relax.Function,
    name: str,
    calibration: dict[int, np.ndarray] | None = None,
    layer_names: dict | None = None,
    input_layer: bool = False,
    weight_clip_percentile: float | None = None,
) -> list[tuple[Chain, NetworkIR]]:
    """Compile an offloaded function into quantised networks, one per chain.

    Parameters
    ----------
    func : relax.Function
        A ``Codegen="loihi"`` function.
    name : str
        Base name of the networks (messages, payloads).
    calibration : dict of int to numpy.ndarray, optional
        Calibration samples per parameter index of ``func``; chains fed by another chain are
        calibrated with the float reference of the chain that feeds them.
    layer_names : dict, optional
        Weight fingerprint -> source layer name (see :data:`LAYER_NAMES_ATTR`).
    input_layer : bool
        Give every network an on-chip input population (``LoihiConfig(input_layer="chip")``).
    weight_clip_percentile : float, optional
        Weight step from this percentile of ``|W|`` (``LoihiConfig(weight_clip_percentile=...)``).

    Returns
    -------
    list of (Chain, NetworkIR)
    """
    calls = layer_calls(func, layer_names)
    if not calls:
        raise ValueError(f"offloaded function {name!r} has no layers")
    chains = split_chains(func, calls)
    known: dict[relax.Expr, np.ndarray] = {}
    for i, param in enumerate(func.params):
        if calibration and i in calibration:
            known[param] = np.asarray(calibration[i], dtype=np.float32)
    out = []
    for j, chain in enumerate(chains):
        cal = known.get(chain.input_expr)
        net_name = name if len(chains) == 1 else f"{name}.{j}"
        out.append(
            (chain, compile_chain(chain, cal, net_name, input_layer, weight_clip_percentile))
        )
        if cal is not None:
            values = float_reference(chain.float_layers, cal)
            for call, value in zip(chain.calls, values):
                known[call.out_var] = value.astype(np.float32)
    return out

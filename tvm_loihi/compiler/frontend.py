"""Load an ONNX model into Relax with clear errors, optionally cut to the outputs you need.

:func:`load_onnx` checks the file (missing, truncated or malformed -> :class:`OnnxLoadError` saying
which), checks that TVM's importer knows every op (else names the ops and the nodes, and suggests
cutting the graph with ``outputs=[...]``), checks every initializer and ``Constant`` for NaN,
infinity and empty dimensions (else names the tensor and the nodes that use it), then imports with
the weights as constants and records each dense layer's ONNX node name so the offloaded layers
carry it
(:data:`tvm_loihi.compiler.codegen.LAYER_NAMES_ATTR`).
"""

from __future__ import annotations

import os

import numpy as np
import tvm

from ..model.argcheck import check_type, describe
from . import _compat
from .codegen import LAYER_NAMES_ATTR, weight_fingerprint


class OnnxLoadError(ValueError):
    """The ONNX model cannot be loaded or imported; the message says why and what to do."""


class UnsupportedOpsError(OnnxLoadError):
    """TVM's ONNX importer lacks some ops of the graph.

    Attributes
    ----------
    ops : tuple of str
        The unsupported op types.
    nodes : tuple of str
        The offending nodes, by name or, unnamed, by op type and index (``"ArgMax node #7"``).
    reachable : tuple of str
        Values computed without any unsupported op, to cut the graph to: the graph outputs among
        them first, else the values the unsupported nodes consume (never an initializer or a graph
        input). Empty when the unsupported ops come first.
    """

    def __init__(self, where: str, ops, nodes, reachable) -> None:
        self.where, self.ops, self.nodes = where, tuple(ops), tuple(nodes)
        self.reachable = tuple(reachable)
        super().__init__(self.message(f"tvm_loihi.load_onnx(path, outputs={list(reachable)!r})"))

    def message(self, cut: str) -> str:
        """The message with ``cut`` (how to cut the graph in the caller's syntax) as the fix."""
        nodes = ", ".join(self.nodes[:5]) + (
            f" and {len(self.nodes) - 5} more" if len(self.nodes) > 5 else ""
        )
        head = (
            f"{self.where}: TVM's ONNX importer does not support op(s) {', '.join(self.ops)} "
            f"(nodes: {nodes})"
        )
        if not self.reachable:
            return (
                f"{head}; no value of the graph can be computed without them (they read the "
                "graph inputs directly): re-export the model without them"
            )
        return f"{head}. Cut the graph to values computed without them: {cut}"


def _node_label(node, index: int) -> str:
    return f"{node.name} ({node.op_type})" if node.name else f"{node.op_type} node #{index}"


def reachable_without(model, bad_types: set[str]) -> list[str]:
    """Values of ``model`` computed without any op in ``bad_types``: the graph outputs among them
    (in output order), else the computed values the unsupported nodes read (graph order)."""
    tainted: set[str] = set()
    for node in model.graph.node:  # ONNX graphs are topologically sorted
        if node.op_type in bad_types or any(i in tainted for i in node.input if i):
            tainted.update(o for o in node.output if o)
    computed = {o for n in model.graph.node for o in n.output if o} - tainted
    outputs = [o.name for o in model.graph.output if o.name in computed]
    if outputs:
        return outputs
    frontier: list[str] = []
    for node in model.graph.node:
        if node.op_type in bad_types or any(i in tainted for i in node.input if i):
            frontier += [i for i in node.input if i in computed and i not in frontier]
    return frontier


def _read_model(path_or_model):
    import onnx
    from google.protobuf.message import DecodeError

    if not isinstance(path_or_model, (str, os.PathLike)):
        check_type(
            "load_onnx",
            "path_or_model",
            path_or_model,
            (str, os.PathLike, onnx.ModelProto),
            "an .onnx path or onnx.load(path)",
        )
        return path_or_model, "<model>"
    path = os.fspath(path_or_model)
    if not os.path.exists(path):
        raise FileNotFoundError(f"ONNX file {path!r} does not exist")
    try:
        return onnx.load(path), path
    except (DecodeError, ValueError, RuntimeError) as err:
        size = os.path.getsize(path)
        raise OnnxLoadError(
            f"{path!r} ({size} bytes) is not a readable ONNX model (truncated or corrupt file?): "
            f"{err}"
        ) from err


def _check(model, where: str) -> None:
    import onnx

    if not model.graph.node:
        raise OnnxLoadError(f"{where}: the ONNX graph has no nodes (truncated or empty model?)")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        raise OnnxLoadError(f"{where}: the ONNX model is invalid: {first}") from err


def _check_ops(model, where: str) -> None:
    supported = _compat.onnx_supported_ops()
    bad = [n for n in model.graph.node if n.op_type not in supported]
    if not bad:
        return
    ops = sorted({n.op_type for n in bad})
    labels = [_node_label(n, i) for i, n in enumerate(model.graph.node) if n.op_type in ops]
    raise UnsupportedOpsError(where, ops, labels, reachable_without(model, set(ops)))


def _constant_tensors(model):
    """(tensor name, TensorProto) of every initializer and ``Constant`` node value."""
    for init in model.graph.initializer:
        yield init.name, init
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    yield node.output[0], attr.t


def _check_tensors(model, where: str) -> None:
    from onnx import numpy_helper

    users: dict[str, list[str]] = {}
    for node in model.graph.node:
        for value in node.input:
            users.setdefault(value, []).append(
                f"node {node.name or node.output[0]!r} ({node.op_type})"
            )
    for name, tensor in _constant_tensors(model):
        used_by = ", ".join(users.get(name, [])[:3]) or "no node"
        dims = tuple(int(d) for d in tensor.dims)
        if 0 in dims:
            raise OnnxLoadError(
                f"{where}: tensor {name!r} (used by {used_by}) has an empty dimension, shape "
                f"{dims}: a layer needs at least one neuron and one input; fix the export"
            )
        values = numpy_helper.to_array(tensor)
        if values.dtype.kind not in "fc":
            continue
        bad = ~np.isfinite(values)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            counts = [
                f"{n} {kind}"
                for n, kind in (
                    (int(np.isnan(values).sum()), "NaN"),
                    (int(np.isinf(values).sum()), "infinite"),
                )
                if n
            ]
            raise OnnxLoadError(
                f"{where}: tensor {name!r} (used by {used_by}) has {' and '.join(counts)} "
                f"value(s) of {values.size} (first at index {first}): the chip needs finite "
                "weights and biases; fix the model (a diverged training run or a bad export?)"
            )
    init = {i.name for i in model.graph.initializer}
    for value in model.graph.input:
        dims = [
            d.dim_value if d.HasField("dim_value") else None
            for d in value.type.tensor_type.shape.dim
        ]
        if value.name not in init and 0 in dims:
            raise OnnxLoadError(
                f"{where}: input {value.name!r} has an empty dimension, shape "
                f"{tuple(dims)}: fix the export (or pass shape_dict)"
            )


def cut_onnx(model, outputs: list[str]):
    """The sub-model computing only ``outputs`` from the graph inputs (``onnx.utils.Extractor``)."""
    import onnx.utils

    init = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in init]
    known = {o for n in model.graph.node for o in n.output} | set(inputs)
    graph_outputs = ", ".join(o.name for o in model.graph.output)
    constants = [o for o in outputs if o in init]
    if constants:
        raise OnnxLoadError(
            f"outputs {', '.join(constants)}: initializers (constants of the "
            f"graph), not computed values; graph outputs: {graph_outputs}"
        )
    missing = [o for o in outputs if o not in known]
    if missing:
        raise OnnxLoadError(
            f"outputs {', '.join(missing)}: not values of the ONNX graph; "
            f"graph outputs: {graph_outputs}"
        )
    inferred = onnx.shape_inference.infer_shapes(model)
    return onnx.utils.Extractor(inferred).extract_model(inputs, list(outputs))


def layer_names(model) -> dict[str, str]:
    """Weight fingerprint (as Relax holds the weight) -> ONNX node name, for Gemm/MatMul nodes."""
    from onnx import numpy_helper

    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    names = {}
    for node in model.graph.node:
        dense = node.op_type in ("Gemm", "MatMul") and len(node.input) >= 2
        if not dense or node.input[1] not in weights:
            continue
        w = weights[node.input[1]].astype(np.float32)
        attrs = {a.name: a for a in node.attribute}
        if node.op_type == "Gemm" and "transB" in attrs and attrs["transB"].i:
            w = w.T
        if w.ndim == 2:
            names[weight_fingerprint(w)] = node.name or node.output[0]
    return names


def load_onnx(
    path_or_model, outputs: list[str] | None = None, shape_dict: dict | None = None
) -> tvm.IRModule:
    """Load an ONNX file (or ``ModelProto``) into a Relax module ready for ``tvm.compile``.

    Parameters
    ----------
    path_or_model : str, os.PathLike or onnx.ModelProto
        The model.
    outputs : list of str, optional
        Cut the graph to these value names first (drops every node not needed for them, e.g. ops
        TVM's importer does not support).
    shape_dict : dict, optional
        Input shapes for models with dynamic dimensions (passed to ``from_onnx``).

    Returns
    -------
    tvm.IRModule
        Weights as constants; ONNX layer names recorded under :data:`LAYER_NAMES_ATTR`.
    """
    if outputs is not None and (
        isinstance(outputs, str) or not all(isinstance(name, str) for name in outputs)
    ):
        raise TypeError(
            f"load_onnx: outputs must be a list of str (value names, e.g. "
            f"['probabilities']), got {describe(outputs)}"
        )
    if shape_dict is not None:
        check_type("load_onnx", "shape_dict", shape_dict, dict, "input name -> shape")
    model, where = _read_model(path_or_model)
    _check(model, where)
    if outputs:
        model = cut_onnx(model, list(outputs))
    _check_ops(model, where)
    _check_tensors(model, where)
    try:
        mod = _compat.onnx_to_relax(model, shape_dict)
    except Exception as err:  # the importer raises many types; keep the cause, say where
        raise OnnxLoadError(
            f"{where}: TVM's ONNX importer failed: {type(err).__name__}: {err}"
        ) from err
    return mod.with_attr(LAYER_NAMES_ATTR, layer_names(model))

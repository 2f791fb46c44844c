"""Every version-sensitive TVM call tvm_loihi makes, in one place (checked by tests/test_compat.py).

apache-tvm 0.27 renamed much of the Relax API (``StructInfo`` -> ``Type`` and ``.ty``,
``relax.Constant`` -> ``tvm.ir.expr.GenericConst``, ``out_sinfo`` -> ``out_ty``, ``tvm.nd`` ->
``tvm.runtime.tensor``) and has no Python hook for a CPU target to pick its own Relax pipeline. When
TVM moves, only this module should change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tvm
from tvm import relax
from tvm.ir.expr import GenericConst, StringImm
from tvm.relax import pipeline as _pipeline

__all__ = [
    "GenericConst",
    "call_dps_packed",
    "const_value",
    "func_attr",
    "is_const",
    "register_global_func",
    "register_pipeline",
    "register_tag",
    "ret_type",
    "string_imm",
    "tensor_dtype",
    "tensor_shape",
    "type_of",
    "wrap_default_pipeline",
]


def type_of(expr: relax.Expr) -> Any:
    """The Relax type of an expression (``expr.ty`` in 0.27, ``struct_info`` before)."""
    return expr.ty


def is_const(expr: relax.Expr) -> bool:
    """True for a bound constant tensor (``GenericConst`` in 0.27, ``relax.Constant`` before)."""
    return isinstance(expr, GenericConst)


def const_value(expr: relax.Expr) -> np.ndarray:
    """The numpy value of a constant."""
    return expr.value.numpy()


def tensor_shape(expr_or_type: Any) -> tuple[int | None, ...] | None:
    """Static shape of a tensor expr/type (None per symbolic dim); None if the rank is unknown."""
    ty = expr_or_type if isinstance(expr_or_type, relax.TensorType) else type_of(expr_or_type)
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        return None
    values = getattr(ty.shape, "values", None)
    if values is None:
        return None
    return tuple(int(v) if isinstance(v, tvm.tirx.IntImm) else None for v in values)


def tensor_dtype(expr_or_type: Any) -> str | None:
    """Element dtype of a tensor expression or type, or None when it is not a tensor."""
    ty = expr_or_type if isinstance(expr_or_type, relax.TensorType) else type_of(expr_or_type)
    return str(ty.dtype) if isinstance(ty, relax.TensorType) else None


def ret_type(func: relax.Function) -> Any:
    """Return type of a Relax function."""
    return func.ret_ty


def func_attr(func: Any, key: str) -> Any:
    """A function attribute or None."""
    attrs = getattr(func, "attrs", None)
    return None if attrs is None else attrs.get(key)


def string_imm(text: str) -> relax.Expr:
    """A Relax string literal (``R.str``)."""
    return StringImm(text)


def call_dps_packed(name: str, args: list[relax.Expr], out_types: list[Any]) -> relax.Call:
    """``R.call_dps_packed(name, (args...), out_ty)``; one output type: tensor, several: tuple."""
    out_ty = out_types[0] if len(out_types) == 1 else list(out_types)
    return relax.call_dps_packed(name, relax.Tuple(args), out_ty)


def register_global_func(name: str, func: Callable) -> None:
    """Register (or replace) a process-wide packed function."""
    tvm.register_global_func(name, func, override=True)


def register_tag(name: str, config: dict) -> None:
    """Register a target tag; re-registering in the same process is a no-op-equivalent override."""
    tvm.target.tag.register_tag(name, config, override=True)


def register_pipeline(name: str, factory: Callable[..., tvm.transform.Pass]) -> None:
    """Register a Relax pipeline by name, once per process (TVM raises on a second registration)."""
    if _pipeline.PIPELINE_MAP.get(name) is not factory:
        _pipeline.PIPELINE_MAP[name] = factory


_DEFAULT_PIPELINE_KEY = "default"
_WRAPPED_MARK = "_tvm_loihi_wrapped"


def wrap_default_pipeline(pre_pass_factory: Callable[[], tvm.transform.Pass]) -> None:
    """Run ``pre_pass_factory()``'s pass before TVM's default Relax pipeline (idempotent).

    ``relax.build`` looks ``PIPELINE_MAP["default"]`` up for every non-GPU target -- before it
    enters ``with target:`` -- so wrapping that (private) entry is the only way plain
    ``tvm.compile(mod, target="loihi2")`` can offload. The pre-pass must itself check
    ``Target.current()`` and return the module untouched for other targets.
    """
    original = _pipeline.PIPELINE_MAP[_DEFAULT_PIPELINE_KEY]
    if getattr(original, _WRAPPED_MARK, False):
        return

    def default_with_loihi(**kwargs):
        passes = [pre_pass_factory(), original(**kwargs)]
        return tvm.transform.Sequential(passes, name="Loihi2Default")

    setattr(default_with_loihi, _WRAPPED_MARK, True)
    default_with_loihi.__wrapped__ = original
    _pipeline.PIPELINE_MAP[_DEFAULT_PIPELINE_KEY] = default_with_loihi


def default_pipeline_is_wrapped() -> bool:
    """True when :func:`wrap_default_pipeline` is in effect."""
    return bool(getattr(_pipeline.PIPELINE_MAP.get(_DEFAULT_PIPELINE_KEY), _WRAPPED_MARK, False))


def original_default_pipeline(**kwargs) -> tvm.transform.Pass:
    """TVM's own default Relax pipeline (bypassing the wrapper)."""
    entry = _pipeline.PIPELINE_MAP[_DEFAULT_PIPELINE_KEY]
    return getattr(entry, "__wrapped__", entry)(**kwargs)


def current_target() -> tvm.target.Target | None:
    """The target of the enclosing ``with target:`` (``relax.build`` enters it for the pipeline)."""
    return tvm.target.Target.current(allow_none=True)


def target_keys(target: tvm.target.Target | None) -> tuple[str, ...]:
    """The target's keys, as plain strings."""
    return () if target is None else tuple(str(k) for k in target.keys)


def target_model(target: tvm.target.Target | None) -> str:
    """The target's ``model`` attribute ("" when unset)."""
    if target is None:
        return ""
    return str(target.attrs.get("model", "") or "")


def onnx_supported_ops() -> set[str]:
    """ONNX op types TVM's Relax importer converts (its private converter map + special cases)."""
    from tvm.relax.frontend.onnx import onnx_frontend

    return set(onnx_frontend._get_convert_map()) | {"If", "Constant"}


def onnx_to_relax(model, shape_dict: dict | None = None) -> tvm.IRModule:
    """``tvm.relax.frontend.onnx.from_onnx`` with the weights kept as constants."""
    from tvm.relax.frontend.onnx import from_onnx

    return from_onnx(model, shape_dict=shape_dict, keep_params_in_input=False)


def register_ffi_error(cls: type) -> type:
    """Let ``cls`` keep its type when raised inside a pass and re-raised through TVM's FFI."""
    import tvm_ffi

    tvm_ffi.error.register_error(cls.__name__, cls)
    return cls

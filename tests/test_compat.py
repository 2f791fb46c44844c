"""Fails loudly when a TVM upgrade breaks a version-sensitive call in tvm_loihi.compiler._compat."""

from __future__ import annotations

import inspect

import numpy as np
import tvm
from tvm import relax
from tvm.relax import pipeline as tvm_pipeline

import tvm_loihi
from tvm_loihi.compiler import _compat


def test_relax_build_looks_the_default_pipeline_up_by_name_for_cpu_targets():
    # tvm.compile(mod, target="loihi2") offloads only because relax.build calls
    # relax.get_pipeline("default") for non-GPU targets, which reads PIPELINE_MAP["default"].
    src = inspect.getsource(relax.vm_build.build)
    assert 'relax_pipeline == "default" and _is_gpu' in src
    assert "relax.get_pipeline(relax_pipeline)" in src
    assert "with target:" in src
    assert "return PIPELINE_MAP[name](**kwargs)" in inspect.getsource(tvm_pipeline.get_pipeline)


def test_default_pipeline_is_wrapped_once_around_tvms_own():
    entry = tvm_pipeline.PIPELINE_MAP["default"]
    assert _compat.default_pipeline_is_wrapped()
    assert entry.__wrapped__ is tvm_pipeline.default_build_pipeline
    _compat.wrap_default_pipeline(lambda: None)  # idempotent: a second wrap is ignored
    assert tvm_pipeline.PIPELINE_MAP["default"] is entry
    assert tvm_pipeline.PIPELINE_MAP["loihi2"] is tvm_loihi.compiler.pipeline.loihi_pipeline


def test_tags_are_llvm_targets_with_the_loihi2_key():
    for tag in tvm_loihi.compiler.pipeline.TAG_PRESETS:
        t = tvm.target.Target(tag)
        assert str(t.kind.name) == "llvm"
        assert _compat.target_keys(t) == ("loihi2", "cpu")
        assert _compat.target_model(t) == tag
    assert _compat.target_keys(tvm.target.Target("llvm")) == ("cpu",)


def test_relax_type_api():
    c = relax.const(np.ones((3, 4), "float32"))
    assert isinstance(c, _compat.GenericConst) and _compat.is_const(c)
    assert _compat.tensor_shape(c) == (3, 4) and _compat.tensor_dtype(c) == "float32"
    np.testing.assert_array_equal(_compat.const_value(c), np.ones((3, 4)))
    v = relax.Var("x", relax.TensorType((tvm.tirx.Var("n", "int64"), 4), "float32"))
    assert _compat.tensor_shape(v) == (None, 4)
    call = _compat.call_dps_packed(
        "f", [_compat.string_imm("p"), v], [relax.TensorType((2, 3), "float32")] * 2
    )
    assert str(call.op.name) == "relax.call_dps_packed"
    (out_ty,) = call.ty_args
    assert isinstance(out_ty, relax.TupleType) and len(out_ty.fields) == 2


def test_pattern_check_context_fields():
    fields = relax.transform.PatternCheckContext.__annotations__
    for name in (
        "matched_expr",
        "annotated_expr",
        "matched_bindings",
        "var_usages",
        "value_to_bound_var",
    ):
        assert name in fields


def test_onnx_importer_supports_the_dense_ops():
    assert {"Gemm", "MatMul", "Add", "Relu", "Identity"} <= _compat.onnx_supported_ops()
    assert "Celu" not in _compat.onnx_supported_ops()  # used by tests/test_errors.py


def test_ffi_errors_keep_their_python_type():
    @tvm.transform.module_pass(opt_level=0)
    def raising(mod, ctx):
        raise tvm_loihi.LoihiCapacityError("too big")

    try:
        raising(tvm.IRModule())
    except tvm_loihi.LoihiCapacityError as err:
        assert "too big" in str(err)
    else:
        raise AssertionError("pass did not raise")


def test_import_registers_everything_without_importing_lava():
    import subprocess
    import sys

    code = (
        "import sys, multiprocessing as mp, tvm, tvm_loihi\n"
        "lava = [m for m in sys.modules if m.startswith(('lava', 'tvm_loihi.lava'))]\n"
        "assert not lava, lava\n"
        "assert mp.get_start_method(allow_none=True) is None\n"
        "assert tvm.get_global_func('tvm_loihi.run_subgraph', allow_missing=True) is not None\n"
        "assert 'loihi2' in tvm.relax.pipeline.PIPELINE_MAP\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]

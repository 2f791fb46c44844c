"""IR tests on the partitioned structure: what is offloaded, what stays on the host."""

from __future__ import annotations

import pytest
from tvm import relax
from tvm_models import (
    chain_model,
    dynamic_weight_model,
    float16_model,
    onnx_module,
    rank3_model,
    split_model,
    tap_model,
)

import tvm_loihi
from tvm_loihi.compiler import _compat
from tvm_loihi.compiler.partition import offloaded_functions


def _composites(func: relax.Function) -> list[str]:
    names = []
    for block in func.body.blocks:
        for binding in block.bindings:
            if isinstance(binding.value, relax.Function):
                names.append(str(_compat.func_attr(binding.value, "Composite")))
    return names


def _main_ops(mod) -> list[str]:
    ops = []
    for block in mod["main"].body.blocks:
        for binding in block.bindings:
            v = binding.value
            if isinstance(v, relax.Call):
                ops.append(v.op.name_hint if hasattr(v.op, "name_hint") else str(v.op.name))
    return ops


@pytest.mark.parametrize("spelling", ["gemm", "matmul", "mixed"])
def test_onnx_mlp_is_one_offloaded_function(spelling):
    mod = tvm_loihi.partition_for_loihi(onnx_module("mlp_tiny", spelling=spelling))
    funcs = offloaded_functions(mod)
    assert len(funcs) == 1
    (func,) = funcs.values()
    relu, last = "loihi.dense_bias_relu", "loihi.dense_bias"
    assert _composites(func) == [relu, relu, last]
    assert _main_ops(mod) == list(funcs)  # main only calls the offloaded function


def test_chain_split_by_host_op_gives_two_functions():
    mod = tvm_loihi.partition_for_loihi(split_model()[0])
    funcs = offloaded_functions(mod)
    assert len(funcs) == 2
    assert [len(_composites(f)) for f in funcs.values()] == [2, 2]
    ops = _main_ops(mod)
    assert ops.count("relax.tanh") == 1 and len(ops) == 3  # loihi fn, tanh on host, loihi fn


def test_hidden_activation_used_on_host_becomes_tuple_output():
    mod = tvm_loihi.partition_for_loihi(tap_model()[0])
    (func,) = offloaded_functions(mod).values()
    assert isinstance(func.body.body, relax.Tuple) and len(func.body.body.fields) == 2
    assert "relax.sum" in _main_ops(mod)


def test_dynamic_weight_layer_stays_on_host_and_splits_chain():
    mod = tvm_loihi.partition_for_loihi(dynamic_weight_model()[0])
    funcs = offloaded_functions(mod)
    assert len(funcs) == 2
    assert _main_ops(mod).count("relax.matmul") == 1  # the runtime-weight layer


@pytest.mark.parametrize("make", [rank3_model, float16_model])
def test_unsupported_activations_stay_on_host(make):
    mod = make()
    out = tvm_loihi.partition_for_loihi(mod)
    assert offloaded_functions(out) == {}


def test_explain_offload_matches_partition():
    mod, _ = chain_model()
    decisions = tvm_loihi.explain_offload(mod)
    assert len(decisions) == 8 and all(d.on_loihi for d in decisions)
    split = tvm_loihi.explain_offload(split_model()[0])
    host = [d for d in split if not d.on_loihi]
    assert [d.op for d in host] == ["relax.tanh"]
    assert "no Loihi pattern" in str(host[0])


def test_explain_offload_gives_hardware_reasons():
    dyn = tvm_loihi.explain_offload(dynamic_weight_model()[0])
    host = [d for d in dyn if not d.on_loihi]
    assert {d.op for d in host} == {"relax.matmul", "relax.nn.relu"}
    matmul = next(d for d in host if d.op == "relax.matmul")
    assert any("synapses live in core SRAM" in r for r in matmul.reasons)
    (rank3,) = [d for d in tvm_loihi.explain_offload(rank3_model()) if d.op == "relax.matmul"]
    assert any("2-D" in r and "3-D" in r for r in rank3.reasons)
    (half,) = [d for d in tvm_loihi.explain_offload(float16_model()) if d.op == "relax.matmul"]
    assert any("float16" in r for r in half.reasons)


def test_partition_logs_rejections(caplog):
    with caplog.at_level("INFO", logger="tvm_loihi.compiler.partition"):
        tvm_loihi.partition_for_loihi(dynamic_weight_model()[0])
    assert "weights must be constant" in caplog.text


def test_bias_that_is_not_per_neuron_leaves_the_add_on_the_host():
    import numpy as np
    from tvm_models import build, rand_layer

    w, _ = rand_layer(np.random.default_rng(0), 16, 24)
    per_sample = np.ones((2, 24), "float32")

    def body(bb, x):
        h = bb.emit(relax.op.matmul(x, relax.const(w)))
        return bb.emit(relax.op.add(h, relax.const(per_sample)))

    mod = build(body, {"x": (2, 16)})
    out = tvm_loihi.partition_for_loihi(mod)
    (func,) = offloaded_functions(out).values()
    assert _composites(func) == ["loihi.dense"]
    assert "relax.add" in _main_ops(out)
    matmul, add = tvm_loihi.explain_offload(mod)
    assert matmul.on_loihi and matmul.pattern == "loihi.dense"
    assert not add.on_loihi and "not one value per neuron (24)" in add.reasons[0]

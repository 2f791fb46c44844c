"""The loihi.* pattern table and its legality predicates."""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.backend.pattern_registry import get_pattern

from tvm_loihi.compiler import patterns


def test_table_registered_with_bias_relu_first():
    names = [str(p.name) for p in patterns.loihi_patterns()]
    assert names == ["loihi.dense_bias_relu", "loihi.dense_bias", "loihi.dense_relu", "loihi.dense"]
    assert get_pattern("loihi.dense_bias_relu") is not None


def test_register_is_idempotent():
    patterns.register()
    patterns.register()
    assert len(patterns.loihi_patterns()) == 4


def _var(shape, dtype="float32"):
    return relax.Var("v", relax.TensorType(shape, dtype))


def test_weight_must_be_constant():
    assert "core SRAM" in patterns._check_weight_constant(_var((4, 3)))
    assert patterns._check_weight_constant(relax.const(np.ones((4, 3), "float32"))) is None


def test_activations_must_be_2d_and_static_features():
    w = relax.const(np.ones((4, 3), "float32"))
    assert "3-D" in patterns._check_rank(_var((2, 5, 4)), w)
    assert patterns._check_rank(_var((2, 4)), w) is None
    reason = patterns._check_rank(relax.Var("v", relax.TensorType(ndim=2, dtype="float32")), w)
    assert reason is not None and "2-D" in reason


def test_dtype_must_be_float32():
    assert "float16" in patterns._check_dtype(_var((2, 4), "float16"))
    assert patterns._check_dtype(_var((2, 4)), relax.const(np.ones((4, 3), "float32"))) is None


def test_bias_one_value_per_neuron():
    assert patterns._check_bias(relax.const(np.ones(3, "float32")), 3) is None
    assert patterns._check_bias(relax.const(np.ones((1, 3), "float32")), 3) is None
    assert "per neuron" in patterns._check_bias(relax.const(np.ones((2, 3), "float32")), 3)
    assert "bias register" in patterns._check_bias(_var((3,)), 3)


def test_recording_collects_and_restores():
    with patterns.recording() as outer:
        with patterns.recording() as inner:
            assert patterns._current_log() is inner
        assert patterns._current_log() is outer
    assert patterns._current_log() is None

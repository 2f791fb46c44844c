"""Weights that cannot be quantised well are reported: an outlier weight warns naming the layer,
NaN/Inf/empty tensors are errors naming the tensor (ONNX) or the layer (Relax)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest
import tvm
from onnx import TensorProto, helper, numpy_helper
from tvm_models import run_batched

import tvm_loihi
from tvm_loihi.compiler.frontend import OnnxLoadError, load_onnx
from tvm_loihi.model import workloads
from tvm_loihi.model.quantize import FloatLayer, QuantizationWarning, quantize_network

BATCH = 4


def _mlp(outlier=None, bad=None, empty=False) -> onnx.ModelProto:
    """16-32-10 ReLU MLP, weights of sigma 0.1; ``outlier`` replaces one weight of layer fc1,
    ``bad`` (NaN or inf) one weight of fc2, ``empty`` gives fc2 zero neurons."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.1, (32, 16)).astype(np.float32)
    w2 = rng.normal(0, 0.1, (10, 32)).astype(np.float32)
    if outlier is not None:
        w1[3, 5] = outlier
    if bad is not None:
        w2[1, 2] = bad
    n_out = 0 if empty else 10
    w2 = w2[:n_out]
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in [
            (w1, "W1"),
            (np.zeros(32, np.float32), "b1"),
            (w2, "W2"),
            (np.zeros(n_out, np.float32), "b2"),
        ]
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], transB=1, name="fc1"),
        helper.make_node("Relu", ["h"], ["hr"], name="relu1"),
        helper.make_node("Gemm", ["hr", "W2", "b2"], ["y"], transB=1, name="fc2"),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [BATCH, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [BATCH, n_out])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _compile(model, **config):
    """Compile for loihi2, returning (executable, QuantizationWarnings raised)."""
    with warnings.catch_warnings(record=True) as caught, tvm_loihi.LoihiConfig(**config):
        warnings.simplefilter("always")
        ex = tvm.compile(load_onnx(model), target="loihi2")
    return ex, [w for w in caught if issubclass(w.category, QuantizationWarning)]


def _sparse_inputs(n=200):
    rng = np.random.default_rng(1)
    x = rng.random((n, 16)).astype(np.float32)
    x[rng.random(x.shape) < 0.5] = 0  # the outlier's input is zero in half the samples
    return x


def test_normal_model_does_not_warn():
    _, caught = _compile(_mlp())
    assert caught == []


def test_builtin_workloads_do_not_warn():
    for name in workloads.WORKLOADS:
        with warnings.catch_warnings():
            warnings.simplefilter("error", QuantizationWarning)
            quantize_network(workloads.float_layers(name), name=name)


@pytest.mark.parametrize("outlier", [1e4, 3e38])
def test_outlier_weight_warns_naming_the_layer(outlier):
    ex, caught = _compile(_mlp(outlier))
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "layer 'fc1'" in text
    assert "511 of its 512 non-zero weights (99.8%) quantise to 0" in text
    assert "weight_clip_percentile" in text
    assert issubclass(QuantizationWarning, UserWarning)
    assert tvm_loihi.QuantizationWarning is QuantizationWarning
    # what it warns about: layer 1 keeps only the outlier, so outputs vanish when its input is 0
    y = run_batched(ex, _sparse_inputs(), BATCH)
    assert np.mean(np.abs(y).max(axis=1) == 0) > 0.3


def test_clipping_outliers_silences_the_warning_and_keeps_the_other_weights():
    ex, caught = _compile(_mlp(1e4), weight_clip_percentile=99.9)
    assert caught == []
    y = run_batched(ex, _sparse_inputs(), BATCH)
    assert np.mean(np.abs(y).max(axis=1) == 0) < 0.05


@pytest.mark.parametrize("value", [0, 150, "99", True])
def test_clip_percentile_is_checked(value):
    with pytest.raises(ValueError, match="weight_clip_percentile"):
        tvm_loihi.LoihiConfig(weight_clip_percentile=value)


@pytest.mark.parametrize(("bad", "what"), [(np.nan, "1 NaN"), (np.inf, "1 infinite")])
def test_nonfinite_weight_is_an_error_naming_the_tensor(bad, what):
    match = rf"tensor 'W2' \(used by node 'fc2' \(Gemm\)\) has {what} value\(s\).*index \(1, 2\)"
    with pytest.raises(OnnxLoadError, match=match):
        load_onnx(_mlp(bad=bad))


def test_empty_dimension_is_an_error_naming_the_tensor():
    match = r"tensor 'W2' \(used by node 'fc2' \(Gemm\)\) has an empty dimension, shape \(0, 32\)"
    with pytest.raises(OnnxLoadError, match=match):
        load_onnx(_mlp(empty=True))


def test_float_layer_checks_name_the_layer():
    w = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"layer 'lv1': bias has 1 NaN value\(s\) of 3"):
        FloatLayer("lv1", w, np.array([0.0, np.nan, 0.0]), relu=True)
    w[0, 1] = -np.inf
    with pytest.raises(ValueError, match=r"layer 'lv1': weight has 1 infinite value\(s\) of 12"):
        FloatLayer("lv1", w, None, relu=True)
    with pytest.raises(ValueError, match=r"layer 'lv1': weight must be a non-empty 2-D.*\(0, 4\)"):
        FloatLayer("lv1", np.ones((0, 4)), None, relu=True)


@pytest.mark.parametrize("command", ["compile", "inspect"])
def test_cli_prints_the_warning_once(tmp_path, command):
    path = str(tmp_path / "outlier.onnx")
    onnx.save(_mlp(1e4), path)
    argv = [os.path.join(os.path.dirname(sys.executable), "tvm-loihi"), command, path]
    if command == "compile":
        argv += ["-o", str(tmp_path / "m.so")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "quantise to 0" in ln]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tvm-loihi: warning: layer 'fc1'")


CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)


def test_cli_weight_clip_percentile_silences_the_outlier_and_must_match_between_tune_and_compile(
    tmp_path,
):
    model = tmp_path / "outlier.onnx"
    onnx.save(_mlp(1e4), str(model))
    warned = _cli("inspect", str(model))
    assert warned.returncode == 0, warned.stderr
    assert "weight_clip_percentile" in warned.stderr  # the warning names the remedy
    clipped = _cli("inspect", str(model), "--weight-clip-percentile", "99")
    assert clipped.returncode == 0, clipped.stderr
    assert "QuantizationWarning" not in clipped.stderr and "outlier" not in clipped.stderr
    bad = _cli("inspect", str(model), "--weight-clip-percentile", "0")
    assert bad.returncode == 2 and "must be a percentile in (0, 100]" in bad.stderr
    log = tmp_path / "tune.jsonl"
    flag = ("--weight-clip-percentile", "99")
    tuned = _cli(
        "tune", str(model), *flag, "--strategy", "random", "--budget", "3", "--log", str(log),
        "--outdir", str(tmp_path / "out"),
    )  # fmt: skip
    assert tuned.returncode == 0, tuned.stderr
    assert "--weight-clip-percentile 99" in tuned.stdout + tuned.stderr  # the replay command
    hit = _cli("compile", str(model), *flag, "--log", str(log), "-o", str(tmp_path / "a.so"))
    assert hit.returncode == 0 and "tuned mapping from" in hit.stdout, hit.stdout + hit.stderr
    miss = _cli("compile", str(model), "--log", str(log), "-o", str(tmp_path / "b.so"))
    assert miss.returncode == 0 and "tuned mapping from" not in miss.stdout  # other weights

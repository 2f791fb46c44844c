"""Codegen: offloaded Relax functions -> quantised NetworkIR chains, names, taps, calibration."""

from __future__ import annotations

import numpy as np
import pytest
from tvm_models import chain_model, onnx_module, split_model, tap_model

import tvm_loihi
from tvm_loihi.compiler.codegen import compile_function, layer_calls, split_chains
from tvm_loihi.compiler.lower import lower_loihi
from tvm_loihi.compiler.partition import offloaded_functions
from tvm_loihi.model import workloads
from tvm_loihi.model.quantize import float_reference, quantize_network


def _only_function(mod):
    (func,) = offloaded_functions(tvm_loihi.partition_for_loihi(mod)).values()
    return func


@pytest.mark.parametrize("spelling", ["gemm", "matmul"])
def test_layers_equal_the_source_model(spelling):
    func = _only_function(onnx_module("mlp_tiny", spelling=spelling))
    ((_, net),) = compile_function(func, "net")
    want = quantize_network(workloads.float_layers("mlp_tiny"), name="net")
    assert net.layer_sizes == want.layer_sizes == (64, 96, 96, 10)
    for got, exp in zip(net.arrays(), want.arrays()):
        np.testing.assert_array_equal(got, exp)
    assert [layer.relu for layer in net.layers] == [True, True, False]


def test_layer_names_come_from_onnx_nodes():
    func = _only_function(onnx_module("mlp_tiny", spelling="mixed"))
    ((_, net),) = compile_function(func, "net", layer_names=_names())
    assert [layer.name for layer in net.layers] == ["fc1", "fc2_matmul", "fc3"]


def _names():
    from tvm_loihi.compiler.frontend import layer_names

    return layer_names(workloads.make_onnx("mlp_tiny"))


def test_without_onnx_names_layers_are_named_after_relax_vars():
    mod, _ = chain_model()
    ((_, net),) = compile_function(_only_function(mod), "net")
    assert all(layer.name.startswith("lv") for layer in net.layers)


def test_tuple_output_becomes_tap_layers():
    func = _only_function(tap_model()[0])
    (chain,) = split_chains(func, layer_calls(func))
    assert chain.taps == (0, 1)
    ((_, net),) = compile_function(func, "net")
    assert net.tap_layers == (0, 1) and len(net.tap_scales) == 2


def test_calibration_fixes_input_scale_at_compile_time():
    mod, _ = chain_model(batch=2)
    x = np.random.default_rng(3).random((40, 16)).astype(np.float32) * 3.0
    ((_, net),) = compile_function(_only_function(mod), "net", calibration={0: x})
    assert net.input_scale == pytest.approx(float(x.max()) / 255)
    ((_, default),) = compile_function(_only_function(mod), "net")
    assert default.input_scale == pytest.approx(1 / 127)


def test_mid_graph_function_is_calibrated_by_running_the_host_prefix():
    mod, ls = split_model(batch=2)
    x = np.random.default_rng(4).random((8, 16)).astype(np.float32)
    lowered = lower_loihi(tvm_loihi.partition_for_loihi(mod), tvm_loihi.LoihiConfig(calibration=x))
    payloads = _payload_networks(lowered)
    assert len(payloads) == 2
    # Second network's input is tanh(layer 2 output); the host prefix ran the first network
    # (quantised, reference backend) then tanh, so its scale follows the peak of those values.
    first = payloads[0]
    h = _dequantised_out(first, x)
    peak = float(np.abs(np.tanh(h)).max())
    signed = float(np.tanh(h).min()) < 0
    assert payloads[1].input_scale == pytest.approx(peak / (127 if signed else 255), rel=1e-5)
    # ... and differs from the float model only by quantisation of the first network:
    ref = np.tanh(float_reference([_fl(ls[0], True, "a"), _fl(ls[1], False, "b")], x)[-1])
    assert abs(peak - np.abs(ref).max()) < 0.1 * np.abs(ref).max()


def _fl(wb, relu, name):
    from tvm_loihi.model.quantize import FloatLayer

    return FloatLayer(name, wb[0].T, wb[1], relu)


def _payload_networks(lowered):
    import json

    from tvm import relax

    from tvm_loihi.model.network import NetworkIR

    nets = []
    for block in lowered["main"].body.blocks:
        for binding in block.bindings:
            v = binding.value
            if isinstance(v, relax.Call) and v.op.name == "relax.call_dps_packed":
                args = v.args[1].fields
                meta = json.loads(str(args[0].value))
                arrays = [a.value.numpy() for a in args[2:]]
                nets.append(NetworkIR.from_parts(meta["network"], arrays))
    return nets


def _dequantised_out(net, x):
    outs = net.run_integer(net.quantize_input(x))
    return outs[-1] * net.tap_scales[-1]

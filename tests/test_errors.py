"""Bad input: a precise error, or a documented host fallback with the reason recorded."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import tvm
from onnx import helper
from tvm_models import chain_model, dynamic_weight_model, rank3_model, run_batched, vm_run

import tvm_loihi
from tvm_loihi.compiler.frontend import OnnxLoadError, load_onnx
from tvm_loihi.model import workloads
from tvm_loihi.model.hardware import CoreLimits, HardwareSpec


def _tiny_onnx_file(tmp_path, name="m.onnx"):
    return workloads.write_onnx("mlp_tiny", str(tmp_path / name))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_onnx(str(tmp_path / "nope.onnx"))


def test_malformed_onnx(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x08\x07this is not a protobuf\xff\xff\xff")
    with pytest.raises(OnnxLoadError, match=r"not a readable ONNX model|invalid"):
        load_onnx(str(path))


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.97])
def test_truncated_onnx(tmp_path, fraction):
    full = open(_tiny_onnx_file(tmp_path), "rb").read()
    path = tmp_path / "cut.onnx"
    path.write_bytes(full[: int(len(full) * fraction)])
    with pytest.raises(OnnxLoadError, match=r"cut\.onnx.*(truncated|invalid|no nodes)"):
        load_onnx(str(path))


def _model_with_unsupported_tail():
    model = workloads.make_onnx("mlp_tiny", batch=2)
    graph = model.graph
    graph.node.append(helper.make_node("Celu", ["y"], ["z"], name="celu_head", alpha=1.0))
    graph.output.append(helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [2, 10]))
    return model


def test_unsupported_op_is_named_with_a_cut_suggestion(tmp_path):
    path = str(tmp_path / "celu.onnx")
    onnx.save(_model_with_unsupported_tail(), path)
    match = r"does not support op\(s\) Celu.*celu_head.*outputs=\['y'\]"
    with pytest.raises(OnnxLoadError, match=match):
        load_onnx(path)


def test_cutting_to_outputs_drops_the_unsupported_op(tmp_path):
    path = str(tmp_path / "celu.onnx")
    onnx.save(_model_with_unsupported_tail(), path)
    mod = load_onnx(path, outputs=["y"])
    ex = tvm.compile(mod, target="loihi2")
    x = workloads.sample_inputs("mlp_tiny", 4)
    full = load_onnx(workloads.make_onnx("mlp_tiny", batch=2))
    ref = run_batched(tvm.compile(full, target="llvm"), x, 2)
    y = run_batched(ex, x, 2)
    assert np.abs(y - ref).max() <= 0.08 * np.abs(ref).max()
    with pytest.raises(OnnxLoadError, match=r"outputs nope: not values of the ONNX graph"):
        load_onnx(path, outputs=["nope"])


def test_dynamic_weights_run_on_host_with_reason():
    mod, _ = dynamic_weight_model()
    rng = np.random.default_rng(0)
    x, w2 = rng.random((2, 16)).astype(np.float32), rng.standard_normal((24, 24)).astype(np.float32)
    # The runtime weight is given with its exact shape: the host prefix runs with it unchanged.
    cal = {"x": rng.random((20, 16)).astype(np.float32), "w2": w2}
    with tvm_loihi.LoihiConfig(calibration=cal):
        ex = tvm.compile(mod, target="loihi2")
    assert len(tvm_loihi.read_payloads(ex)) == 2  # the layers around it are still offloaded
    reasons = [r for d in tvm_loihi.explain_offload(mod) for r in d.reasons]
    assert any("weights must be constant" in r for r in reasons)
    (y,) = vm_run(ex, x, w2)
    (ref,) = vm_run(tvm.compile(mod, target="llvm"), x, w2)
    assert np.abs(y - ref).max() <= 0.08 * np.abs(ref).max()


def test_3d_activations_run_on_host():
    mod = rank3_model()
    ex = tvm.compile(mod, target="loihi2")
    assert tvm_loihi.read_payloads(ex) == []
    x = np.random.default_rng(0).random((2, 5, 16)).astype(np.float32)
    np.testing.assert_allclose(
        vm_run(ex, x)[0], vm_run(tvm.compile(mod, target="llvm"), x)[0], rtol=1e-6
    )


# Two cores of at most 16 neurons: a 64-neuron layer cannot fit anywhere.
_SMALL = HardwareSpec(
    "two_small_cores", routers_x=1, routers_y=2, limits=CoreLimits(max_neurons=16)
)


def test_layer_larger_than_hardware_is_a_clear_error():
    mod, _ = chain_model(widths=(16, 64, 8))
    with pytest.raises(
        tvm_loihi.LoihiCapacityError,
        match=r"layer 'lv\d*' \(64 neurons, 16 inputs, \d+ synapses\) needs 4 "
        r"cores, "
        r"'two_small_cores' has 2 \(over by 2\)",
    ):
        tvm_loihi.partition_for_loihi(mod, _SMALL)
    with pytest.raises(tvm_loihi.LoihiCapacityError, match="64 neurons"):
        with tvm_loihi.LoihiConfig(hardware=_SMALL):
            tvm.compile(mod, target="loihi2")


def test_layer_larger_than_hardware_can_stay_on_host():
    mod, _ = chain_model(widths=(16, 64, 8))
    with tvm_loihi.LoihiConfig(hardware=_SMALL, on_too_large="host"):
        ex = tvm.compile(mod, target="loihi2")
    (payload,) = tvm_loihi.read_payloads(ex)  # only the 8-neuron layer is offloaded
    assert payload["network"]["layers"][0]["shape"] == [8, 64]
    host = [d for d in tvm_loihi.explain_offload(mod, _SMALL) if not d.on_loihi]
    assert any("needs 4 cores" in r for d in host for r in d.reasons)


def test_chain_larger_than_hardware_names_every_layer():
    mod, _ = chain_model(widths=(16, 24, 24, 8))  # 2 + 2 + 1 cores > 2
    with pytest.raises(
        tvm_loihi.LoihiCapacityError,
        match=r"needs 5 cores \('lv\d*': 2, 'lv\d*': 2, 'lv\d*': 1\), "
        r"'two_small_cores' has 2 \(over by 3\)",
    ):
        with tvm_loihi.LoihiConfig(hardware=_SMALL):
            tvm.compile(mod, target="loihi2")


def test_bad_calibration_is_named():
    mod, _ = chain_model()
    with pytest.raises(
        ValueError,
        match=r"calibration for input 'x' has shape \(5, 3\); expected "
        r"\(n_samples, 16\)",
    ):
        with tvm_loihi.LoihiConfig(calibration=np.zeros((5, 3))):
            tvm.compile(mod, target="loihi2")
    with pytest.raises(ValueError, match=r"calibration inputs \['y'\] are not inputs"):
        with tvm_loihi.LoihiConfig(calibration={"y": np.zeros((5, 16))}):
            tvm.compile(mod, target="loihi2")
    with pytest.raises(ValueError, match="one array but the model has 2 inputs"):
        with tvm_loihi.LoihiConfig(calibration=np.zeros((5, 16))):
            tvm.compile(dynamic_weight_model()[0], target="loihi2")


def test_bad_config_values():
    with pytest.raises(KeyError, match="unknown hardware preset 'loihi9'"):
        tvm_loihi.LoihiConfig(hardware="loihi9")
    with pytest.raises(ValueError, match="on_too_large"):
        tvm_loihi.LoihiConfig(on_too_large="ignore")


def test_too_large_error_names_the_onnx_layer(tmp_path):
    mod = load_onnx(_tiny_onnx_file(tmp_path))
    with pytest.raises(tvm_loihi.LoihiCapacityError, match=r"layer 'fc1' \(96 neurons, 64 inputs"):
        tvm_loihi.partition_for_loihi(mod, _SMALL)

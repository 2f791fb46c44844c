"""Public entry points reject a wrong object at the call with one line naming the function, the
parameter, the expected type and what was given (#15.6), not a traceback from deep inside."""

from __future__ import annotations

import pytest

import tvm_loihi
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.quantize import quantize_network
from tvm_loihi.model.workloads import float_layers, make_onnx, sample_inputs
from tvm_loihi.sim import evaluate
from tvm_loihi.tuning import default_activity


@pytest.fixture(scope="module")
def network():
    return quantize_network(float_layers("mlp_tiny"), sample_inputs("mlp_tiny"))


@pytest.fixture(scope="module")
def mod():
    return tvm_loihi.load_onnx(make_onnx("mlp_tiny"))


def _one_line(err: pytest.ExceptionInfo, *parts: str) -> None:
    text = str(err.value)
    assert "\n" not in text
    for part in parts:
        assert part in text, text


def test_tune_given_the_module_says_to_extract_networks(mod):
    with pytest.raises(TypeError) as err:
        tvm_loihi.tune(mod, get_preset("loihi2_1chip"), budget=5)
    _one_line(err, "tune: network must be NetworkIR", "extract_networks(mod)", "got IRModule")


def test_tune_given_a_preset_name_as_hardware(network):
    with pytest.raises(TypeError) as err:
        tvm_loihi.tune(network, "loihi2_1chip", budget=5)
    _one_line(err, "tune: hardware must be HardwareSpec", "got str 'loihi2_1chip'", "get_preset")


def test_tune_budget_and_log_types(network):
    hw = get_preset("loihi2_1chip")
    with pytest.raises(TypeError) as err:
        tvm_loihi.tune(network, hw, budget="100")
    _one_line(err, "tune: budget must be int", "got str '100'")
    with pytest.raises(TypeError) as err:
        tvm_loihi.tune(network, hw, budget=5, log=3)
    _one_line(err, "tune: log must be str, PathLike or TuningLog", "got int 3")


def test_extract_networks_and_partition_given_a_path():
    with pytest.raises(TypeError) as err:
        tvm_loihi.extract_networks("model.onnx")
    _one_line(err, "extract_networks: mod must be a tvm.IRModule", "got str")
    with pytest.raises(TypeError) as err:
        tvm_loihi.partition_for_loihi("model.onnx")
    _one_line(err, "partition_for_loihi: mod must be IRModule", "load_onnx", "got str 'model.onnx'")


def test_load_onnx_types():
    with pytest.raises(TypeError) as err:
        tvm_loihi.load_onnx(make_onnx("mlp_tiny"), outputs="y")
    _one_line(err, "load_onnx: outputs must be a list of str", "got str 'y'")
    with pytest.raises(TypeError) as err:
        tvm_loihi.load_onnx(42)
    _one_line(err, "load_onnx: path_or_model must be str, PathLike or ModelProto", "got int 42")


def test_apply_best_and_read_mappings_types():
    with pytest.raises(TypeError) as err:
        with tvm_loihi.apply_best(None):
            pass
    _one_line(err, "apply_best: log must be str, PathLike or TuningLog", "got None")
    with pytest.raises(TypeError) as err:
        tvm_loihi.read_mappings({"mapping": None})
    _one_line(err, "read_mappings: artifact must be VirtualMachine", "got dict")


def test_evaluate_given_a_mapping_dict(network):
    hw = get_preset("loihi2_1chip")
    with pytest.raises(TypeError) as err:
        evaluate(network, {"cores": [1, 1, 1]}, hw, default_activity(network, hw))
    _one_line(err, "evaluate: mapping must be Mapping", "got dict")

"""What a new user tripped over (issue 15), through the console script as a user calls it:
``compile --log`` says why no record matches (other model / calibration / hardware) instead of
blaming the hardware, and ``run -o`` writes exactly the path given, arrays named by ONNX output."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tvm_loihi.compiler.config import LoihiConfig
from tvm_loihi.compiler.frontend import load_onnx
from tvm_loihi.compiler.replay import extract_networks
from tvm_loihi.measure.runner import LocalRunner
from tvm_loihi.model import workloads
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.workloads import WorkloadSpec
from tvm_loihi.tuning import tune

CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)


def _tune_log(
    model: str, log: str, calibration: np.ndarray | None = None, input_layer: str = "host"
) -> str:
    config = LoihiConfig(hardware="loihi2_1chip", calibration=calibration, input_layer=input_layer)
    ((net, hw),) = extract_networks(load_onnx(model), config=config)
    tune(net, hw, runner=LocalRunner(), strategy="random", budget=3, seed=0, log=log)
    return net.workload_key()


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("defects")
    tiny = workloads.write_onnx("mlp_tiny", str(d / "mlp_tiny.onnx"))
    other = workloads.write_onnx(
        WorkloadSpec("mlp_other", (64, 48, 10), 0.7, "loihi2_1chip"), str(d / "other.onnx")
    )
    calibration = np.full((4, 64), 4.0, dtype=np.float32)  # a much wider input range
    np.save(d / "cal.npy", calibration)
    return {
        "dir": d,
        "tiny": tiny,
        "other_model": (str(d / "other.jsonl"), _tune_log(other, str(d / "other.jsonl"))),
        "other_cal": (str(d / "cal.jsonl"), _tune_log(tiny, str(d / "cal.jsonl"), calibration)),
        "chip": (str(d / "chip.jsonl"), _tune_log(tiny, str(d / "chip.jsonl"), None, "chip")),
    }


def test_replay_miss_from_another_model_names_the_workloads_not_the_hardware(logs):
    log, other_key = logs["other_model"]
    res = _cli("compile", logs["tiny"], "--log", log, "-o", str(logs["dir"] / "a.so"))
    assert res.returncode == 0, res.stderr
    assert "has no record for hardware" not in res.stderr
    assert "holds hardware 'loihi2_1chip'" in res.stderr and "but not this workload" in res.stderr
    assert other_key in res.stderr and "another network, layers 48-10" in res.stderr
    assert "layers 96-96-10" in res.stderr and "gets the Lava default mapping" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1  # one line per network


def test_replay_miss_from_another_calibration_says_calibration(logs):
    log, cal_key = logs["other_cal"]
    res = _cli("compile", logs["tiny"], "--log", log, "-o", str(logs["dir"] / "b.so"))
    assert res.returncode == 0, res.stderr
    assert cal_key in res.stderr and "same layer sizes" in res.stderr
    assert "another --calibration" in res.stderr
    # with the tuning run's calibration the record matches
    res = _cli(
        "compile",
        logs["tiny"],
        "--log",
        log,
        "--calibration",
        str(logs["dir"] / "cal.npy"),
        "-o",
        str(logs["dir"] / "c.so"),
    )
    assert res.returncode == 0 and "tuned mapping from" in res.stdout, res.stderr


def test_replay_miss_on_other_hardware_names_the_hardware_the_log_holds(logs):
    log, _ = logs["other_cal"]
    res = _cli(
        "compile",
        logs["tiny"],
        "--hardware",
        "loihi2_2chip",
        "--log",
        log,
        "-o",
        str(logs["dir"] / "d.so"),
    )
    assert res.returncode == 0, res.stderr
    assert "has no record for hardware 'loihi2_2chip'" in res.stderr
    held = get_preset("loihi2_1chip").key()
    assert f"it holds hardware {held} (loihi2_1chip)" in res.stderr  # what it does hold


def test_replay_miss_from_another_input_layer_names_the_flag(logs):
    log, chip_key = logs["chip"]
    res = _cli("compile", logs["tiny"], "--log", log, "-o", str(logs["dir"] / "e.so"))
    assert res.returncode == 0, res.stderr
    assert (
        f"{chip_key}: this network plus an on-chip input layer: tuned with --input-layer chip"
        in res.stderr
    )


def _two_output_model(path: str) -> tuple[str, list[str]]:
    """mlp_tiny whose first hidden activation is a second graph output."""
    import onnx
    from onnx import TensorProto, helper

    model = workloads.make_onnx("mlp_tiny", spelling="gemm")
    relu = next(n for n in model.graph.node if n.op_type == "Relu")
    model.graph.output.append(
        helper.make_tensor_value_info(relu.output[0], TensorProto.FLOAT, [1, 96])
    )
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path, [o.name for o in model.graph.output]


def test_run_writes_exactly_the_path_given_with_onnx_output_names(tmp_path):
    model, names = _two_output_model(str(tmp_path / "two_out.onnx"))
    lib = str(tmp_path / "two.so")
    res = _cli("compile", model, "-o", lib)
    assert res.returncode == 0, res.stderr
    x = workloads.sample_inputs("mlp_tiny", 2, seed=1).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    res = _cli("run", lib, "--input", str(tmp_path / "x.npy"), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert out.is_file() and not (tmp_path / "y.npy.npz").exists()
    assert (
        f"wrote {out} (2 outputs as an .npz archive, arrays {names[0]!r}, {names[1]!r}"
        in res.stdout
    )
    with np.load(out) as data:
        assert sorted(data.files) == sorted(names)
        assert data[names[0]].shape == (2, 10) and data[names[1]].shape == (2, 96)
    # one output: exactly the path given, even without the .npy suffix numpy.save would add
    single = str(tmp_path / "single.so")
    tiny = workloads.write_onnx("mlp_tiny", str(tmp_path / "tiny.onnx"))
    assert _cli("compile", tiny, "-o", single).returncode == 0
    res = _cli("run", single, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.out"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "y.out").is_file() and not (tmp_path / "y.out.npy").exists()
    assert np.load(tmp_path / "y.out").shape == (2, 10) and "as .npy" in res.stdout

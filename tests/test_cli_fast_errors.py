"""A bad argument fails before TVM is imported (#15.7: every error used to take 2.5-7 s), the
package root imports no TVM yet registers everything as soon as TVM is imported, and ``run`` says
"model wants (1, 64), got (4, 50)" instead of TVM's check text."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx

from tvm_loihi.model import workloads

CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")


def _python(code: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def _main_without_tvm(argv: list[str], cwd) -> tuple[int, str]:
    """Run the CLI in a fresh interpreter; the exit code and whether TVM got imported."""
    proc = _python(
        "import sys\nfrom tvm_loihi.cli import main\n"
        f"rc = main({argv!r})\nprint(rc, 'tvm' in sys.modules)",
        cwd=cwd,
    )
    rc, imported = proc.stdout.split()[-2:]
    return int(rc), imported


def test_bad_files_fail_before_tvm_is_imported(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 64), np.float32))
    cases = [
        ["tune", "missing.onnx"],
        ["tune", "--workload", "mlp_tiny", "--calibration", "nope.npy"],
        ["tune", "--workload", "mlp_tiny", "--log", "no/such/dir/t.jsonl"],
        ["compile", "--workload", "mlp_tiny", "--calibration", "nope.npy", "-o", "m.so"],
        ["compile", "missing.onnx", "-o", "m.so"],
        ["run", "nope.so", "--input", "x.npy"],
        ["inspect", "missing.onnx"],
        ["inspect", "--workload", "mlp_tiny", "--hardware", "nope.json"],
        ["log", "summary", "nope.jsonl"],
    ]
    for argv in cases:
        rc, imported = _main_without_tvm(argv, tmp_path)
        assert rc != 0, argv
        assert imported == "False", f"{argv} imported TVM before failing"


def test_list_needs_no_tvm(tmp_path):
    rc, imported = _main_without_tvm(["list"], tmp_path)
    assert (rc, imported) == (0, "False")


def test_list_into_a_closed_pipe_is_not_an_error():
    proc = subprocess.run(
        f"'{CLI}' list | head -1", shell=True, capture_output=True, text=True, timeout=120
    )
    assert "hardware presets" in proc.stdout
    assert "Broken pipe" not in proc.stderr and "tracker" not in proc.stderr


def test_package_root_is_lazy_and_registers_once_tvm_is_imported():
    proc = _python(
        "import sys, tvm_loihi\n"
        "assert 'tvm' not in sys.modules\n"
        "import tvm\n"  # after the package: the import hook registers
        "tvm.get_global_func('tvm_loihi.run_subgraph')\n"
        "print(tvm.target.Target('loihi2-kapoho').model)\n"
        "from tvm_loihi import *\n"
        "print(sorted(set(tvm_loihi.__all__) - set(dir())))\n"
        "print(tvm_loihi.LoihiConfig.__module__, tvm_loihi.tune.__module__)\n"
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[0] == "loihi2-kapoho"
    assert lines[1] == "[]"
    assert lines[2] == "tvm_loihi.compiler.config tvm_loihi.tuning.driver"


def test_tvm_imported_first_still_registers():
    proc = _python(
        "import tvm, tvm_loihi\ntvm.get_global_func('tvm_loihi.run_subgraph')\n"
        "print(tvm.target.Target('loihi2').model)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "loihi2"


def test_run_with_a_wrong_input_shape_says_what_the_model_wants(tmp_path):
    model = workloads.make_onnx("mlp_tiny", batch=1)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(model, tmp_path / "dyn.onnx")
    so = str(tmp_path / "dyn.so")
    built = subprocess.run(
        [CLI, "compile", str(tmp_path / "dyn.onnx"), "-o", so],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    np.save(tmp_path / "bad.npy", np.zeros((4, 50), np.float32))
    np.save(tmp_path / "ok.npy", np.zeros((4, 64), np.float32))
    res = subprocess.run(
        [CLI, "run", so, "--input", str(tmp_path / "bad.npy")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1
    assert "model wants (batch, 64), got (4, 50)" in res.stderr
    assert "Check failed" not in res.stderr and "mismatch" not in res.stderr
    ok = subprocess.run(
        [CLI, "run", so, "--input", str(tmp_path / "ok.npy")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    assert "shape (4, 10)" in ok.stdout


def test_nothing_offloadable_is_said_the_same_way_by_inspect_compile_and_tune(tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        "host_only",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = str(tmp_path / "host_only.onnx")
    onnx.save(model, path)
    said = "nothing in the model is offloaded to Loihi"
    ins = subprocess.run([CLI, "inspect", path], capture_output=True, text=True, timeout=300)
    assert ins.returncode == 0, ins.stderr
    assert said in ins.stdout and "for the reasons above" in ins.stdout
    assert "tvm-loihi inspect" not in ins.stdout + ins.stderr  # never "run inspect" from inspect
    so = str(tmp_path / "h.so")
    com = subprocess.run(
        [CLI, "compile", path, "-o", so], capture_output=True, text=True, timeout=300
    )
    assert com.returncode == 0 and os.path.isfile(so), com.stderr
    assert f"warning: {said}" in com.stderr and "entirely on the host" in com.stderr
    tun = subprocess.run(
        [CLI, "tune", path, "--budget", "2", "--outdir", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tun.returncode == 1
    assert said in tun.stderr

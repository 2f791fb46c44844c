"""``tvm-loihi run --reference`` (#15): relative L2 error, max abs error and argmax agreement of the
Loihi outputs against a float reference -- here TVM's own float build of the same ONNX model on the
host (``target="llvm"``, nothing offloaded)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tvm

import tvm_loihi
from tvm_loihi.model import workloads
from tvm_loihi.report.accuracy import compare_outputs

CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)


def test_compare_outputs_figures():
    ref = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    out = np.array([[0.9, 0.2, 0.0], [0.0, 1.0, 1.5]])
    c = compare_outputs(out, ref)
    assert c["rel_l2_error"] == pytest.approx(np.linalg.norm(out - ref) / np.linalg.norm(ref))
    assert c["max_abs_error"] == pytest.approx(1.5)
    assert c["argmax_agreement"] == 0.5 and c["n_samples"] == 2
    assert compare_outputs(ref, ref)["rel_l2_error"] == 0.0
    assert compare_outputs(np.ones(4), np.ones(4))["argmax_agreement"] is None
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        compare_outputs(out, ref.T)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    model = workloads.write_onnx("mlp_tiny", str(d / "mlp_tiny.onnx"))
    lib = d / "model.so"
    comp = _cli("compile", model, "--hardware", "loihi2_1chip", "-o", str(lib))
    assert comp.returncode == 0, comp.stderr
    x = workloads.sample_inputs("mlp_tiny", 8, seed=3)
    np.save(d / "x.npy", x)
    ex = tvm.compile(tvm_loihi.load_onnx(model), target="llvm")  # float, on the host
    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    ref = np.concatenate(
        [vm["main"](tvm.runtime.tensor(x[i : i + 1])).numpy() for i in range(len(x))]
    )
    np.save(d / "ref.npy", ref)
    return d, lib, ref


def test_run_reference_reports_the_error_of_the_quantised_model(built):
    d, lib, ref = built
    res = _cli(
        "run",
        str(lib),
        "--input",
        str(d / "x.npy"),
        "-o",
        str(d / "y.npy"),
        "--reference",
        str(d / "ref.npy"),
    )
    assert res.returncode == 0, res.stderr
    expected = compare_outputs(np.load(d / "y.npy"), ref)
    m = re.search(
        r"relative L2 error ([\d.e+-]+), max abs error ([\d.e+-]+), argmax agreement "
        r"([\d.]+)% of 8 samples",
        res.stdout,
    )
    assert m, res.stdout
    assert float(m.group(1)) == pytest.approx(expected["rel_l2_error"], rel=1e-3)
    assert float(m.group(2)) == pytest.approx(expected["max_abs_error"], rel=1e-3)
    assert float(m.group(3)) == pytest.approx(100 * expected["argmax_agreement"], abs=0.05)
    assert 0 < expected["rel_l2_error"] < 0.1  # quantised, so not exact, but close


def test_run_reference_errors_are_one_line(built):
    d, lib, ref = built
    np.save(d / "bad.npy", ref[:, :3])
    np.savez(d / "other.npz", logits=ref)
    for path, msg in [
        (d / "bad.npy", "shape (8, 10), the reference (8, 3)"),
        (d / "other.npz", "no array named 'y' (it holds 'logits')"),
        (d / "none.npy", "does not exist"),
    ]:
        res = _cli("run", str(lib), "--input", str(d / "x.npy"), "--reference", str(path))
        assert res.returncode == 1, res.stdout
        assert msg in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr

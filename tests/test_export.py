"""export_library -> load_module in a fresh process (which imports tvm_loihi first)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import tvm
from tvm_models import onnx_module, run_batched

import tvm_loihi
from tvm_loihi.model import workloads

_LOAD = textwrap.dedent(
    """
    import sys, json
    import numpy as np
    {pre}
    import tvm
    from tvm import relax
    ex = tvm.runtime.load_module(sys.argv[1])
    vm = relax.VirtualMachine(ex, tvm.cpu())
    x = np.load(sys.argv[2])
    y = np.concatenate([vm["main"](tvm.runtime.tensor(x[i:i + 2])).numpy() for i in range(0, len(x),
    2)])
    np.save(sys.argv[3], y)
    print(json.dumps(tvm_loihi.read_mappings(sys.argv[1])))
    """
)


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_exported_library_runs_in_a_fresh_process(tmp_path):
    mod = onnx_module("mlp_tiny", batch=2)
    ex = tvm.compile(mod, target="loihi2")
    lib = str(tmp_path / "mlp_tiny_loihi2.so")
    ex.export_library(lib)
    x = workloads.sample_inputs("mlp_tiny", 6, seed=11)
    np.save(tmp_path / "x.npy", x)
    proc = _run(
        _LOAD.format(pre="import tvm_loihi"), lib, str(tmp_path / "x.npy"), str(tmp_path / "y.npy")
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), run_batched(ex, x, 2))
    import json

    (info,) = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["layer_sizes"] == [64, 96, 96, 10]
    assert info == tvm_loihi.read_mappings(ex)[0]


def test_loading_without_import_names_the_missing_runtime_function(tmp_path):
    ex = tvm.compile(onnx_module("mlp_tiny", batch=2), target="loihi2")
    lib = str(tmp_path / "m.so")
    ex.export_library(lib)
    np.save(tmp_path / "x.npy", workloads.sample_inputs("mlp_tiny", 2))
    proc = _run(_LOAD.format(pre=""), lib, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"))
    assert proc.returncode != 0
    assert "tvm_loihi.run_subgraph" in proc.stderr

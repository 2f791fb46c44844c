"""Bad input through the ``tvm-loihi`` console script as a user calls it (subprocess): hardware
specs with wrong value types or an oversized mesh, files that are not tuning logs, and the exit
codes docs/cli.md promises (2 for usage errors, 1 otherwise), each as one line on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tvm_loihi.model import workloads
from tvm_loihi.model.hardware import MAX_CORES

CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)


def _one_line(res: subprocess.CompletedProcess, command: str) -> str:
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"tvm-loihi {command}: error: "), err
    return err


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    return workloads.write_onnx("mlp_tiny", str(tmp_path_factory.mktemp("m") / "mlp_tiny.onnx"))


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"routers_x": "8"}, "routers_x must be an integer >= 1, got '8' (str)"),
        ({"timing": {"syn_op_s": "fast"}}, "Timing.syn_op_s must be a finite number >= 0"),
        ({"routers_x": 10**6}, f"16000000 cores, above the limit of MAX_CORES = {MAX_CORES}"),
    ],
)
def test_bad_hardware_json_names_field_value_and_limit(tmp_path, model, spec, fragment):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    res = _cli("tune", model, "--hardware", str(path), "--budget", "2", "--outdir", str(tmp_path))
    err = _one_line(res, "tune")
    assert res.returncode == 1  # a file's content, not the command line: exit 1 (docs/cli.md)
    assert f"--hardware {path}: not a valid hardware spec" in err and fragment in err, err
    assert not (tmp_path / "tune.jsonl").exists()  # refused before any work

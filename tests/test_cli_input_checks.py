"""Bad input through the ``tvm-loihi`` console script as a user calls it (subprocess): hardware
specs with wrong value types or an oversized mesh, files that are not tuning logs, and the exit
codes docs/cli.md promises (2 for usage errors, 1 otherwise), each as one line on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.records import MeasureInput, MeasureResult
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


def _real_log(path) -> str:
    log = TuningLog(str(path))
    mapping = {"core_ids": [0, 1, 2], "cores_per_layer": [1, 2]}
    log.append(MeasureInput("w0", "h0", mapping, "fast"), MeasureResult(2e-6, 4e-6, {}))
    return str(path)


def test_a_file_that_is_not_a_tuning_log_is_an_error(tmp_path, model):
    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    (tmp_path / "one.json").write_text('{"a": 1}')  # no newline: not even one complete line
    cases = [
        (model, "none of its"),
        (str(tmp_path / "notes.txt"), "none of its 2 non-blank line(s) is a tuning record"),
        (str(tmp_path / "one.json"), "it has no complete line"),
    ]
    for path, fragment in cases:
        for action in ("summary", "best"):
            res = _cli("log", action, path)
            err = _one_line(res, "log")
            assert res.returncode == 1, (path, err)
            assert f"{path} is not a tuning log: " in err and fragment in err, err
            assert "tvm-loihi tune" in err and res.stdout == ""


def test_a_log_with_one_bad_line_still_reads_and_an_empty_log_is_empty(tmp_path):
    path = _real_log(tmp_path / "tune.jsonl")
    with open(path, "a") as f:
        f.write("garbage\n")
    res = _cli("log", "summary", path)
    assert res.returncode == 0, res.stderr
    assert "1 records" in res.stdout and "1 unreadable lines skipped" in res.stdout
    assert "1 unreadable line(s) skipped" in res.stderr
    (tmp_path / "empty.jsonl").write_text("")
    res = _cli("log", "summary", str(tmp_path / "empty.jsonl"))
    assert res.returncode == 0 and "0 records" in res.stdout, res.stderr


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--budget", "0"], "argument --budget: 0: must be at least 1 evaluation"),
        (["--budget", "-3"], "must be at least 1 evaluation"),
        (["--strategy", "bilevel,magic"], "unknown ['magic']; known: annealing, bilevel"),
        (["--strategy", ","], "no strategy named"),
        (["--objectives", "speed"], "use 'latency' or 'latency,energy'"),
        (["--verify", "event", "--verify-top-k", "0"], "must be at least 1 mapping"),
        (["--hardware", "loihi9"], "'loihi9' is neither a preset (kapoho_point"),
        (["--runner", "http://x"], "'http://x': use 'local' or rpc://HOST:PORT"),
    ],
)
def test_bad_flag_values_are_usage_errors_exit_2(tmp_path, model, argv, fragment):
    res = _cli("tune", model, *argv, "--outdir", str(tmp_path / "out"))
    err = _one_line(res, "tune")
    assert res.returncode == 2, err  # usage error (docs/cli.md)
    assert fragment in err and "see `tvm-loihi tune --help`" in err, err
    assert not (tmp_path / "out").exists()  # refused while parsing, before any work


def test_unknown_workload_is_a_usage_error_and_a_missing_file_is_not(tmp_path):
    res = _cli("tune", "--workload", "mlp_zzz")
    assert res.returncode == 2 and "'mlp_zzz' is unknown; known: mlp_a" in _one_line(res, "tune")
    res = _cli("tune", str(tmp_path / "missing.onnx"), "--outdir", str(tmp_path / "out"))
    assert res.returncode == 1 and "does not exist" in _one_line(res, "tune")

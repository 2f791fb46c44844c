"""The ``tvm-loihi`` console script end to end on mlp_tiny: tune -> compile -> run through
subprocesses, outputs equal to the Python API, the ``--json`` summary schema, inspect, log, and
every error path as one line with a non-zero exit code (in-process ``main`` for most of them, the
console script for a few)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import tvm
from onnx import helper

import tvm_loihi
from tvm_loihi.cli import main
from tvm_loihi.compiler.frontend import load_onnx
from tvm_loihi.compiler.replay import extract_networks
from tvm_loihi.measure.log import TuningLog
from tvm_loihi.model import workloads
from tvm_loihi.model.hardware import HardwareSpec
from tvm_loihi.model.mapping import Mapping, min_cores_per_layer
from tvm_loihi.report import validate_summary

CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")
BUDGET = 16


def _cli(*args: str, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """One tune -> compile -> run chain through the console script (shared by the tests below)."""
    d = tmp_path_factory.mktemp("cli")
    model = workloads.write_onnx("mlp_tiny", str(d / "mlp_tiny.onnx"))
    out, summary, log = d / "out", d / "summary.json", d / "tune.jsonl"
    tune = _cli(
        "tune",
        model,
        "--hardware",
        "loihi2_1chip",
        "--strategy",
        "ga,random",
        "--budget",
        str(BUDGET),
        "--objectives",
        "latency,energy",
        "--seed",
        "3",
        "--log",
        str(log),
        "--outdir",
        str(out),
        "--json",
        str(summary),
    )
    assert tune.returncode == 0, tune.stderr
    lib = d / "model.so"
    comp = _cli("compile", model, "--hardware", "loihi2_1chip", "--log", str(log), "-o", str(lib))
    assert comp.returncode == 0, comp.stderr
    x = workloads.sample_inputs("mlp_tiny", 3, seed=7)
    np.save(d / "x.npy", x)
    run = _cli("run", str(lib), "--input", str(d / "x.npy"), "-o", str(d / "y.npy"))
    assert run.returncode == 0, run.stderr
    return {
        "dir": d,
        "model": model,
        "log": str(log),
        "summary": summary,
        "lib": str(lib),
        "x": x,
        "tune": tune,
        "compile": comp,
        "run": run,
    }


def test_tune_prints_table_progress_and_figures(tuned):
    stdout, stderr = tuned["tune"].stdout, tuned["tune"].stderr
    for row in (
        "Lava default",
        "best found",
        "total latency (64 samples)",
        "per-sample latency",
        "energy per inference",
        "cores used",
        "chips used",
        "total latency / lower bound",
    ):
        assert row in stdout
    # not a terminal: plain progress lines (best-so-far, rate, ETA), ending with the stop reason
    progress = [ln for ln in stderr.splitlines() if "eval/s" in ln]
    assert progress and all("best" in ln and "ETA" in ln for ln in progress)
    assert any(ln.endswith("(budget)") and f"{BUDGET}/{BUDGET}" in ln for ln in progress)
    assert "\r" not in stderr
    paths = [ln.strip() for ln in stdout.splitlines() if ln.strip().endswith(".png")]
    names = sorted(os.path.basename(p) for p in paths)
    assert names == [
        "convergence_loihi0.png",
        "pareto_loihi0.png",
        "placement_loihi0.png",
        "utilisation_loihi0.png",
    ]
    assert all(os.path.getsize(p) > 10_000 for p in paths)


def test_json_summary_schema_and_values_match_the_log(tuned):
    summary = validate_summary(json.loads(tuned["summary"].read_text()))
    (net,) = summary["networks"]
    assert summary["objectives"] == ["latency", "energy"] and summary["strategies"] == [
        "ga",
        "random",
    ]
    assert [r["strategy"] for r in net["runs"]] == ["ga", "random"]
    assert all(r["evaluations"] == BUDGET and len(r["history"]) == BUDGET for r in net["runs"])
    ((nw, hw),) = extract_networks(load_onnx(tuned["model"]))
    assert net["workload_key"] == nw.workload_key() and summary["hardware"]["key"] == hw.key()
    best = TuningLog(tuned["log"]).best(nw.workload_key(), hw.key())
    assert net["best"]["total_latency_s"] == best.result.latency_s
    assert net["best"]["total_latency_s"] <= net["default"]["total_latency_s"]
    assert net["default"]["cores_used"] == sum(min_cores_per_layer(nw, hw))
    assert net["ratio_to_lower_bound"]["best"] >= 1.0  # the bound is a bound
    change = net["best"]["total_latency_s"] / net["default"]["total_latency_s"] - 1
    assert net["change"]["total_latency_s"] == pytest.approx(change)
    assert net["pareto"] and all(
        p["latency_s"] >= net["best"]["total_latency_s"] for p in net["pareto"]
    )
    assert sorted(summary["figures"]) == sorted(
        os.path.abspath(p) for p in tuned["tune"].stdout.split() if p.endswith(".png")
    )
    bad = json.loads(tuned["summary"].read_text())
    del bad["networks"][0]["best"]["cores_used"]
    with pytest.raises(ValueError, match=r"networks\[0\]\.best: missing keys \['cores_used'\]"):
        validate_summary(bad)
    # energy both ways: on one chip static power per used chip == per board, same sign
    for part in ("default", "best"):
        assert net[part]["energy_per_inference_board_j"] == pytest.approx(
            net[part]["energy_per_inference_j"]
        )
    assert net["change"]["energy_per_inference_board_j"] == pytest.approx(
        net["change"]["energy_per_inference_j"]
    )
    assert net["energy_sign_differs"] is False
    stdout = tuned["tune"].stdout
    assert "static: used chips" in stdout and "static: whole board" in stdout
    bad = json.loads(tuned["summary"].read_text())
    bad["networks"][0]["best"]["energy_per_inference_board_j"] = "1 uJ"
    with pytest.raises(ValueError, match=r"best\.energy_per_inference_board_j: expected float"):
        validate_summary(bad)


def test_compile_and_run_match_the_python_api(tuned):
    # the Python API: replay the same log into tvm.compile and run the same inputs
    with tvm_loihi.apply_best(tuned["log"]):
        ex = tvm.compile(load_onnx(tuned["model"]), target="loihi2")
    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    expected = np.concatenate(
        [
            vm["main"](tvm.runtime.tensor(tuned["x"][i : i + 1])).numpy()
            for i in range(len(tuned["x"]))
        ]
    )
    got = np.load(tuned["dir"] / "y.npy")
    np.testing.assert_array_equal(got, expected)
    (embedded,) = tvm_loihi.read_mappings(tuned["lib"])
    assert embedded["mapping"] == tvm_loihi.read_mappings(ex)[0]["mapping"] is not None
    summary = json.loads(tuned["summary"].read_text())
    best = Mapping.from_json(embedded["mapping"])
    assert best.n_cores_used == summary["networks"][0]["best"]["cores_used"]
    assert "tuned mapping from" in tuned["compile"].stdout
    assert "output 0: shape (3, 10)" in tuned["run"].stdout


def test_inspect_reports_offload_and_min_cores(tuned):
    report_path = tuned["dir"] / "inspect.json"
    res = _cli("inspect", tuned["model"], "--json", str(report_path))
    assert res.returncode == 0, res.stderr
    report = json.loads(report_path.read_text())
    assert report["operators"] and all(op["on_loihi"] for op in report["operators"])
    ((nw, hw),) = extract_networks(load_onnx(tuned["model"]))
    (net,) = report["networks"]
    assert [layer["min_cores"] for layer in net["layers"]] == list(min_cores_per_layer(nw, hw))
    assert (
        "8 of 8 offloaded to Loihi" in res.stdout
        and "Lava default mapping: 3 of 128 cores" in res.stdout
    )


def test_inspect_cut_graph_and_host_reason(tmp_path, capsys):
    model = workloads.make_onnx("mlp_tiny")
    model.graph.node.append(helper.make_node("Celu", ["y"], ["z"], name="celu_head", alpha=1.0))
    model.graph.output.append(helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [1, 10]))
    path = str(tmp_path / "celu.onnx")
    onnx.save(model, path)
    assert main(["inspect", path]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Celu" in err and "--outputs" in err
    assert main(["inspect", path, "--outputs", "y"]) == 0
    assert "8 of 8 offloaded" in capsys.readouterr().out


def test_log_summary_and_best(tuned, capsys):
    assert main(["log", "best", tuned["log"], "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    ((nw, hw),) = extract_networks(load_onnx(tuned["model"]))
    best = TuningLog(tuned["log"]).best(nw.workload_key(), hw.key())
    assert row["latency_s"] == best.result.latency_s and row["mapping"] == best.input.mapping
    assert main(["log", "summary", tuned["log"]]) == 0
    out = capsys.readouterr().out
    assert f"{len(TuningLog(tuned['log']).records())} records" in out


def _tiny_hardware(tmp_path) -> str:
    path = str(tmp_path / "tiny.json")
    HardwareSpec("one_core", routers_x=1, routers_y=1).save(path)
    return path


def _error_cases(tmp_path, tuned) -> list[tuple[list[str], str]]:
    """(argv, a fragment the one-line message must contain)."""
    model = tuned["model"]
    (tmp_path / "bad.onnx").write_bytes(open(model, "rb").read()[:300])
    (tmp_path / "typo.json").write_text(json.dumps({"chips_x": 1, "routerz_x": 2}))
    (tmp_path / "not_a_lib.so").write_text("nope")
    np.save(tmp_path / "wrong.npy", np.zeros((1, 5), np.float32))
    t = str(tmp_path)
    return [
        (["tune", f"{t}/missing.onnx"], "does not exist"),
        (["tune"], "no model"),
        (["tune", model, "--hardware", "loihi9"], "neither a preset"),
        (["tune", model, "--hardware", f"{t}/typo.json"], "unknown fields ['routerz_x']"),
        (["tune", model, "--hardware", _tiny_hardware(tmp_path)], "needs 3 cores"),
        (["tune", model, "--runner", "http://x"], "rpc://HOST:PORT"),
        (["tune", model, "--runner", "rpc://127.0.0.1:1/loihi2"], "cannot reach an RPC tracker"),
        (["tune", model, "--budget", "0"], "at least 1"),
        (["tune", model, "--strategy", "bilevel,magic"], "unknown ['magic']"),
        (["tune", model, "--objectives", "speed"], "latency,energy"),
        (["tune", f"{t}/bad.onnx"], "bad.onnx"),
        (["tune", "--workload", "mlp_zzz"], "unknown; known"),
        (["tune", model, "--calibration", f"{t}/none.npy"], "--calibration"),
        (
            ["compile", model, "--log", f"{t}/none.jsonl", "-o", f"{t}/m.so"],
            "run `tvm-loihi tune` first",
        ),
        (["compile", model, "-o", f"{t}/no/such/dir/m.so"], "does not exist"),
        (["run", f"{t}/missing.so", "--input", f"{t}/wrong.npy"], "tvm-loihi compile"),
        (["run", f"{t}/not_a_lib.so", "--input", f"{t}/wrong.npy"], "not a library"),
        (["run", tuned["lib"], "--input", f"{t}/wrong.npy"], "model wants (1, 64), got (1, 5)"),
        (["log", "summary", f"{t}/none.jsonl"], "does not exist"),
        (["serve", "--tracker", "nohostport"], "HOST:PORT"),
    ]


def test_every_error_path_is_one_line_and_nonzero(tmp_path, tuned, capsys):
    for argv, fragment in _error_cases(tmp_path, tuned):
        code = main(argv)
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert code != 0, argv
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (argv, err)
        assert err.startswith(f"tvm-loihi {argv[0]}: error: ") and fragment in err, (argv, err)
    assert main(["tune", "--budget", "x"]) == 2  # usage errors: one line too, exit code 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "invalid int value" in err and "--help" in err


def test_console_script_error_is_one_line_and_verbose_adds_the_traceback(tmp_path):
    res = _cli("tune", str(tmp_path / "missing.onnx"))
    assert res.returncode == 1 and res.stderr.strip().count("\n") == 0
    assert "model file" in res.stderr and "does not exist" in res.stderr and res.stdout == ""
    res = _cli("--verbose", "tune", str(tmp_path / "missing.onnx"))
    assert res.returncode == 1 and "Traceback" in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("tvm-loihi tune: error:")


def _two_chain_model(path: str) -> str:
    """mlp_tiny with a Sigmoid (a host op) after layer 1: two offloaded functions."""
    model = workloads.make_onnx("mlp_tiny", spelling="gemm")
    nodes = list(model.graph.node)
    relu1 = next(i for i, n in enumerate(nodes) if n.op_type == "Relu")
    out = nodes[relu1].output[0]
    sigmoid = helper.make_node("Sigmoid", [out], [out + "_sig"], name="host_sigmoid")
    for n in nodes[relu1 + 1 :]:
        n.input[:] = [out + "_sig" if i == out else i for i in n.input]
    del model.graph.node[:]
    model.graph.node.extend([*nodes[: relu1 + 1], sigmoid, *nodes[relu1 + 1 :]])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_several_offloaded_networks_are_all_tuned_and_replayed(tmp_path, capsys):
    model = _two_chain_model(str(tmp_path / "two.onnx"))
    log, summary = str(tmp_path / "t.jsonl"), tmp_path / "s.json"
    argv = [
        "tune",
        model,
        "--strategy",
        "random",
        "--budget",
        "4",
        "--log",
        log,
        "--outdir",
        str(tmp_path / "out"),
        "--json",
        str(summary),
    ]
    assert main(argv) == 0
    nets = json.loads(summary.read_text())["networks"]
    assert [n["layer_sizes"] for n in nets] == [[64, 96], [96, 96, 10]]
    assert len(list((tmp_path / "out").glob("placement_*.png"))) == 2
    assert main(["compile", model, "--log", log, "-o", str(tmp_path / "m.so")]) == 0
    assert capsys.readouterr().out.count("tuned mapping from") == 2
    mappings = tvm_loihi.read_mappings(str(tmp_path / "m.so"))
    assert [m["workload_key"] for m in mappings] == [n["workload_key"] for n in nets]
    assert all(m["mapping"] is not None for m in mappings)
    assert main([*argv[:-1], str(tmp_path / "s2.json"), "--networks", "largest"]) == 0
    (largest,) = json.loads((tmp_path / "s2.json").read_text())["networks"]
    assert largest["layer_sizes"] == [96, 96, 10]
    assert largest["runs"][0]["cache_hits"] == 4  # every candidate came from the shared log


def test_tune_stops_on_stagnation_and_wall_time(tmp_path):
    """--stagnation and --wall-time end the search early; the summary's stop_reason says which."""
    model = workloads.write_onnx("mlp_tiny", str(tmp_path / "mlp_tiny.onnx"))
    common = ("tune", model, "--strategy", "random", "--budget", "5000")
    stag = _cli(
        *common,
        "--stagnation",
        "4",
        "--json",
        str(tmp_path / "s.json"),
        "--outdir",
        str(tmp_path / "s"),
    )
    assert stag.returncode == 0, stag.stderr
    run = json.loads((tmp_path / "s.json").read_text())["networks"][0]["runs"][0]
    assert run["stop_reason"] == "stagnation" and run["evaluations"] < 5000
    wall = _cli(
        *common,
        "--wall-time",
        "0.5",
        "--json",
        str(tmp_path / "w.json"),
        "--outdir",
        str(tmp_path / "w"),
    )
    assert wall.returncode == 0, wall.stderr
    run = json.loads((tmp_path / "w.json").read_text())["networks"][0]["runs"][0]
    assert run["stop_reason"] in ("wall_time", "exhausted") and run["evaluations"] < 5000
    for flag, value, says in (
        ("--stagnation", "0", "0: must be at least 1 evaluation"),
        ("--wall-time", "-1", "-1: must be a positive, finite number"),
    ):
        bad = _cli(*common, flag, value)
        assert bad.returncode == 2 and says in bad.stderr and flag in bad.stderr, bad.stderr

"""Replay validates what it reads (issue 11, item 5): a hand-written log line with duplicate cores,
a core the chip does not have, wrong layer sizes or a non-mapping never reaches the artifact, and
valid JSON with wrong types is skipped with its line number -- through ``apply_best`` +
``tvm.compile`` and through ``tvm-loihi compile --log`` / ``tvm-loihi log``."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import warnings

import pytest
import tvm

import tvm_loihi
from tvm_loihi.compiler.frontend import load_onnx
from tvm_loihi.compiler.replay import ReplayWarning, extract_networks
from tvm_loihi.measure.log import TuningLog, TuningLogWarning
from tvm_loihi.measure.runner import LocalRunner
from tvm_loihi.model import workloads
from tvm_loihi.tuning import tune

CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")


def _with_mapping(record: dict, mapping) -> dict:
    out = copy.deepcopy(record)
    out.pop("key")  # a hand-written line needs no key
    out["input"]["mapping"] = mapping
    out["result"]["latency_s"] = 1e-12  # "better" than anything measured: it would be picked
    return out


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """A real tuning log of mlp_tiny, then crafted lines appended; their line numbers by kind."""
    d = tmp_path_factory.mktemp("replay_validation")
    model = workloads.write_onnx("mlp_tiny", str(d / "mlp_tiny.onnx"))
    ((net, hw),) = extract_networks(load_onnx(model))
    log_path = d / "tune.jsonl"
    tune(net, hw, runner=LocalRunner(), strategy="random", budget=6, seed=0, log=str(log_path))
    log = TuningLog(log_path)
    genuine = log.best(net.workload_key(), hw.key())
    assert genuine is not None
    base = json.loads(log_path.read_text().splitlines()[genuine.line - 1])
    good = genuine.input.mapping
    n_ids = len(good["core_ids"])
    assert n_ids >= 2  # duplicates need two slices
    bad_sizes = copy.deepcopy(good)
    bad_sizes["bounds"][-1] = [0, 5]  # layer 3 has 10 neurons
    bad_sizes["core_ids"] = bad_sizes["core_ids"][: n_ids - len(good["bounds"][-1]) + 2]
    lines = {
        "duplicate cores": _with_mapping(base, {**good, "core_ids": [0] * n_ids}),
        "core 99999": _with_mapping(base, {**good, "core_ids": [99999, *good["core_ids"][1:]]}),
        "wrong layer sizes": _with_mapping(base, bad_sizes),
        "not a mapping": _with_mapping(base, {"foo": 1}),
    }
    wrong_types = {
        "string latency": {
            **_with_mapping(base, good),
            "result": {**base["result"], "latency_s": "1e-12"},
        },
        "list mapping": _with_mapping(base, [1, 2, 3]),
        "string input": {**_with_mapping(base, good), "input": "loihi"},
        "list counters": {
            **_with_mapping(base, good),
            "result": {**base["result"], "counters": [1]},
        },
        "negative latency": {
            **_with_mapping(base, good),
            "result": {**base["result"], "latency_s": -1.0},
        },
    }
    n_before = len(log_path.read_text().splitlines())
    numbers = {}
    with open(log_path, "a") as f:
        for i, (kind, rec) in enumerate({**lines, **wrong_types}.items()):
            f.write(json.dumps(rec) + "\n")
            numbers[kind] = n_before + 1 + i
    return {
        "dir": d,
        "model": model,
        "log": str(log_path),
        "genuine": genuine,
        "invalid": {k: numbers[k] for k in lines},
        "wrong_types": {k: numbers[k] for k in wrong_types},
    }


def test_reader_skips_wrong_types_naming_the_line(crafted):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log = TuningLog(crafted["log"])
    texts = [str(w.message) for w in caught if issubclass(w.category, TuningLogWarning)]
    for kind, line in crafted["wrong_types"].items():
        assert any(f"skipping line {line} " in t for t in texts), (kind, texts)
    assert log.n_skipped == len(crafted["wrong_types"])
    assert {r.line for r in log.records()}.isdisjoint(crafted["wrong_types"].values())
    summary = log.summary()  # the queries behind `log summary` / `log best` do not crash
    assert summary["skipped_lines"] == len(crafted["wrong_types"])


def test_apply_best_skips_invalid_mappings_naming_the_line(crafted):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with tvm_loihi.apply_best(crafted["log"]) as report:
            ex = tvm.compile(load_onnx(crafted["model"]), target="loihi2")
    (embedded,) = tvm_loihi.read_mappings(ex)
    assert embedded["mapping"] == crafted["genuine"].input.mapping  # the real best, not a lie
    assert report.applied[0][2].line == crafted["genuine"].line and not report.fallbacks
    assert sorted(r[1] for r in report.rejected) == sorted(crafted["invalid"].values())
    texts = [str(w.message) for w in caught if issubclass(w.category, ReplayWarning)]
    for kind, line in crafted["invalid"].items():
        assert any(f"line {line}:" in t and "invalid" in t for t in texts), (kind, texts)
    problems = {line: p for _, line, p in report.rejected}
    assert "more than one slice" in problems[crafted["invalid"]["duplicate cores"]]
    assert "99999" in problems[crafted["invalid"]["core 99999"]]
    assert "sizes" in problems[crafted["invalid"]["wrong layer sizes"]]


def test_compile_cli_never_embeds_a_crafted_line(crafted):
    lib = crafted["dir"] / "model.so"
    comp = subprocess.run(
        [
            CLI,
            "compile",
            crafted["model"],
            "--hardware",
            "loihi2_1chip",
            "--log",
            crafted["log"],
            "-o",
            str(lib),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert comp.returncode == 0, comp.stderr
    for kind, line in crafted["invalid"].items():
        assert f"line {line}: the mapping recorded for loihi0 is invalid" in comp.stderr, kind
    for kind, line in crafted["wrong_types"].items():
        assert f"skipping line {line} " in comp.stderr, kind
    assert f"line {crafted['genuine'].line}, " in comp.stdout
    (embedded,) = tvm_loihi.read_mappings(str(lib))
    assert embedded["mapping"] == crafted["genuine"].input.mapping
    for command in ("summary", "best"):
        out = subprocess.run(
            [CLI, "log", command, crafted["log"]], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr


_FULL_DISK = """
import resource, signal, sys
from tvm_loihi.measure.log import TuningLog
from tvm_loihi.measure.records import MeasureInput, MeasureResult
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit gets EFBIG, not killed
path, limit = sys.argv[1], int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
inp = MeasureInput("w" * 16, "h" * 16, {"version": 1, "bounds": [[0, 4]], "core_ids": [7]})
try:
    TuningLog(path).append(inp, MeasureResult(1e-6, 1e-9, {"pad": "x" * 400}))
except OSError as err:
    print(err)
    sys.exit(3)
"""


def test_failed_append_truncates_back_to_the_last_whole_record(crafted, tmp_path):
    # A real short write: the file size limit lets part of the record through, then EFBIG.
    log_path = tmp_path / "full.jsonl"
    log_path.write_bytes(open(crafted["log"], "rb").read())
    size = log_path.stat().st_size
    res = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(log_path), str(size + 100)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 3, res.stderr
    assert "append failed" in res.stdout and "truncated back" in res.stdout
    assert log_path.stat().st_size == size  # no partial line left behind
    assert log_path.read_bytes() == open(crafted["log"], "rb").read()

"""TuningLog: durability, the cache policy, corrupt lines, concurrent appenders (real processes),
queries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tvm_loihi.measure.log import TuningLog, TuningLogWarning
from tvm_loihi.measure.records import MeasureError, MeasureInput, MeasureResult
from tvm_loihi.report.table import format_log_summary


def _inp(i: int, workload: str = "w0", fidelity: str = "fast") -> MeasureInput:
    mapping = {"cores_per_layer": [i, 2], "core_ids": list(range(i + 2))}
    return MeasureInput(workload, "h0", mapping, fidelity)


def _ok(latency: float, host: str = "local") -> MeasureResult:
    return MeasureResult(latency, latency * 2, {"cores_used": 3}, host=host)


def test_append_lookup_and_reopen(tmp_path):
    path = tmp_path / "tune.jsonl"
    log = TuningLog(path)
    assert log.lookup(_inp(1)) is None
    assert log.append(_inp(1), _ok(3e-6))
    assert log.lookup(_inp(1)).latency_s == 3e-6
    again = TuningLog(path)  # a later run sees the earlier run's records
    assert again.lookup(_inp(1)).latency_s == 3e-6
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["v"] == 1


def test_equal_mappings_hash_equal_regardless_of_key_order(tmp_path):
    log = TuningLog(tmp_path / "t.jsonl")
    log.append(_inp(2), _ok(1e-6))
    reordered = MeasureInput(
        "w0", "h0", {"core_ids": [0, 1, 2, 3], "cores_per_layer": [2, 2]}, "fast"
    )
    assert log.lookup(reordered) is not None
    assert log.lookup(_inp(2, fidelity="event")) is None  # fidelity is part of the key


def test_cache_policy_invalid_cached_transport_errors_not(tmp_path):
    log = TuningLog(tmp_path / "t.jsonl")
    invalid = MeasureResult.failure(MeasureError.INVALID_MAPPING, "core 3 over synapse limit")
    log.append(_inp(1), invalid)
    log.append(_inp(2), MeasureResult.failure(MeasureError.TIMEOUT, "slow"))
    log.append(_inp(3), MeasureResult.failure(MeasureError.HOST_LOST, "gone"))
    assert log.lookup(_inp(1)).error is MeasureError.INVALID_MAPPING
    assert log.lookup(_inp(2)) is None and log.lookup(_inp(3)) is None
    # the re-measurement after a timeout is appended; a duplicate of a cached candidate is refused
    assert log.append(_inp(2), _ok(5e-6))
    assert not log.append(_inp(2), _ok(4e-6))
    assert len(log.records()) == 4


def test_corrupt_and_truncated_lines_skipped_with_warning(tmp_path):
    path = tmp_path / "t.jsonl"
    log = TuningLog(path)
    log.append(_inp(1), _ok(1e-6))
    with open(path, "a") as f:
        f.write("{not json}\n")
        f.write(json.dumps({"v": 99, "input": {}, "result": {}}) + "\n")
        f.write('{"v": 1, "key": "abc", "inp')  # a line cut short, no newline
    with pytest.warns(TuningLogWarning) as caught:
        reread = TuningLog(path)
    messages = [str(w.message) for w in caught]
    assert any("line 2" in m for m in messages) and any("line 3" in m for m in messages)
    assert len(reread.records()) == 1
    with pytest.warns(TuningLogWarning, match="line 4"):  # the fragment, now terminated, is skipped
        reread.append(_inp(2), _ok(2e-6))  # starts on a fresh line despite the fragment
    with pytest.warns(TuningLogWarning) as caught:
        final = TuningLog(path)
    skipped = sorted(str(w.message).split("skipping ")[1][:6] for w in caught)
    assert skipped == ["line 2", "line 3", "line 4"]
    assert {r.input.key() for r in final.records()} == {_inp(1).key(), _inp(2).key()}
    assert final.n_skipped == 3


def test_best_and_summary(tmp_path):
    log = TuningLog(tmp_path / "t.jsonl")
    log.append(_inp(1), _ok(5e-6, "a"))
    log.append(_inp(2), _ok(2e-6, "b"))
    log.append(_inp(3), MeasureResult.failure(MeasureError.INVALID_MAPPING, "x"))
    log.append(_inp(4, workload="w1"), _ok(1e-6))
    best = log.best("w0", "h0")
    assert best.input == _inp(2) and best.result.latency_s == 2e-6
    assert log.best("w0", "h0", objective="energy").input == _inp(2)
    assert log.best("w0", "other") is None
    assert log.best("w0", "h0", fidelity="event") is None
    summary = log.summary()
    (w0,) = [g for g in summary["groups"] if g["workload_key"] == "w0"]
    assert w0["records"] == 3 and w0["ok"] == 2 and w0["errors"] == {"invalid_mapping": 1}
    assert w0["hosts"] == ["a", "b", "local"]
    assert "w0" in format_log_summary(summary)


_WRITER = textwrap.dedent("""
    import sys
    from tvm_loihi.measure.log import TuningLog
    from tvm_loihi.measure.records import MeasureInput, MeasureResult
    log = TuningLog(sys.argv[1])
    tag = sys.argv[2]
    for i in range(int(sys.argv[3])):
        inp = MeasureInput("w", "h", {"writer": tag, "i": i, "pad": "x" * 3000}, "fast")
        assert log.append(inp, MeasureResult(float(i + 1), 1.0, host=tag))
""")


def test_two_processes_append_to_one_log(tmp_path):
    path = tmp_path / "shared.jsonl"
    n = 150
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), tag, str(n)])
        for tag in ("A", "B")
    ]
    try:
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
    finally:
        for p in procs:
            p.kill()
    lines = path.read_text().splitlines()
    assert len(lines) == 2 * n
    records = [json.loads(line) for line in lines]  # every line whole: no interleaving
    seen = {(r["input"]["mapping"]["writer"], r["input"]["mapping"]["i"]) for r in records}
    assert seen == {(t, i) for t in "AB" for i in range(n)}
    assert len(TuningLog(path).records()) == 2 * n


def test_command_line_summary_and_best(tmp_path):
    path = tmp_path / "t.jsonl"
    log = TuningLog(path)
    log.append(_inp(1), _ok(5e-6))
    log.append(_inp(2), _ok(2e-6))
    cli = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")
    out = subprocess.run(
        [cli, "log", "summary", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "2 records" in out and "w0" in out
    out = subprocess.run(
        [cli, "log", "best", str(path), "--json"], capture_output=True, text=True, check=True
    ).stdout
    (row,) = json.loads(out)
    assert row["latency_s"] == 2e-6 and row["line"] == 2


def test_the_log_module_is_storage_only():
    """measure/log.py stores and reads records; formatting and the command line live in report/
    and cli/ (no second argparse front end that could drift from ``tvm-loihi log``)."""
    import tvm_loihi.measure.log as log_module

    assert not hasattr(log_module, "main") and not hasattr(log_module, "format_summary")


def test_undecided_line_ranks_a_cut_short_race_last_until_it_is_sampled_again(tmp_path):
    path = tmp_path / "u.jsonl"
    log = TuningLog(path)
    fast, lucky = (
        MeasureInput("w", "h", {"bounds": [[0, i]], "core_ids": [i]}, "standin", "a")
        for i in (1, 2)
    )
    log.append(fast, MeasureResult(2.0, 1.0, host="A"))
    log.append(fast, MeasureResult(2.2, 1.0, host="A"), repeat=True)
    log.append(lucky, MeasureResult(1.5, 1.0, host="A"))  # one draw below fast's mean 2.1
    assert log.best("w", "h").input == lucky
    assert log.undecided(lucky, 1, against=fast.key())
    assert not log.undecided(lucky, 1, against=fast.key())  # already covered: not written twice
    for reader in (log, TuningLog(path)):  # this reader and a fresh one
        ranked = reader.ranked("w", "h")
        assert [r.input for r in ranked] == [fast, lucky] and reader.is_undecided(ranked[1])
        assert reader.lookup(lucky).latency_s == 1.5  # still in the cache
        assert reader.summary()["groups"][0]["best_latency_s"] == pytest.approx(2.1)
    log.append(lucky, MeasureResult(1.6, 1.0, host="A"), repeat=True)  # the race went on
    assert log.best("w", "h").input == lucky and not log.is_undecided(log.ranked("w", "h")[0])
    with open(path, "a") as f:  # a malformed verdict line is skipped with a warning
        bad = {"v": 1, "kind": "undecided", "key": fast.key(), "input": fast.to_json()}
        f.write(json.dumps({**bad, "samples": 0}) + "\n")
    with pytest.warns(TuningLogWarning, match="samples"):
        fresh = TuningLog(path)
    assert fresh.best("w", "h").input == lucky and fresh.n_skipped == 1

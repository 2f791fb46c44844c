"""Ctrl-C during ``tune`` says how to resume: the exact command, with the log (#15.7)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time

CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")


def _lines(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for _ in f)


def test_ctrl_c_prints_the_resume_command_and_the_command_resumes(tmp_path):
    log = str(tmp_path / "t.jsonl")
    argv = [
        "tune",
        "--workload",
        "mlp_tiny",
        "--budget",
        "100000",
        "--strategy",
        "random",
        "--outdir",
        str(tmp_path / "out"),
    ]
    proc = subprocess.Popen(
        [CLI, *argv, "--log", log], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240  # bounded, not a timing assertion
    while _lines(log) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    if _lines(log) < 3:
        proc.kill()
        proc.communicate(timeout=30)
    assert _lines(log) >= 3, "no measurements logged"
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        # Do not leave a tune running for the rest of the session (the Lava tests check that no
        # child process is left): kill it and fail with what it printed.
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"tune did not end within 120 s of SIGINT; stderr:\n{err[-3000:]}")
    assert proc.returncode == 130, err
    assert f"every finished measurement is in {log}" in err
    resume = err.strip().splitlines()[-1].strip()
    assert resume == shlex.join(["tvm-loihi", *argv, "--log", log])
    # The printed command (budget lowered so it ends) re-measures nothing already logged.
    before = _lines(log)
    again = shlex.split(resume)[1:]
    again[again.index("--budget") + 1] = "2"
    res = subprocess.run([CLI, *again], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert _lines(log) == before

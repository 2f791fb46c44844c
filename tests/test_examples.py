"""Smoke test: every ``python/example_*.py`` runs to completion as a user would run it (a
subprocess), on small settings. An example missing from :data:`SMOKE_ARGS` runs with no arguments,
so its defaults must then be quick."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "python", "example_*.py")))
SMOKE_ARGS = {
    "example_compile.py": ["--workload", "mlp_tiny", "--samples", "4", "--calibration", "16"],
    "example_replay.py": ["--workload", "mlp_tiny", "--budget", "10"],
    "example_tune_rpc.py": ["--workload", "mlp_tiny", "--budget", "12", "--hosts", "2"],
    "example_custom_hardware.py": ["--workload", "mlp_tiny", "--budget", "10"],
}
# What each example must print when it worked (its own statement of success).
EXPECTED = {
    "example_replay.py": "equal the default-mapping build bit for bit",
    "example_tune_rpc.py": "farm stopped",
    "example_custom_hardware.py": "tuned on two_small_chips",
}


def test_the_examples_exist():
    names = {os.path.basename(p) for p in EXAMPLES}
    assert {"example_replay.py", "example_tune_rpc.py", "example_custom_hardware.py"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_runs_and_leaves_no_process_behind(path, tmp_path):
    name = os.path.basename(path)
    marker = (
        uuid.uuid4().hex
    )  # inherited by everything the example starts (trackers, hosts, workers)
    scratch = tmp_path / "tmp"  # the examples' temp dir: must be empty again afterwards (#15.7)
    scratch.mkdir()
    env = {**os.environ, "TVM_LOIHI_SMOKE_MARKER": marker, "TMPDIR": str(scratch)}
    res = subprocess.run(
        [sys.executable, path, *SMOKE_ARGS.get(name, [])],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        env=env,
    )
    assert res.returncode == 0, f"{name} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
    assert EXPECTED.get(name, "") in res.stdout
    assert _survivors(marker) == [], f"{name} left processes running"
    assert sorted(os.listdir(scratch)) == [], f"{name} left temporary files"


def _survivors(marker: str, grace_s: float = 5.0) -> list[str]:
    import psutil

    deadline = time.monotonic() + grace_s
    while True:
        found = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if proc.environ().get("TVM_LOIHI_SMOKE_MARKER") == marker:
                    found.append(" ".join(proc.info["cmdline"] or []))
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)

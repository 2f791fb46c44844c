"""The code base passes ``ruff check`` and ``ruff format --check`` with the settings of
pyproject.toml ([tool.ruff]): one formatting style for every file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINTED = ("tvm_loihi", "tests", "scripts", "python")


def test_ruff_check_is_clean():
    # ruff is pinned in the `test` extra; `python -m ruff` runs the venv's binary.
    cmd = [
        sys.executable,
        "-m",
        "ruff",
        "check",
        "--no-cache",
        "--output-format",
        "concise",
        *LINTED,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"ruff check failed:\n{proc.stdout}{proc.stderr}"


def test_ruff_format_is_clean():
    # One style: `python -m ruff format tvm_loihi tests scripts python` fixes what this reports.
    cmd = [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", *LINTED]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"ruff format --check failed:\n{proc.stdout}{proc.stderr}"

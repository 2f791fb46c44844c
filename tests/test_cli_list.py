"""``tvm-loihi list``: every section, run as a user runs it (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tvm_loihi.constants import FIDELITIES, TAG_PRESETS
from tvm_loihi.model.hardware import PRESETS
from tvm_loihi.model.workloads import WORKLOADS
from tvm_loihi.search import strategy_names

CLI = [os.path.join(os.path.dirname(sys.executable), "tvm-loihi")]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_list_prints_every_section():
    done = _run("list")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for header in (
        "hardware presets",
        "target tags",
        "reference workloads",
        "search strategies",
        "measurement fidelities",
        "measurement runners",
    ):
        assert header in out
    for name in [*PRESETS, *WORKLOADS, *strategy_names(), *FIDELITIES, "rpc://HOST:PORT/KEY"]:
        assert name in out
    assert "bilevel" in out
    # The tag is shown on the preset's row: loihi2-kapoho <-> kapoho_point (8 chips, 1024 cores).
    kapoho = next(line for line in out.splitlines() if line.split()[:1] == ["kapoho_point"])
    assert kapoho.split()[1:] == ["8", "1024", "loihi2-kapoho"]
    assert "784-2048-2048-2048-10" in out  # mlp_a's layer sizes


def test_list_one_section_and_json():
    done = _run("list", "tags")
    assert done.returncode == 0, done.stderr
    assert "loihi2-kapoho  kapoho_point" in done.stdout
    assert "reference workloads" not in done.stdout
    done = _run("list", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {t["tag"]: t["preset"] for t in data["tags"]} == TAG_PRESETS
    presets = {p["name"]: p for p in data["presets"]}
    assert presets["kapoho_point"]["target_tags"] == ["loihi2-kapoho"]
    assert presets["loihi2_2chip"]["cores"] == PRESETS["loihi2_2chip"].n_cores
    assert "bilevel" in [s["name"] for s in data["strategies"]]
    assert all(s["description"] for s in data["strategies"])
    assert [w["widths"] for w in data["workloads"]] == [list(w.widths) for w in WORKLOADS.values()]
    strategies = json.loads(_run("list", "strategies", "--json").stdout)
    assert [s["name"] for s in strategies] == list(strategy_names())


@pytest.mark.parametrize("section", ["bogus", "preset"])
def test_list_unknown_section_is_a_usage_error(section):
    done = _run("list", section)
    assert done.returncode == 2
    assert "invalid choice" in done.stderr and "presets" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

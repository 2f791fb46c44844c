"""``tvm-loihi tracker status`` (#15): the hosts and queues of a real tracker, like TVM's
``query_rpc_tracker``, and a bounded one-line error when nothing answers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from tvm_loihi.cli.farm_cmd import tracker_status
from tvm_loihi.measure.rpc_runner import request_session
from tvm_loihi.measure.tracker import free_port

CLI = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")


def _status(port: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, "tracker", "status", "--host", "127.0.0.1", "--port", str(port), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_tracker_status_rows_from_a_summary():
    summary = {
        "queue_info": {"loihi2": {"free": 1, "pending": 2}},
        "server_info": [
            {"key": "server:loihi2", "addr": ["10.0.0.2", 9092]},
            {"key": "server:loihi2", "addr": ["10.0.0.1", 9091]},
        ],
    }
    assert tracker_status(summary) == [
        {
            "key": "loihi2",
            "hosts": ["10.0.0.1:9091", "10.0.0.2:9092"],
            "n_hosts": 2,
            "free": 1,
            "in_use": 1,
            "pending": 2,
        }
    ]
    assert tracker_status({}) == []


def test_status_of_a_real_farm_and_a_held_session(farm):
    port = farm.tracker_addr[1]
    res = _status(port)
    assert res.returncode == 0, res.stderr
    assert f"tracker 127.0.0.1:{port}: 2 host(s) registered under 1 key(s)" in res.stdout
    for host in farm.summary()["server_info"]:
        assert f"loihi2: {host['addr'][0]}:{host['addr'][1]}" in res.stdout
    (row,) = json.loads(_status(port, "--json").stdout)["keys"]
    assert row["n_hosts"] == 2 and row["free"] == 2 and row["in_use"] == 0
    sess = request_session(farm.tracker_addr, farm.key, session_timeout_s=60, timeout_s=30)
    try:  # a session held by a client shows as one host in use
        deadline = time.monotonic() + 30
        while True:
            (row,) = json.loads(_status(port, "--json").stdout)["keys"]
            if row["in_use"] == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert row["free"] == 1 and row["in_use"] == 1
    finally:
        del sess


def test_status_of_nothing_is_one_line_in_bounded_time():
    port = free_port()
    res = _status(port)
    assert res.returncode == 1
    assert f"tracker 127.0.0.1:{port} does not answer" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_status_of_a_silent_listener_times_out():
    """A port that accepts but never answers (a wedged tracker) ends after --timeout."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        start = time.monotonic()
        res = _status(s.getsockname()[1], "--timeout", "1")
        assert res.returncode == 1 and "does not answer" in res.stderr
        assert time.monotonic() - start < 60  # bounded (a generous bound: TVM import included)

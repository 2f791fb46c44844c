"""A host's listen loop against clients that connect to its port and misbehave (issue #11, "every
long wait ends in bounded time"): silence, a trickle, an absurd key length, malformed keys. A real
tracker and a real measurement host on 127.0.0.1, a real tuner (``RPCRunner``) measuring on it
while the attacker is connected. The host closes each such connection within
``HANDSHAKE_TIMEOUT_S`` (naming the peer), keeps its tracker registration, and serves the tuner;
the time-out covers the handshake only, so a measurement longer than it still succeeds."""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time

import pytest
from _sim_workloads import activity, network

from tvm_loihi.measure import backend
from tvm_loihi.measure.records import MeasureInput
from tvm_loihi.measure.rpc_runner import RPCRunner
from tvm_loihi.measure.tracker import LocalFarm, query_summary
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import lava_default_mapping
from tvm_loihi.rpc_server import (
    HANDSHAKE_TIMEOUT_S,
    MAX_HANDSHAKE_KEY_BYTES,
    HandshakeRefused,
    _Replay,
    listen_loop_supported,
    read_handshake,
)

FARM_HOSTS = 1  # one host: an attacker who stalls it would stall the tuner (no other host to use)
HW = get_preset("loihi2_1chip")
BOUND_S = HANDSHAKE_TIMEOUT_S + 30  # "bounded": generous for a loaded 2-core machine
RPC_MAGIC = 0xFF271  # tvm.rpc.base.RPC_MAGIC


def _host_port(farm) -> tuple[str, int]:
    return ("127.0.0.1", farm.hosts[0].port)


def _measure_once(farm, fidelity: str = "fast"):
    """A tuner's measurement on the farm (the RPCRunner a tune uses), and the in-process one."""
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    mapping = lava_default_mapping(net, HW).to_json()
    with RPCRunner(*farm.tracker_addr, key=farm.key, timeout_s=60) as runner:
        runner.register(net, HW, act)
        inp = MeasureInput(net.workload_key(), HW.key(), mapping, fidelity)
        remote = runner.submit([inp])[0].result(timeout=BOUND_S + 60)
    local = backend.measure(net, HW, act, mapping, "fast") if fidelity == "fast" else None
    return remote, local


def _closed_by_host(sock: socket.socket) -> bool:
    """Whether the host closes ``sock`` (EOF or reset) within ``BOUND_S``."""
    sock.settimeout(BOUND_S)
    try:
        while sock.recv(4096):
            pass
        return True
    except ConnectionError:
        return True
    except TimeoutError:
        return False


def _registration_kept(farm) -> None:
    out = farm.hosts[0].output()
    assert "listen loop failed" not in out, out[-2000:]  # the loop never restarted
    # The host is offered again once it has finished the tuner's session (it re-registers then).
    deadline = time.monotonic() + BOUND_S
    while (summary := query_summary(*farm.tracker_addr))["queue_info"][farm.key]["free"] != 1:
        assert time.monotonic() < deadline, summary
        time.sleep(0.2)


def test_installed_tvm_has_the_listen_loop_the_patch_relies_on():
    from tvm.rpc import server as srv

    original = getattr(srv._listen_loop, "_tvm_loihi_original", srv._listen_loop)
    assert listen_loop_supported(original)
    assert not listen_loop_supported(lambda: None)


def test_read_handshake_accepts_tvms_and_replays_it():
    key = b"client:loihi2:abc -timeout=60"
    sent = struct.pack("<ii", RPC_MAGIC, len(key)) + key
    a, b = socket.socketpair()
    with a, b:
        a.sendall(sent + b"session bytes")
        assert read_handshake(b, 5.0) == sent
        replay = _Replay(b, sent)
        with replay:
            assert replay.gettimeout() is None  # blocking again: the session is not time-limited
            got = b"".join(replay.recv(7) for _ in range((len(sent) + 6) // 7))
            assert got[: len(sent)] == sent
            assert got[len(sent) :] + replay.recv(64) == b"session bytes"


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"GET / HTTP/1.0\r\n", "not a TVM RPC client"),
        (struct.pack("<ii", RPC_MAGIC, -5), r"key length -5 outside"),
        (struct.pack("<ii", RPC_MAGIC, 0), r"key length 0 outside"),
        (struct.pack("<ii", RPC_MAGIC, MAX_HANDSHAKE_KEY_BYTES + 1), "key length"),
        (struct.pack("<ii", RPC_MAGIC, 2) + b"\xff\xfe", "not UTF-8"),
        (struct.pack("<ii", RPC_MAGIC, 2) + b"  ", "blank"),
        (struct.pack("<ii", RPC_MAGIC, 21) + b"client:x -timeout=nan", "time-out option"),
        (struct.pack("<ii", RPC_MAGIC, 20) + b"client:x -timeout=-1", "time-out option"),
        (struct.pack("<ii", RPC_MAGIC, 100) + b"client:", "not complete within 0.5 s"),
    ],
)
def test_read_handshake_refuses_what_tvms_loop_would_trust(payload, match):
    a, b = socket.socketpair()
    with a, b:
        a.sendall(payload)
        with pytest.raises(HandshakeRefused, match=match):
            read_handshake(b, 0.5)


def test_silent_clients_do_not_stall_the_host(farm):
    """An attacker connects to the host's port and sends nothing, and reconnects every time the
    host closes it: the tuner's measurement still completes, each silent connection is closed
    within the handshake time-out, and the host stays registered."""
    addr = _host_port(farm)
    stop, peers, closed = threading.Event(), [], []

    def attacker():
        while not stop.is_set():
            with socket.create_connection(addr, timeout=30) as sock:
                peers.append(f"{sock.getsockname()[0]}:{sock.getsockname()[1]}")
                closed.append(_closed_by_host(sock))

    thread = threading.Thread(target=attacker, daemon=True)
    thread.start()
    try:
        while not peers:  # the first silent connection is in the host's queue before the tuner's
            thread.join(0.05)
        remote, local = _measure_once(farm)
    finally:
        stop.set()
        thread.join(2 * BOUND_S)
    assert remote.ok, remote.message
    assert (remote.latency_s, remote.energy_j) == (local.latency_s, local.energy_j)
    assert closed and all(closed), closed  # every silent connection was closed by the host
    out = farm.hosts[0].output()
    assert (
        f"closed a connection from {peers[0]}: handshake not complete within "
        f"{HANDSHAKE_TIMEOUT_S:g} s (0 bytes received)"
    ) in out, out[-2000:]
    _registration_kept(farm)


def test_a_crowd_of_silent_connections_does_not_queue_the_tuner(farm):
    """16 silent connections at once: each is closed at its deadline, and the tuner's handshake
    completes beside them (TVM alone serves them one after another, 5 s each: 80 s)."""
    addr = _host_port(farm)
    crowd = []
    try:
        for _ in range(16):
            crowd.append(socket.create_connection(addr, timeout=BOUND_S))
        t0 = time.monotonic()
        remote, local = _measure_once(farm)
        elapsed = time.monotonic() - t0
        assert all(_closed_by_host(sock) for sock in crowd)
    finally:
        for sock in crowd:
            sock.close()
    assert remote.ok, remote.message
    assert (remote.latency_s, remote.energy_j) == (local.latency_s, local.energy_j)
    assert elapsed < BOUND_S  # generous: not one handshake time-out per silent connection
    _registration_kept(farm)


def test_listener_closes_the_oldest_handshake_when_full():
    """In process, on a real listen socket: with room for 4 handshakes, 6 silent connections make
    the listener close the 2 oldest; a client that then sends TVM's handshake is returned, with
    the handshake replayed, while the other 4 still wait."""
    from tvm_loihi.rpc_server import HandshakeListener

    with socket.create_server(("127.0.0.1", 0)) as server:
        listener = HandshakeListener(server, timeout_s=BOUND_S, max_pending=4)
        addr = server.getsockname()
        silent = []
        for _ in range(6):
            silent.append(socket.create_connection(addr, timeout=BOUND_S))
            listener.accept()  # one round: accepts what is queued, nothing is complete
        key = b"client:loihi2:abc -timeout=60"
        sent = struct.pack("<ii", RPC_MAGIC, len(key)) + key
        client = socket.create_connection(addr, timeout=BOUND_S)
        client.sendall(sent)
        got = None
        deadline = time.monotonic() + BOUND_S
        while got is None or not isinstance(got[0], _Replay):
            assert time.monotonic() < deadline
            got = listener.accept()
        conn = got[0]
        with conn, client:
            assert conn.recv(len(sent)) == sent
        for sock in silent[:3]:  # the oldest 3 (room for 4: the client's pushed out a third)
            assert _closed_by_host(sock)
        for sock in silent[3:]:
            sock.settimeout(0.2)
            with pytest.raises(TimeoutError):
                sock.recv(1)  # still in its handshake, not closed
        listener.close()  # a host shutting down closes the handshakes still in progress
        for sock in silent[3:]:
            assert _closed_by_host(sock)
        for sock in silent:
            sock.close()


def test_a_handshake_that_arrived_during_a_session_is_not_reaped():
    """TVM accepts nothing while it serves a session; a handshake that arrived meanwhile is past
    its deadline when TVM comes back, but complete: it is handed over (and TVM's select on the
    listener wakes up for it), not closed as late."""
    import select

    from tvm_loihi.rpc_server import HandshakeListener

    with socket.create_server(("127.0.0.1", 0)) as server:
        listener = HandshakeListener(server, timeout_s=0.3)
        with listener, socket.create_connection(server.getsockname(), timeout=BOUND_S) as client:
            assert not isinstance(listener.accept()[0], _Replay)  # accepted, nothing sent yet
            key = b"client:loihi2:abc"
            sent = struct.pack("<ii", RPC_MAGIC, len(key)) + key
            client.sendall(sent)
            time.sleep(0.6)  # "the session": the deadline passes unread
            assert select.select([listener], [], [], BOUND_S)[0] == [listener]
            conn, _ = listener.accept()
            assert isinstance(conn, _Replay)
            with conn:
                assert conn.recv(len(sent)) == sent
            assert select.select([listener], [], [], 0)[0] == []  # nothing else to hand over


def test_absurd_key_length_is_refused_before_reading_and_trickles_are_cut(farm):
    """Magic + key length 2**31-1: refused at once (the host never reads, let alone buffers, the
    2 GiB it was promised: a 64 MiB stream is cut by a reset); magic + a plausible length and a
    byte every 0.25 s: cut at the handshake deadline. Meanwhile the tuner measures."""
    addr = _host_port(farm)
    big = socket.create_connection(addr, timeout=BOUND_S)
    sent_mib = 0
    with big:
        big.sendall(struct.pack("<ii", RPC_MAGIC, 2**31 - 1))
        with pytest.raises(OSError):
            for sent_mib in range(1, 65):
                big.sendall(bytes(1 << 20))
    assert sent_mib < 64, "the host read 64 MiB of a 2 GiB key"

    trickle = socket.create_connection(addr, timeout=BOUND_S)
    trickle_peer = f"{trickle.getsockname()[0]}:{trickle.getsockname()[1]}"
    trickle.sendall(struct.pack("<ii", RPC_MAGIC, 200) + b"client:")
    cut = threading.Event()

    def drip():
        try:
            while not cut.wait(0.25):
                trickle.sendall(b"x")
        except OSError:
            cut.set()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        remote, local = _measure_once(farm)
        assert cut.wait(BOUND_S), "the trickling connection was never cut"
    finally:
        cut.set()
        thread.join(BOUND_S)
        trickle.close()
    assert remote.ok, remote.message
    assert (remote.latency_s, remote.energy_j) == (local.latency_s, local.energy_j)
    out = farm.hosts[0].output()
    assert "handshake key length 2147483647 outside [1, 4096]" in out, out[-2000:]
    assert f"closed a connection from {trickle_peer}: handshake not complete within" in out
    _registration_kept(farm)


def test_malformed_handshakes_do_not_restart_the_listen_loop(farm):
    """Keys TVM's own loop crashes on (negative length, not UTF-8, blank): each is closed with a
    warning, the loop never restarts (TVM's would, after dropping its tracker connection), and the
    host keeps measuring."""
    addr = _host_port(farm)
    for payload in (
        struct.pack("<ii", RPC_MAGIC, -5),
        struct.pack("<ii", RPC_MAGIC, 2) + b"\xff\xfe",
        struct.pack("<ii", RPC_MAGIC, 1) + b" ",
    ):
        with socket.create_connection(addr, timeout=BOUND_S) as sock:
            sock.sendall(payload)
            assert _closed_by_host(sock)
    remote, _ = _measure_once(farm)
    assert remote.ok, remote.message
    out = farm.hosts[0].output()
    for reason in ("key length -5 outside", "key is not UTF-8", "blank handshake key"):
        assert reason in out, out[-2000:]
    _registration_kept(farm)


def test_a_measurement_longer_than_the_handshake_time_out_succeeds(tmp_path):
    """The time-out applies to the handshake only: a stand-in host whose every measurement costs
    more wall time than HANDSHAKE_TIMEOUT_S still answers (the session socket is blocking)."""
    cost = HANDSHAKE_TIMEOUT_S + 2.0
    with LocalFarm(
        n_hosts=1,
        backend="standin",
        backend_args=("--standin-seed", "3", "--standin-cost", str(cost)),
        log_dir=str(tmp_path),
    ) as farm:
        remote, _ = _measure_once(farm, fidelity="standin")
        out = farm.hosts[0].output()
    assert remote.ok, remote.message
    assert remote.wall_s >= cost  # the premise: the session outlived the handshake time-out
    assert "closed a connection" not in out and "listen loop failed" not in out, out[-2000:]


def test_a_session_that_never_authenticates_is_ended_so_the_host_serves_the_next(tmp_path):
    # A host started without a tracker takes the plain key "client:<key>", so anyone reaching its
    # port opens a session; one that never authenticates must not hold the host (one session at
    # a time) beyond AUTH_DEADLINE_S.
    import tvm.rpc

    from tvm_loihi.measure.auth import ENV_FILE_VAR, ENV_VAR, authenticate_session
    from tvm_loihi.measure.tracker import _finish_host_start, _spawn, free_port
    from tvm_loihi.rpc_server import AUTH_DEADLINE_S

    secret = "listen-test-secret-0123456789abcdef"
    port = free_port()
    argv = [sys.executable, "-m", "tvm_loihi.rpc_server", "--key", "loihi2", "--host",
            "127.0.0.1", "--port", str(port), "--port-end", str(port + 20)]  # fmt: skip
    host = _spawn("notracker", argv, str(tmp_path), {ENV_VAR: secret, ENV_FILE_VAR: ""})
    try:
        _finish_host_start(host)
        squatter = tvm.rpc.connect("127.0.0.1", host.port, key="loihi2", session_timeout=120)
        start = time.monotonic()
        legit = tvm.rpc.connect("127.0.0.1", host.port, key="loihi2", session_timeout=120)
        waited = time.monotonic() - start  # served only once the squatter's session ended
        authenticate_session(legit.get_function, secret.encode(), "test host")
        assert legit.get_function("tvm_loihi.remote.ping")("hello") == "hello"
        assert AUTH_DEADLINE_S * 0.5 < waited < AUTH_DEADLINE_S + 30, waited
        with pytest.raises(Exception):
            squatter.get_function("tvm_loihi.remote.ping")("x")
        assert "did not authenticate within" in host.output()
    finally:
        host.kill()

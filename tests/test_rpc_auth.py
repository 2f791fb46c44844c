"""Authentication between tuners, the tracker and measurement hosts (issue #11 item 2): a real
tracker and a real ``tvm-loihi serve`` host on 127.0.0.1 holding a secret from a 0600 file, real TVM
RPC clients with no, a wrong and the right secret (at the tracker and at the host), hosts that try
to register without it, and the refusals of ``serve``/``tracker`` without one."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time

import pytest
from _farm import NO_SECRET_ENV, cli, cli_farm, serve_argv
from _sim_workloads import activity, network

from tvm_loihi.measure import backend
from tvm_loihi.measure.auth import NOT_AUTHENTICATED, AuthenticationError, mac, new_nonce
from tvm_loihi.measure.payload import MeasureRequest, UploadPayload
from tvm_loihi.measure.records import MeasureInput
from tvm_loihi.measure.rpc_runner import RPCRunner, request_session
from tvm_loihi.measure.tracker import (
    _finish_host_start,
    _spawn,
    connect_tracker,
    free_port,
    query_summary,
    start_tracker,
    wait_for_hosts,
)
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import lava_default_mapping

HW = get_preset("loihi2_1chip")
KEY = "loihi2auth"


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVM_LOIHI_SECRET")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("auth_farm")
    secret = secrets.token_hex(32)
    secret_file = log_dir / "secret"
    secret_file.write_text(secret + "\n")
    secret_file.chmod(0o600)
    with cli_farm(str(log_dir), KEY, secret, str(secret_file)) as f:
        yield f


@pytest.fixture
def no_secret(monkeypatch):
    monkeypatch.delenv("TVM_LOIHI_SECRET", raising=False)
    monkeypatch.delenv("TVM_LOIHI_SECRET_FILE", raising=False)


def _workload():
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    return net, act, lava_default_mapping(net, HW).to_json()


def test_host_says_it_authenticates(farm):
    assert "auth=hmac-sha256" in farm["host"].output()
    assert "WARNING" not in farm["host"].output()


def _unauthenticated_session(farm):
    """A session on the farm's host that skipped the session handshake: what a client that got
    past the tracker (or reached the host's port with a match key) but lacks the secret has."""
    from tvm import rpc
    from tvm.rpc import base

    with connect_tracker(*farm["addr"], timeout_s=30, secret=farm["secret"]) as sock:
        base.sendjson(sock, [base.TrackerCode.REQUEST, KEY, "", 1])
        code, (url, port, matchkey) = base.recvjson(sock)
    assert code == base.TrackerCode.SUCCESS
    return rpc.connect(url, port, matchkey, session_timeout=60)


def test_unauthenticated_stock_tvm_client_cannot_measure_or_upload(farm):
    # What an attacker who reaches a host does: TVM's own client, no session secret.
    sess = _unauthenticated_session(farm)
    net, act, mapping = _workload()
    blob = UploadPayload(net, HW, act).to_bytes()
    request = MeasureRequest(net.workload_key(), HW.key(), mapping, "fast", 30.0).to_text()
    calls = {
        "version": (),
        "ping": ("x",),
        "upload": (blob,),
        "has": ("a", "b"),
        "measure": (request,),
        "measure_batch": (f'{{"v":1,"requests":[{request}]}}',),
    }
    for name, args in calls.items():
        with pytest.raises(Exception, match="requires authentication"):
            sess.get_function(f"tvm_loihi.remote.{name}")(*args)
    # A wrong answer to a real challenge is refused, and the session stays locked.
    challenge = json.loads(sess.get_function("tvm_loihi.remote.challenge")())
    assert challenge["scheme"] == "hmac-sha256" and len(challenge["nonce"]) == 64
    cn = new_nonce()
    wrong = mac(b"not the secret, just guessing", b"client", challenge["nonce"], cn)
    auth = sess.get_function("tvm_loihi.remote.auth")
    with pytest.raises(Exception, match="refused: authentication failed"):
        auth(json.dumps({"client_nonce": cn, "mac": wrong}))
    # The right answer to a used nonce is refused too (one answer per challenge).
    right = mac(farm["secret"].encode(), b"client", challenge["nonce"], cn)
    with pytest.raises(Exception, match="refused: authentication failed"):
        auth(json.dumps({"client_nonce": cn, "mac": right}))
    with pytest.raises(Exception, match="requires authentication"):
        sess.get_function("tvm_loihi.remote.upload")(blob)
    assert NOT_AUTHENTICATED.startswith("refused:")
    del sess


def test_wrong_or_missing_secret_is_refused_with_one_line(farm, no_secret):
    for secret in (None, "0123456789abcdef-wrong"):
        with pytest.raises(AuthenticationError) as err:
            request_session(farm["addr"], KEY, 60, 30, secret=secret)
        msg = str(err.value)
        assert (
            "refused authentication: wrong or missing secret (set TVM_LOIHI_SECRET or "
            "--secret-file)"
            in msg
            and "\n" not in msg
        )
    with pytest.raises(AuthenticationError, match="refused authentication"):
        RPCRunner(*farm["addr"], key=KEY, secret="0123456789abcdef-wrong")


def test_right_secret_measures_what_local_measures(farm, no_secret):
    net, act, mapping = _workload()
    local = backend.measure(net, HW, act, mapping, "fast")
    for kwargs in ({"secret": farm["secret"]}, {"secret_file": farm["secret_file"]}):
        with RPCRunner(*farm["addr"], key=KEY, timeout_s=60, **kwargs) as runner:
            runner.register(net, HW, act)
            inp = MeasureInput(net.workload_key(), HW.key(), mapping, "fast")
            remote = runner.submit([inp])[0].result(timeout=120)
        assert remote.ok, remote.message
        assert (remote.latency_s, remote.energy_j) == (local.latency_s, local.energy_j)


def test_tune_cli_with_wrong_secret_fails_in_one_line(farm, tmp_path):
    bad = tmp_path / "bad_secret"
    bad.write_text("this-is-not-the-farm-secret")
    res = subprocess.run(
        [
            *cli(),
            "tune",
            "--workload",
            "mlp_tiny",
            "--budget",
            "2",
            "--runner",
            f"rpc://127.0.0.1:{farm['addr'][1]}/{KEY}",
            "--secret-file",
            str(bad),
            "--outdir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=_clean_env(),
    )
    assert res.returncode != 0
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "refused authentication: wrong or missing secret" in lines[0], (
        res.stderr
    )


@pytest.mark.parametrize("command", ["serve", "tracker"])
def test_no_secret_and_no_insecure_refuses_to_start(command):
    res = subprocess.run(
        [*cli(), command, "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
    )
    assert res.returncode != 0
    assert "no secret configured; refusing" in res.stderr and "--insecure" in res.stderr, res.stderr


def test_insecure_host_warns_and_secret_holding_clients_do_not_trust_it(farm, tmp_path, no_secret):
    # An --insecure host registers only with an --insecure tracker (the farm's refuses it, see
    # test_tracker_refuses_clients_without_the_secret); both sides chose to run open.
    tracker = start_tracker("127.0.0.1", str(tmp_path), insecure=True)
    addr = ("127.0.0.1", tracker.port)
    port = free_port()
    host = _spawn(
        f"insecure-{port}",
        [
            *cli(),
            "serve",
            "--tracker",
            f"127.0.0.1:{tracker.port}",
            "--key",
            "loihi2open",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--insecure",
        ],
        str(tmp_path),
        env=NO_SECRET_ENV,
    )
    try:
        _finish_host_start(host)
        wait_for_hosts(*addr, "loihi2open", 1, secret="")
        assert "WARNING: tvm_loihi.rpc_server runs --insecure on '127.0.0.1'" in host.output()
        assert "auth=none" in host.output()
        assert "WARNING: tvm-loihi tracker runs --insecure" in tracker.output()
        # A client holding a secret refuses the open tracker (anyone could have registered its
        # entries) and the open host alike.
        with pytest.raises(AuthenticationError, match=r"tracker .* runs without authentication"):
            request_session(addr, "loihi2open", 60, 30, secret=farm["secret"])
        # Without a secret the client accepts it (both sides chose --insecure), and the open
        # tracker speaks TVM's plain protocol to TVM's own client too.
        sess = request_session(addr, "loihi2open", 60, 30, secret=None)
        assert json.loads(sess.get_function("tvm_loihi.remote.version")())["protocol"] == 1
        del sess
        from tvm import rpc

        assert "loihi2open" in rpc.connect_tracker(*addr).summary()["queue_info"]
    finally:
        host.kill()
        tracker.kill()


def test_insecure_tracker_warns(tmp_path):
    port = free_port()
    proc = _spawn(
        f"tracker-{port}",
        [*cli(), "tracker", "--port", str(port), "--insecure"],
        str(tmp_path),
        env=NO_SECRET_ENV,
    )
    try:
        import time

        deadline = time.monotonic() + 60
        while "tracker ready" not in proc.output():
            assert proc.alive() and time.monotonic() < deadline, proc.output()
            time.sleep(0.1)
        assert "WARNING: tvm-loihi tracker runs --insecure" in proc.output()
    finally:
        proc.kill()


def test_tracker_refuses_clients_without_the_secret(farm, tmp_path, no_secret):
    """Issue #11: without the secret nobody can read the tracker, register an entry at it or
    reserve a host through it; every refusal is bounded and says why."""
    import socket
    import struct

    from tvm import rpc
    from tvm.rpc import base

    from tvm_loihi.measure.tracker_server import AUTH_TIMEOUT_S

    addr, where = farm["addr"], f"127.0.0.1:{farm['addr'][1]}"
    # Reading the summary (host addresses and keys): refused, with our client and TVM's own.
    for secret in ("", "0123456789abcdef-wrong"):
        with pytest.raises(AuthenticationError, match=f"tracker {where} refused authentication"):
            query_summary(*addr, secret=secret)
    with pytest.raises(RuntimeError, match="is not RPC Tracker"):
        rpc.connect_tracker(*addr)
    # Requesting (reserving) a host: refused before the tracker queues anything.
    for secret in (None, "0123456789abcdef-wrong"):
        with pytest.raises(AuthenticationError, match=f"tracker {where} refused authentication"):
            request_session(addr, KEY, 60, 30, secret=secret)
    # Registering an entry by hand with TVM's protocol: the tracker closes the connection after
    # answering the magic with its own, so no PUT ever reaches its scheduler.
    with socket.create_connection(addr, timeout=30) as sock:
        sock.sendall(struct.pack("<i", base.RPC_TRACKER_MAGIC))
        assert struct.unpack("<i", base.recvall(sock, 4))[0] != base.RPC_TRACKER_MAGIC
        try:
            base.sendjson(sock, [base.TrackerCode.PUT, "loihi2fake", [9999, "loihi2fake:x"], None])
            assert sock.recv(4096) == b""  # closed, no answer
        except OSError:
            pass  # or reset
    # A silent connection is closed by the tracker (bounded), not held open.
    with socket.create_connection(addr, timeout=10 * AUTH_TIMEOUT_S + 30) as sock:
        assert sock.recv(4096) == b""
    # Registering a real host without the secret, or with a wrong one: it never appears.
    wrong = tmp_path / "wrong_secret"
    wrong.write_text("0123456789abcdef-not-the-farm-secret")
    wrong.chmod(0o600)
    hosts = [
        _spawn(
            "open-host",
            serve_argv(addr[1], "loihi2fake", "--insecure"),
            str(tmp_path),
            env=NO_SECRET_ENV,
        ),
        _spawn(
            "wrong-host",
            serve_argv(addr[1], "loihi2fake", "--secret-file", str(wrong)),
            str(tmp_path),
            env=NO_SECRET_ENV,
        ),
    ]
    try:
        for host in hosts:
            _finish_host_start(host)
        deadline_polls = 0
        while "cannot register with the tracker" not in hosts[1].output():
            assert hosts[1].alive() and deadline_polls < 600, hosts[1].output()
            deadline_polls += 1
            time.sleep(0.1)
        assert f"tracker {where} refused authentication" in hosts[1].output()
        summary = query_summary(*addr, secret=farm["secret"])
        assert "loihi2fake" not in summary["queue_info"]
        assert all(s["key"] != "server:loihi2fake" for s in summary["server_info"])
    finally:
        for host in hosts:
            host.kill()
    # None of this reserved the farm's host: it is free, and the right secret measures on it.
    summary = query_summary(*addr, secret=farm["secret"])
    assert summary["queue_info"][KEY] == {"free": 1, "pending": 0}
    sess = request_session(addr, KEY, 60, 30, secret=farm["secret"])
    assert sess.get_function("tvm_loihi.remote.ping")("ok") == "ok"
    del sess


def test_a_flood_of_silent_connections_does_not_stop_the_tracker(farm, no_secret):
    """More silent connections than the tracker keeps in the handshake: the extra ones are closed
    at once, and once the flood is gone, the farm works again."""
    import socket

    from tvm_loihi.measure.tracker_server import AUTH_TIMEOUT_S, MAX_UNAUTHENTICATED

    addr = farm["addr"]
    flood = [socket.create_connection(addr, timeout=30) for _ in range(MAX_UNAUTHENTICATED + 8)]
    try:
        closed = 0
        for sock in flood[MAX_UNAUTHENTICATED:]:
            try:
                closed += sock.recv(16) == b""
            except OSError:
                closed += 1
        assert closed == 8
        # Meanwhile a member is turned away too, as a transport error its caller retries (an
        # RPCRunner keeps trying until give_up_after_s), never as a refusal of its secret.
        with pytest.raises(OSError):
            query_summary(*addr, secret=farm["secret"])
    finally:
        for sock in flood:
            sock.close()
    # The tracker answers again (retrying while it reaps the flood's connections).
    for _ in range(int(4 * AUTH_TIMEOUT_S / 0.5)):
        try:
            summary = query_summary(*addr, secret=farm["secret"])
            break
        except OSError:
            time.sleep(0.5)
    assert summary["queue_info"][KEY]["free"] == 1

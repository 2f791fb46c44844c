"""Authentication between tuners and measurement hosts (issue #11 item 2): a real tracker and a
real ``tvm-loihi serve`` host on 127.0.0.1 holding a secret from a 0600 file, real TVM RPC clients
with no, a wrong and the right secret, and the refusals of ``serve``/``tracker`` without one."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys

import pytest
from _sim_workloads import activity, network

from tvm_loihi.measure import backend
from tvm_loihi.measure.auth import NOT_AUTHENTICATED, AuthenticationError, mac, new_nonce
from tvm_loihi.measure.payload import MeasureRequest, UploadPayload
from tvm_loihi.measure.records import MeasureInput
from tvm_loihi.measure.rpc_runner import RPCRunner, request_session
from tvm_loihi.measure.tracker import (
    _finish_host_start,
    _spawn,
    free_port,
    start_tracker,
    wait_for_hosts,
)
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import lava_default_mapping

HW = get_preset("loihi2_1chip")
KEY = "loihi2auth"
NO_SECRET_ENV = {"TVM_LOIHI_SECRET": "", "TVM_LOIHI_SECRET_FILE": ""}


def _cli() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")
    return [exe] if os.path.exists(exe) else [shutil.which("tvm-loihi") or "tvm-loihi"]


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
    tracker = start_tracker("127.0.0.1", str(log_dir))
    host = None
    try:
        port = free_port()
        host = _spawn(
            f"serve-{port}",
            [
                *_cli(),
                "serve",
                "--tracker",
                f"127.0.0.1:{tracker.port}",
                "--key",
                KEY,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--secret-file",
                str(secret_file),
            ],
            str(log_dir),
            env=NO_SECRET_ENV,
        )
        _finish_host_start(host)
        wait_for_hosts("127.0.0.1", tracker.port, KEY, 1)
        yield {
            "addr": ("127.0.0.1", tracker.port),
            "host": host,
            "secret": secret,
            "secret_file": str(secret_file),
            "log_dir": str(log_dir),
        }
    finally:
        if host is not None:
            host.kill()
        tracker.kill()


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


def test_unauthenticated_stock_tvm_client_cannot_measure_or_upload(farm):
    # What an attacker who reaches the tracker does: TVM's own client, no secret.
    from tvm import rpc

    sess = rpc.connect_tracker(*farm["addr"]).request(KEY, session_timeout=60)
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
            *_cli(),
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
        [*_cli(), command, "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
    )
    assert res.returncode != 0
    assert "no secret configured; refusing" in res.stderr and "--insecure" in res.stderr, res.stderr


def test_insecure_host_warns_and_secret_holding_clients_do_not_trust_it(farm, tmp_path, no_secret):
    port = free_port()
    host = _spawn(
        f"insecure-{port}",
        [
            *_cli(),
            "serve",
            "--tracker",
            f"127.0.0.1:{farm['addr'][1]}",
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
        wait_for_hosts(*farm["addr"], "loihi2open", 1)
        assert "WARNING: tvm_loihi.rpc_server runs --insecure on '127.0.0.1'" in host.output()
        assert "auth=none" in host.output()
        with pytest.raises(AuthenticationError, match="runs without authentication"):
            request_session(farm["addr"], "loihi2open", 60, 30, secret=farm["secret"])
        # Without a secret the client accepts it (both sides chose --insecure).
        sess = request_session(farm["addr"], "loihi2open", 60, 30, secret=None)
        assert json.loads(sess.get_function("tvm_loihi.remote.version")())["protocol"] == 1
        del sess
    finally:
        host.kill()


def test_insecure_tracker_warns(tmp_path):
    port = free_port()
    proc = _spawn(
        f"tracker-{port}",
        [*_cli(), "tracker", "--port", str(port), "--insecure"],
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

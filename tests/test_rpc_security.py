"""What a client of a ``tvm-loihi serve`` host can and cannot do (issue #11): a real tracker and a
real ``tvm-loihi serve`` host on 127.0.0.1, a real TVM RPC client. The host serves our measurement
functions; TVM's stock server environment (files, modules, libraries, device memory) is refused."""

from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np
import pytest
from _sim_workloads import activity, network

from tvm_loihi.measure import backend
from tvm_loihi.measure.payload import MeasureRequest, UploadPayload
from tvm_loihi.measure.records import MeasureResult
from tvm_loihi.measure.rpc_runner import request_session
from tvm_loihi.measure.tracker import (
    _finish_host_start,
    _spawn,
    free_port,
    start_tracker,
    wait_for_hosts,
)
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import lava_default_mapping
from tvm_loihi.rpc_server import REFUSED

HW = get_preset("loihi2_1chip")
KEY = "loihi2sec"


def _cli() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "tvm-loihi")
    return [exe] if os.path.exists(exe) else [shutil.which("tvm-loihi") or "tvm-loihi"]


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    log_dir = str(tmp_path_factory.mktemp("sec_farm"))
    tracker = start_tracker("127.0.0.1", log_dir)
    host = None
    try:
        port = free_port()
        host = _spawn(f"serve-{port}", [
            *_cli(), "serve", "--tracker", f"127.0.0.1:{tracker.port}", "--key", KEY,
            "--host", "127.0.0.1", "--port", str(port)], log_dir)
        _finish_host_start(host)
        wait_for_hosts("127.0.0.1", tracker.port, KEY, 1)
        yield ("127.0.0.1", tracker.port)
    finally:
        if host is not None:
            host.kill()
        tracker.kill()


@pytest.fixture
def sess(farm):
    s = request_session(farm, KEY, session_timeout_s=60, timeout_s=30)
    try:
        yield s
    finally:
        del s


def _refused(call) -> None:
    with pytest.raises(Exception, match="refused: a tvm_loihi host serves only measurement"):
        call()


def test_tvm_file_and_module_functions_are_refused(sess, tmp_path):
    outside = tmp_path / "written_by_client"
    escape = f"../tvm_loihi_sec_{os.getpid()}"
    upload = sess.get_function("tvm.rpc.server.upload")
    _refused(lambda: upload(str(outside), bytearray(b"owned")))
    _refused(lambda: upload(escape, bytearray(b"owned")))
    _refused(lambda: sess.upload(bytearray(b"owned"), target="payload.so"))  # the client helper
    _refused(lambda: sess.download("/etc/hostname"))
    _refused(lambda: sess.remove(str(outside)))
    _refused(lambda: sess.load_module("payload.so"))
    _refused(lambda: sess.listdir("/"))
    _refused(lambda: sess.get_function("tvm.rpc.server.workpath")("x"))
    _refused(lambda: sess.get_function("runtime.ModuleLoadFromFile")("/tmp/x.so", "so"))
    assert not outside.exists()
    assert not os.path.exists(os.path.join(os.path.dirname(os.getcwd()), escape[3:]))
    # Every other TVM global is gone (not refused one by one) ...
    for name in ("device_api.cpu", "runtime.GetDeviceAttr", "ffi.FunctionRemoveGlobal"):
        with pytest.raises(AttributeError, match="no function"):
            sess.get_function(name)
    # ... so the raw memory operations of the RPC protocol have no device to act on.
    import tvm

    with pytest.raises(Exception, match="Device API cpu is not enabled"):
        tvm.runtime.tensor(np.zeros(4, "float32"), sess.cpu(0))
    assert json.loads(sess.get_function("tvm_loihi.remote.version")())["protocol"] == 1


def test_measurement_still_works_after_refusals(sess):
    _refused(lambda: sess.listdir("."))
    net, act = network("mlp_tiny"), activity("mlp_tiny")
    upload = sess.get_function("tvm_loihi.remote.upload")
    measure = sess.get_function("tvm_loihi.remote.measure")
    assert json.loads(upload(UploadPayload(net, HW, act).to_bytes()))["ok"]
    mapping = lava_default_mapping(net, HW).to_json()
    request = MeasureRequest(net.workload_key(), HW.key(), mapping, "fast", 30.0).to_text()
    remote = MeasureResult.from_json(json.loads(measure(request)))
    local = backend.measure(net, HW, act, mapping, "fast")
    assert remote.ok, remote.message
    assert remote.latency_s == local.latency_s and remote.energy_j == local.energy_j
    assert REFUSED.startswith("refused:")


"""What a client of a ``tvm-loihi serve`` host can and cannot do (issue #11): a real tracker and a
real ``tvm-loihi serve`` host on 127.0.0.1, a real TVM RPC client. The host serves our measurement
functions; TVM's stock server environment (files, modules, libraries, device memory) is refused."""

from __future__ import annotations

import io
import json
import os
import secrets
import struct
import subprocess
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from _farm import cli, cli_farm
from _sim_workloads import activity, network

from tvm_loihi.measure import backend
from tvm_loihi.measure.payload import MeasureRequest, PayloadError, UploadPayload
from tvm_loihi.measure.records import MeasureResult
from tvm_loihi.measure.rpc_runner import request_session
from tvm_loihi.measure.tracker import (
    free_port,
)
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import lava_default_mapping
from tvm_loihi.rpc_server import REFUSED, is_loopback

HW = get_preset("loihi2_1chip")
KEY = "loihi2sec"


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    # The host and this process's request_session share the secret through $TVM_LOIHI_SECRET;
    # the sessions below are authenticated: what they may do is the point of these tests.
    secret = secrets.token_hex(32)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TVM_LOIHI_SECRET", secret)
        mp.delenv("TVM_LOIHI_SECRET_FILE", raising=False)
        with cli_farm(str(tmp_path_factory.mktemp("sec_farm")), KEY, secret) as f:
            yield f


@pytest.fixture
def sess(farm):
    s = request_session(farm["addr"], KEY, session_timeout_s=60, timeout_s=30)
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


# -- decompression bombs (issue #11 item 6) --------------------------------------------------------
def _npy_header(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|u1", "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def _bomb(mib: int = 1024, declared: int | None = None) -> bytes:
    """An upload-shaped ``.npz`` whose one member, ``network.npy``, deflates to ``mib`` MiB (an
    .npy header and zeros). The deflate stream is built from full-flush blocks: each 1 MiB block of
    zeros compresses to the same bytes, so it is compressed once and repeated (a real, valid zip,
    built in well under a second instead of deflating 1 GiB). ``declared`` makes the zip directory
    lie about the inflated size."""
    header, zeros = _npy_header((mib << 20,)), bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    data = first + block * mib + c.flush()
    crc = zlib.crc32(header)
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    name, size = b"network.npy", len(header) + (mib << 20) if declared is None else declared
    local = (
        struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(name), 0
        )
        + name
    )
    central = (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            8,
            0,
            0x21,
            crc,
            len(data),
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            0,
        )
        + name
    )
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    return local + data + central + end


def _lying_header() -> bytes:
    """A tiny ``.npz`` whose ``.npy`` header declares a 1 TiB array (np.load would allocate it)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("network.npy", _npy_header((1 << 40,)) + bytes(16))
    return buf.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return _bomb()


def _refused_with_little_memory(blob: bytes, match: str) -> None:
    tracemalloc.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(PayloadError, match=match):
            UploadPayload.from_bytes(blob)
        elapsed = time.monotonic() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"peak {peak / 2**20:.0f} MiB while refusing"
    assert elapsed < 30  # generous: refused before inflating, not after


def test_decompression_bomb_is_refused_before_inflating(bomb):
    assert len(bomb) < 2 << 20  # ~1 MB on the wire, under the 256 MiB upload limit
    with zipfile.ZipFile(io.BytesIO(bomb)) as zf, zf.open("network.npy") as f:  # a real bomb
        assert zf.infolist()[0].file_size > 1 << 30
        f.read(128)
        assert f.read(4 << 20) == bytes(4 << 20)
    _refused_with_little_memory(
        bomb,
        r"upload \(decompressed, as declared\) is 1073741\d+ "
        r"bytes, over the host's limit of 268435456",
    )
    _refused_with_little_memory(
        _lying_header(),
        r"as its \.npy header declares.*over the host's "
        "limit",
    )
    # a zip directory that understates the size: refused (malformed or over the limit), never
    # inflated past what it declared
    _refused_with_little_memory(_bomb(declared=4096), r"upload")


def test_decompression_bomb_sent_to_a_host_is_bad_payload(sess, bomb):
    upload = sess.get_function("tvm_loihi.remote.upload")
    for blob in (bomb, _lying_header()):
        reply = json.loads(upload(blob))
        assert not reply["ok"] and reply["error"] == "bad_payload", reply
        assert "over the host's limit" in reply["message"], reply
    assert json.loads(sess.get_function("tvm_loihi.remote.version")())["protocol"] == 1


# -- binding beyond loopback ----------------------------------------------------------------------
def test_serve_refuses_non_loopback_without_secret_and_warns_when_insecure():
    # 192.0.2.1 (TEST-NET-1) is not loopback and not assigned here: the refusal and the warning
    # come before the bind, which then fails, so no host is exposed by the test.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVM_LOIHI_SECRET")}
    argv = [*cli(), "serve", "--host", "192.0.2.1", "--port", str(port)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode != 0
    assert "no secret configured; refusing" in res.stderr, res.stderr
    assert "Binding '192.0.2.1' (not loopback) without a secret is refused" in res.stderr
    res = subprocess.run(
        [*argv, "--insecure"], capture_output=True, text=True, timeout=120, env=env
    )
    assert res.returncode != 0
    assert "runs --insecure on '192.0.2.1': sessions are not authenticated" in res.stderr, (
        res.stderr
    )
    assert [h for h in ("0.0.0.0", "::", "10.0.0.5", "loihi-host.lab") if is_loopback(h)] == []
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))


def test_loopback_host_does_not_warn(farm):
    assert "ready" in farm["host"].output() and "unauthenticated" not in farm["host"].output()

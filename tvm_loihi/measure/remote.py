"""Server side of measurement: the functions a measurement host registers, and the backend
interface.

A host is a TVM RPC server (:mod:`tvm_loihi.rpc_server`) whose init callback calls :func:`register`.
Each tuner session is a forked process; it holds the workloads uploaded to it (keyed by workload and
hardware key) and answers measurement requests that carry only the mapping JSON. Global functions
(all plain str/bytes in and JSON text out, so no pickle crosses the link). On a host with a secret
(:mod:`tvm_loihi.measure.auth`) every function but ``challenge`` and ``auth`` refuses until the
session has authenticated:

``tvm_loihi.remote.challenge()``, ``tvm_loihi.remote.auth(text)``
    The HMAC-SHA256 challenge-response (:class:`~tvm_loihi.measure.auth.SessionGate`).

``tvm_loihi.remote.version()``
    ``{"package", "protocol", "backend", "fidelities", "host", "pid"}``.
``tvm_loihi.remote.ping(text)``
    Echoes ``text`` (liveness check).
``tvm_loihi.remote.upload(blob)``
    An :class:`~tvm_loihi.measure.payload.UploadPayload`; answers ``{"ok", "workload_key",
    "hardware_key", "error", "message"}``.
``tvm_loihi.remote.has(workload_key, hardware_key)``
    ``"1"`` when this session holds that workload, else ``"0"``.
``tvm_loihi.remote.measure(request)``
    A :class:`~tvm_loihi.measure.payload.MeasureRequest`; answers ``MeasureResult.to_json()``. Bad
    payloads, unknown workloads, invalid mappings, backend exceptions and time-outs all come back as
    error results: the host never dies of what it is sent.
``tvm_loihi.remote.measure_batch(batch)``
    Up to ``max_batch`` (in ``version()``) requests in one call
    (:func:`~tvm_loihi.measure.payload.batch_from_text`), measured in order; answers ``{"ok": true,
    "results": [MeasureResult JSON, ...], "wall_s", "cpu_s"}`` with one result per item *started*
    (an item that breaks the request schema is its own ``BAD_PAYLOAD``, an infeasible mapping its
    own ``INVALID_MAPPING``; items not started once the batch's ``budget_s`` has passed are left
    out, for the client to send again), or ``{"ok": false, "error": "bad_payload", "message"}``
    for a batch that is malformed or over the limits.

Backends
--------
:class:`MeasurementBackend` is what a host measures with (defined in
:mod:`tvm_loihi.measure.host_backend`, importable from here). :class:`SimulatorBackend` serves the
Loihi 2 performance simulator (fidelities ``fast`` and ``event``);
:class:`~tvm_loihi.measure.standin.StandinBackend` is the silicon stand-in (fidelity ``standin``:
hidden constants, noise, a cost per measurement). A real Loihi 2 host would subclass
:class:`MeasurementBackend` (see its docstring for the contract); it cannot be tested here, so it is
not faked.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager

from ..constants import FIDELITIES
from .auth import SessionGate
from .host_backend import MeasurementBackend, SimulatorBackend
from .payload import (
    MAX_BATCH_ITEMS,
    PROTOCOL_VERSION,
    MeasureRequest,
    PayloadError,
    UploadPayload,
    batch_from_text,
)
from .records import MeasureError, MeasureResult
from .standin import StandinBackend

__all__ = [  # the backend interface is defined in host_backend.py and served from here
    "BACKENDS",
    "HostState",
    "MeasureTimeout",
    "MeasurementBackend",
    "SimulatorBackend",
    "make_backend",
    "register",
    "session_gate",
    "time_limit",
]

MAX_SESSION_WORKLOADS = 8  # uploaded workloads a session keeps (least recently used evicted)


BACKENDS = ("sim", "fast", "event", "standin")


def make_backend(name: str | MeasurementBackend, **options) -> MeasurementBackend:
    """A backend by name: ``"sim"`` (both simulator fidelities), ``"fast"`` or ``"event"`` (one
    fidelity), ``"standin"`` (the silicon stand-in; ``options`` are its ``seed``, ``cv``,
    ``cost_s``, ``noise_seed``, see :class:`~tvm_loihi.measure.standin.StandinConfig`). A backend
    instance is returned as it is."""
    if isinstance(name, MeasurementBackend):
        return name
    if name == "standin":
        return StandinBackend(**options)
    if options:
        raise ValueError(f"backend {name!r} takes no options, got {sorted(options)}")
    if name == "sim":
        return SimulatorBackend()
    if name in FIDELITIES:
        return SimulatorBackend((name,))
    raise ValueError(f"unknown measurement backend {name!r}; use one of {', '.join(BACKENDS)}")


# A BaseException, so that a backend's `except Exception` cannot swallow the time-out.
class MeasureTimeout(BaseException):
    """Raised in the measuring thread when a request's time limit passes."""


@contextmanager
def time_limit(seconds: float):
    """Raise :class:`MeasureTimeout` after ``seconds`` (SIGALRM; only in the main thread, else no
    limit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _alarm(signum, frame):
        raise MeasureTimeout(f"measurement exceeded its {seconds:g} s limit")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class HostState:
    """What one session (or one pool worker) holds: the backend and the workloads uploaded to it."""

    def __init__(self, backend: MeasurementBackend, host_id: str | None = None) -> None:
        self.backend = backend
        self._host_id = host_id
        self.workloads: OrderedDict[tuple[str, str], object] = OrderedDict()

    @property
    def host_id(self) -> str:
        host = self._host_id or _server_address()
        label = getattr(self.backend, "label", "")
        return f"{label}@{host}" if label else host

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            package = version("tvm_loihi")
        except PackageNotFoundError:
            package = "unknown"
        return json.dumps(
            {
                "package": package,
                "protocol": PROTOCOL_VERSION,
                "backend": self.backend.name,
                "fidelities": list(self.backend.fidelities),
                "host": self.host_id,
                "pid": os.getpid(),
                "max_batch": MAX_BATCH_ITEMS,
            }
        )

    def upload(self, blob: bytes) -> str:
        try:
            workload = UploadPayload.from_bytes(bytes(blob))
            key = (workload.workload_key, workload.hardware_key)
            self.workloads[key] = self.backend.prepare(workload)
            self.workloads.move_to_end(key)
            while len(self.workloads) > MAX_SESSION_WORKLOADS:
                self.workloads.popitem(last=False)
        except PayloadError as exc:
            return json.dumps(
                {"ok": False, "error": MeasureError.BAD_PAYLOAD.value, "message": str(exc)}
            )
        except Exception as exc:
            return json.dumps(
                {
                    "ok": False,
                    "error": MeasureError.RUNTIME_ERROR.value,
                    "message": f"{type(exc).__name__}: {exc}",
                }
            )
        return json.dumps(
            {"ok": True, "workload_key": key[0], "hardware_key": key[1], "error": "", "message": ""}
        )

    def has(self, workload_key: str, hardware_key: str) -> str:
        return "1" if (str(workload_key), str(hardware_key)) in self.workloads else "0"

    def measure(self, text: str) -> str:
        """One measurement request -> ``MeasureResult`` JSON text (never raises)."""
        start = time.perf_counter()
        r = self._measure(text)
        result = MeasureResult(
            r.latency_s,
            r.energy_j,
            r.counters,
            r.error,
            r.message,
            self.host_id,
            time.perf_counter() - start,
            r.timestamp,
        )
        return json.dumps(result.to_json())

    def measure_batch(self, text: str) -> str:
        """A batch of requests -> ``{"ok", "results", "wall_s", "cpu_s"}`` JSON text (never
        raises); see the module docstring."""
        start, cpu = time.perf_counter(), time.process_time()
        try:
            budget_s, items = batch_from_text(text)
        except PayloadError as exc:
            return json.dumps(
                {"ok": False, "error": MeasureError.BAD_PAYLOAD.value, "message": str(exc)}
            )
        results = []
        for item in items:
            if results and time.perf_counter() - start >= budget_s:
                break  # not started: the client sends the rest again
            t0 = time.perf_counter()
            r = (
                MeasureResult.failure(MeasureError.BAD_PAYLOAD, str(item))
                if isinstance(item, PayloadError)
                else self._measure_request(item)
            )
            results.append(
                MeasureResult(
                    r.latency_s,
                    r.energy_j,
                    r.counters,
                    r.error,
                    r.message,
                    self.host_id,
                    time.perf_counter() - t0,
                    r.timestamp,
                ).to_json()
            )
        return json.dumps(
            {
                "ok": True,
                "results": results,
                "wall_s": time.perf_counter() - start,
                "cpu_s": time.process_time() - cpu,
            }
        )

    def _measure(self, text: str) -> MeasureResult:
        try:
            req = MeasureRequest.from_text(text)
        except PayloadError as exc:
            return MeasureResult.failure(MeasureError.BAD_PAYLOAD, str(exc))
        return self._measure_request(req)

    def _measure_request(self, req: MeasureRequest) -> MeasureResult:
        if req.fidelity not in self.backend.fidelities:
            return MeasureResult.failure(
                MeasureError.BAD_PAYLOAD,
                f"host serves fidelities {list(self.backend.fidelities)}, not {req.fidelity!r}",
            )
        prepared = self.workloads.get((req.workload_key, req.hardware_key))
        if prepared is None:
            return MeasureResult.failure(
                MeasureError.UNKNOWN_WORKLOAD,
                f"workload {req.workload_key} on hardware "
                f"{req.hardware_key} was not uploaded to this session",
            )
        try:
            with time_limit(req.timeout_s):
                return self.backend.measure(prepared, req.mapping, req.fidelity)
        except MeasureTimeout as exc:
            return MeasureResult.failure(MeasureError.TIMEOUT, str(exc))
        except Exception as exc:
            return MeasureResult.failure(MeasureError.RUNTIME_ERROR, f"{type(exc).__name__}: {exc}")


def _server_address() -> str:
    # Inside an RPC session (forked from the listen process) the server state knows its bound port.
    try:
        from tvm.rpc.server import PopenRPCServerState

        state = PopenRPCServerState.current
        if state is not None and state.port:
            return f"{state.custom_addr or state.host}:{state.port}"
    except ImportError:
        pass
    return f"{socket.gethostname()}:pid{os.getpid()}"


_STATE: HostState | None = None
_GATE = None  # the SessionGate of this process's functions (each forked session has its copy)


def session_gate():
    """The :class:`~tvm_loihi.measure.auth.SessionGate` guarding this process's functions (None
    before :func:`register`): whether the session has authenticated."""
    return _GATE


def register(backend: str | MeasurementBackend = "sim", secret: bytes | None = None) -> HostState:
    """Register the ``tvm_loihi.remote.*`` global functions in this process (an RPC server's init
    callback).

    Parameters
    ----------
    backend : str or MeasurementBackend
        ``"sim"``, ``"fast"``, ``"event"``, ``"standin"`` (default options) or a backend
        instance.
    secret : bytes, optional
        The farm's shared secret; None (``--insecure``) leaves sessions unauthenticated.
    """
    import tvm_ffi

    global _STATE, _GATE
    _STATE = HostState(make_backend(backend))
    state = _STATE
    gate = _GATE = SessionGate(secret, lambda: state.host_id)
    functions = (
        ("version", state.version),
        ("ping", lambda text: text),
        ("upload", state.upload),
        ("has", state.has),
        ("measure", state.measure),
        ("measure_batch", state.measure_batch),
    )
    for name, fn in functions:
        tvm_ffi.register_global_func(f"tvm_loihi.remote.{name}", gate.guard(fn), override=True)
    tvm_ffi.register_global_func("tvm_loihi.remote.challenge", gate.challenge, override=True)
    tvm_ffi.register_global_func("tvm_loihi.remote.auth", gate.auth, override=True)
    return state

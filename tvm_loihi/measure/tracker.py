"""Start and stop an RPC tracker and measurement hosts as subprocesses; query the tracker safely.

Used by the tests, the CLI and the examples. Every process is started in its own process group
(``start_new_session``) so that stopping it also stops what TVM forked under it (the listen process
and the per-session processes); :class:`LocalFarm` stops everything it started on exit, also when
the body raises.

Tracker connections go through :func:`connect_tracker`, which puts a time-out on the socket (TVM's
own ``TrackerSession`` has none, and a wedged tracker must not hang a tuner) and authenticates
with the farm's secret (:func:`~tvm_loihi.measure.auth.authenticate_tracker`); the tracker
:func:`start_tracker` starts is :mod:`tvm_loihi.measure.tracker_server`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

DEFAULT_KEY = "loihi2"
_READY = "tvm_loihi.rpc_server ready"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def connect_tracker(
    host: str, port: int, timeout_s: float = 5.0, secret: bytes | str | None = None
) -> socket.socket:
    """A socket to the tracker, authenticated and past TVM's magic, ready for tracker messages.

    ``secret`` defaults to :func:`~tvm_loihi.measure.auth.load_secret`
    (``$TVM_LOIHI_SECRET[_FILE]``); ``""`` connects without one (an ``--insecure`` farm). Every
    operation on the socket times out after ``timeout_s``. The caller closes it (closing
    withdraws a pending request).

    Raises
    ------
    AuthenticationError
        The tracker refused the secret or requires one (none configured), or could not prove it
        holds it.
    OSError
        The tracker cannot be reached, does not answer within ``timeout_s``, or closed the
        connection (too busy; a stock TVM tracker when we hold a secret).
    """
    from tvm.rpc import base

    from .auth import authenticate_tracker, check_tracker_magic, load_secret

    secret = None if secret in ("", b"") else load_secret(secret)
    where = f"{host}:{port}"
    sock = socket.create_connection((host, port), timeout=timeout_s)
    try:
        try:
            authenticate_tracker(sock, secret, where)
        except ValueError as exc:  # a malformed handshake frame
            raise OSError(f"tracker {where}: {exc}") from None
        sock.sendall(struct.pack("<i", base.RPC_TRACKER_MAGIC))
        try:
            magic = struct.unpack("<i", base.recvall(sock, 4))[0]
        except RuntimeError as exc:  # TVM's recvall: "connection closed"
            raise OSError(f"tracker {where} closed the connection ({exc})") from None
        check_tracker_magic(magic, base.RPC_TRACKER_MAGIC, where)
    except BaseException:
        sock.close()
        raise
    return sock


def query_summary(
    host: str, port: int, timeout_s: float = 5.0, secret: bytes | str | None = None
) -> dict:
    """The tracker's summary ``{"queue_info": {key: {"free", "pending"}}, "server_info": [...]}``.

    ``secret``: see :func:`connect_tracker`.

    Raises
    ------
    AuthenticationError
        The tracker refused (see :func:`connect_tracker`).
    OSError
        The tracker cannot be reached or does not answer within ``timeout_s``.
    """
    from tvm.rpc import base

    with connect_tracker(host, port, timeout_s, secret) as sock:
        base.sendjson(sock, [base.TrackerCode.SUMMARY])
        value = base.recvjson(sock)
    if value[0] != base.TrackerCode.SUCCESS:
        raise OSError(f"tracker {host}:{port} answered {value!r} to SUMMARY")
    return value[1]


def hosts_for_key(summary: dict, key: str = DEFAULT_KEY) -> list[str]:
    """``"addr:port"`` of every server registered under ``key``."""
    return sorted(
        f"{s['addr'][0]}:{s['addr'][1]}"
        for s in summary.get("server_info", [])
        if s.get("key") == f"server:{key}"
    )


def free_hosts(summary: dict, key: str = DEFAULT_KEY) -> int:
    """Servers under ``key`` not currently in a session."""
    return int(summary.get("queue_info", {}).get(key, {}).get("free", 0))


def wait_for_hosts(
    host: str,
    port: int,
    key: str,
    n: int,
    timeout_s: float = 60.0,
    secret: bytes | str | None = None,
) -> list[str]:
    """Block until at least ``n`` servers are registered under ``key``; return them (a tracker
    refusing our secret raises :class:`~tvm_loihi.measure.auth.AuthenticationError` at once)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = hosts_for_key(query_summary(host, port, secret=secret), key)
            if len(found) >= n:
                return found
        except OSError:
            found = []
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"tracker {host}:{port}: {len(found)} of {n} hosts registered under "
                f"key {key!r} after {timeout_s:g} s"
            )
        time.sleep(0.2)


@dataclass
class ManagedProcess:
    """A subprocess in its own process group, with its output in a log file."""

    name: str
    popen: subprocess.Popen
    log_path: str
    port: int = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the process and everything TVM forked under it), then
        reap."""
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


def _spawn(name: str, argv: list[str], log_dir: str, env: dict | None = None) -> ManagedProcess:
    log_path = os.path.join(log_dir, f"{name}.log")
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )
    return ManagedProcess(name, popen, log_path)


def start_tracker(
    host: str = "127.0.0.1",
    log_dir: str | None = None,
    timeout_s: float = 60.0,
    secret: str | None = None,
    insecure: bool = False,
) -> ManagedProcess:
    """Start the farm's tracker (``python -m tvm_loihi.measure.tracker_server``) on a free port
    and wait until it answers.

    ``secret`` reaches it in its ``$TVM_LOIHI_SECRET`` (default: this process's
    ``$TVM_LOIHI_SECRET[_FILE]``); ``insecure`` starts it with ``--insecure`` (TVM's protocol to
    anyone) instead.
    """
    from .auth import ENV_FILE_VAR, ENV_VAR, load_secret

    log_dir = log_dir or tempfile.mkdtemp(prefix="tvm_loihi_farm_")
    port = free_port(host)
    argv = [
        sys.executable,
        "-m",
        "tvm_loihi.measure.tracker_server",
        "--host",
        host,
        "--port",
        str(port),
        "--port-end",
        str(port + 1),
    ]
    env = {ENV_VAR: secret, ENV_FILE_VAR: ""} if secret else None
    if insecure:
        argv.append("--insecure")
        env = {ENV_VAR: "", ENV_FILE_VAR: ""}
    proc = _spawn(f"tracker-{port}", argv, log_dir, env)
    proc.port = port
    ask = "" if insecure else (secret or load_secret())
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            query_summary(host, port, timeout_s=2.0, secret=ask)
            return proc
        except OSError:
            if not proc.alive() or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(
                    f"tracker on {host}:{port} did not start:\n{proc.output()[-2000:]}"
                )
            time.sleep(0.1)


def start_host(
    tracker: tuple[str, int],
    key: str = DEFAULT_KEY,
    backend: str = "sim",
    host: str = "127.0.0.1",
    log_dir: str | None = None,
    timeout_s: float = 90.0,
    secret: str | None = None,
    insecure: bool = False,
    backend_args: tuple[str, ...] = (),
) -> ManagedProcess:
    """Start ``python -m tvm_loihi.rpc_server`` and wait for its ready line (it then registers
    itself).

    ``secret`` reaches the host in its ``$TVM_LOIHI_SECRET`` (default: this process's
    ``$TVM_LOIHI_SECRET[_FILE]``); ``insecure`` starts it with ``--insecure`` instead.
    ``backend_args`` are more host options (e.g. ``("--standin-seed", "3")``).
    """
    log_dir = log_dir or tempfile.mkdtemp(prefix="tvm_loihi_farm_")
    proc = _spawn_host(tracker, key, backend, host, log_dir, secret, insecure, backend_args)
    _finish_host_start(proc, timeout_s)
    return proc


def _spawn_host(
    tracker: tuple[str, int],
    key: str,
    backend: str,
    host: str,
    log_dir: str,
    secret: str | None = None,
    insecure: bool = False,
    backend_args: tuple[str, ...] = (),
) -> ManagedProcess:
    from .auth import ENV_FILE_VAR, ENV_VAR

    port = free_port(host)
    argv = [
        sys.executable,
        "-m",
        "tvm_loihi.rpc_server",
        "--tracker",
        f"{tracker[0]}:{tracker[1]}",
        "--key",
        key,
        "--backend",
        backend,
        "--host",
        host,
        "--port",
        str(port),
        "--port-end",
        str(port + 50),
        "--silent",
        *backend_args,
    ]
    env = {ENV_VAR: secret, ENV_FILE_VAR: ""} if secret else None
    if insecure:
        argv.append("--insecure")
        env = {ENV_VAR: "", ENV_FILE_VAR: ""}
    proc = _spawn(f"host-{port}", argv, log_dir, env)
    proc.port = port
    return proc


def _finish_host_start(proc: ManagedProcess, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while _READY not in proc.output():
        if not proc.alive() or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"measurement host did not start:\n{proc.output()[-2000:]}")
        time.sleep(0.1)
    text = proc.output()
    proc.port = int(text.split(_READY, 1)[1].split("addr=", 1)[1].split()[0].rsplit(":", 1)[1])


@dataclass
class LocalFarm:
    """A tracker plus ``n_hosts`` measurement hosts on this machine; a context manager that cleans
    up.

    Parameters
    ----------
    n_hosts : int
        Measurement hosts to start.
    key : str
        Device key the hosts register under.
    backend : str
        ``--backend`` of every host.
    backend_args : tuple of str
        More options for every host (``("--standin-seed", "3", "--standin-cost", "0")``).
    host : str
        Address everything binds to.
    secret : str, optional
        The farm's shared secret. Default: the one configured in this process
        (``$TVM_LOIHI_SECRET[_FILE]``), else a random one. While the farm runs, it is exported as
        ``$TVM_LOIHI_SECRET`` in this process, so :class:`RPCRunner`, ``request_session`` and
        tuners started from here authenticate without being told.
    insecure : bool
        Start the hosts with ``--insecure`` (no secret) instead.

    Examples
    --------
    >>> with LocalFarm(n_hosts=2) as farm:
    ...     runner = RPCRunner(*farm.tracker_addr, key=farm.key)
    """

    n_hosts: int = 2
    key: str = DEFAULT_KEY
    backend: str = "sim"
    host: str = "127.0.0.1"
    log_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="tvm_loihi_farm_"))
    tracker: ManagedProcess | None = None
    hosts: list[ManagedProcess] = field(default_factory=list)
    secret: str | None = None
    insecure: bool = False
    backend_args: tuple[str, ...] = ()
    _saved_env: dict | None = field(default=None, repr=False)

    @property
    def tracker_addr(self) -> tuple[str, int]:
        return self.host, self.tracker.port

    def start(self, timeout_s: float = 120.0) -> LocalFarm:
        """Start the tracker, then the hosts (in parallel), and wait until all are registered."""
        self._export_secret()
        try:
            self.tracker = start_tracker(
                self.host, self.log_dir, secret=self.secret, insecure=self.insecure
            )
            started = [self._spawn() for _ in range(self.n_hosts)]
            for proc in started:  # the hosts import TVM concurrently; wait for each to listen
                _finish_host_start(proc)
            wait_for_hosts(*self.tracker_addr, self.key, self.n_hosts, timeout_s, self._ask)
        except BaseException:
            self.stop()
            raise
        return self

    def add_host(self, wait: bool = True) -> ManagedProcess:
        """Start one more host (waiting until the tracker lists it unless ``wait`` is False)."""
        proc = self._spawn()
        if wait:
            _finish_host_start(proc)
            wait_for_hosts(*self.tracker_addr, self.key, len(self.live_hosts()), secret=self._ask)
        return proc

    def _export_secret(self) -> None:
        import secrets

        from .auth import ENV_FILE_VAR, ENV_VAR, load_secret

        if self.insecure:
            return
        if self.secret is None:
            configured = load_secret()
            self.secret = configured.decode() if configured else secrets.token_hex(32)
        if self._saved_env is None:
            self._saved_env = {k: os.environ.get(k) for k in (ENV_VAR, ENV_FILE_VAR)}
        os.environ.pop(ENV_FILE_VAR, None)
        os.environ[ENV_VAR] = self.secret

    def _restore_env(self) -> None:
        for k, v in (self._saved_env or {}).items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = None

    def _spawn(self) -> ManagedProcess:
        proc = _spawn_host(
            self.tracker_addr,
            self.key,
            self.backend,
            self.host,
            self.log_dir,
            self.secret,
            self.insecure,
            tuple(self.backend_args),
        )
        self.hosts.append(proc)
        return proc

    def live_hosts(self) -> list[ManagedProcess]:
        return [h for h in self.hosts if h.alive()]

    def summary(self) -> dict:
        """The tracker's summary (see :func:`query_summary`), with the farm's secret."""
        return query_summary(*self.tracker_addr, secret=self._ask)

    @property
    def _ask(self) -> str | None:
        """The secret to query the farm's tracker with (``""``: none, an insecure farm)."""
        return "" if self.insecure else self.secret

    def stop(self) -> None:
        """Kill every host, then the tracker (process groups, SIGKILL), and reap them."""
        for proc in self.hosts:
            proc.kill()
        if self.tracker is not None:
            self.tracker.kill()
        self._restore_env()

    def __enter__(self) -> LocalFarm:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def describe(self) -> str:
        return json.dumps(
            {
                "tracker": list(self.tracker_addr),
                "hosts": [h.port for h in self.hosts],
                "logs": self.log_dir,
            }
        )

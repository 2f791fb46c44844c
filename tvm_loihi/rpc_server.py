"""Measurement host: ``python -m tvm_loihi.rpc_server --tracker HOST:PORT --key loihi2``.

Options: ``--backend sim|fast|event|standin`` (``standin``: ``--standin-seed S``, ``--standin-cv``,
``--standin-cost``; see :mod:`tvm_loihi.measure.standin`), ``--host`` (default 127.0.0.1),
``--port``, ``--port-end``.

TVM's own ``tvm.exec.rpc_server`` cannot load Python functions, so this entry point starts
``tvm.rpc.Server`` with an init callback that (in the server's listen process, before it listens)
hardens TVM's session handling, registers :mod:`tvm_loihi.measure.remote`'s functions and warms
the backend up (:meth:`~tvm_loihi.measure.remote.MeasurementBackend.warm_up`); forked sessions
inherit them.

Hardening (TVM 0.27 behaviour seen on this machine, ``../shared/notes/tvm-0.27.md`` §5.4):

* A session process that dies (crash, SIGKILL, a measurement calling ``os._exit``) makes
  ``tvm.rpc.server._serving`` raise in the listen thread; the thread dies, the server silently
  leaves the tracker and its process lingers. :func:`harden_server` wraps ``_serving`` to log the
  crash, ``chdir`` back to the saved working directory (the per-session temp dir is gone) and close
  the socket, so the server re-registers and keeps serving.
* A server started long before its tracker gives up after 60 s of ``connect_with_retry``: the
  wrapped listen loop restarts instead of dying.
* The listen process dies with the launcher (``PR_SET_PDEATHSIG``): a host killed with SIGKILL
  leaves no orphan that still accepts sessions.
* TVM's listen loop reads a new connection's handshake (magic, key length, key) with no time-out
  and trusts the key length, so one client that connects and sends nothing stalls the host. The
  wrapped listen loop hands TVM a :class:`HandshakeListener`: it reads up to
  :data:`MAX_PENDING_HANDSHAKES` handshakes side by side, each within :data:`HANDSHAKE_TIMEOUT_S`,
  refuses a key longer than :data:`MAX_HANDSHAKE_KEY_BYTES` (before reading it) or one TVM would
  crash on, logs a warning naming the peer, and gives TVM either a complete handshake's connection
  (blocking again, the handshake replayed) or one TVM closes at once.

* Each session exposes only the measurement protocol (:func:`lock_down_session`): in the forked
  session process every global function but ``tvm_loihi.remote.*`` (and ``rpc.LocalSession``, which
  TVM needs to start the session) is removed, and TVM's file and module functions (upload, download,
  remove, listdir, load_module, ...) answer :data:`REFUSED`. With no ``device_api.cpu`` left, the
  RPC protocol's raw memory operations fail too.

* Sessions are authenticated (:mod:`tvm_loihi.measure.auth`): the secret comes from
  ``--secret-file``, ``$TVM_LOIHI_SECRET_FILE`` or ``$TVM_LOIHI_SECRET``; without one the host
  refuses to start (on any address, loopback or not) unless ``--insecure`` is given, which prints
  a warning on stderr (:func:`unauthenticated_warning`). The registration with the tracker runs the
  same handshake on every tracker connection (:func:`authenticate_registration`), so a
  ``tvm-loihi tracker`` with the farm's secret lists only hosts that hold it.

The server binds 127.0.0.1 unless ``--host`` says otherwise. On SIGTERM/SIGINT it kills its listen
process and exits.
"""

from __future__ import annotations

import argparse
import collections
import functools
import logging
import math
import os
import signal
import socket
import struct
import sys
import time

from tvm_loihi.measure.auth import (  # noqa: F401  (is_loopback, NO_SECRET: public here too)
    NO_SECRET,
    AuthenticationError,
    authenticate_tracker,
    is_loopback,
    resolve_secret,
)

logger = logging.getLogger("tvm_loihi.rpc_server")
READY_MARKER = "tvm_loihi.rpc_server ready"  # printed (with the port) once the server is listening


def harden_server() -> None:
    """Patch ``tvm.rpc.server`` in this process
    so crashed sessions and a late tracker do not kill it."""
    from tvm.rpc import server as srv

    if getattr(srv._serving, "_tvm_loihi_hardened", False):
        return
    original_serving, original_listen = srv._serving, srv._listen_loop

    def _serving(sock, addr, opts, load_library):
        cwd = os.getcwd()
        try:
            original_serving(sock, addr, opts, load_library)
        except RuntimeError as exc:  # "Child process ... exited unsuccessfully": session crashed
            srv.logger.warning("session from %s ended abnormally (%s); still serving", addr, exc)
            os.chdir(cwd)
            try:
                sock.close()
            except OSError:
                pass

    if not listen_loop_supported(original_listen):
        logger.warning(
            "tvm.rpc.server._listen_loop is not the TVM 0.27 loop this host was written for: "
            "the %g s handshake time-out may not apply (a silent client could stall the host)",
            HANDSHAKE_TIMEOUT_S,
        )

    def _listen_loop(sock, *args):
        if not isinstance(sock, HandshakeListener):
            sock = HandshakeListener(sock)
        while True:
            try:
                return original_listen(sock, *args)
            except AuthenticationError as exc:  # wrong secret: say so, retry slowly
                srv.logger.error("cannot register with the tracker: %s; retrying in 5 s", exc)
                time.sleep(REGISTER_RETRY_S)
            except Exception as exc:  # tracker unreachable for 60 s, tracker protocol error, ...
                logger.warning(  # ours: shown under --silent too
                    "listen loop failed (%s: %s); restarting in 1 s", type(exc).__name__, exc
                )
                time.sleep(1.0)

    original_serve_loop = srv._serve_loop

    def _serve_loop(sock, load_library, work_path):
        # The forked session process: build TVM's environment, then take away everything but ours.
        srv._server_env(load_library, work_path)
        server_loop = srv._ffi_api.ServerLoop
        for listener in _LISTENERS:
            listener.close_pending_in_child()
        lock_down_session()
        from tvm_loihi.measure import remote

        enforce_auth_deadline(remote.session_gate())
        server_loop(sock.fileno())

    _serve_loop._tvm_loihi_original = original_serve_loop
    _listen_loop._tvm_loihi_original = original_listen
    _serving._tvm_loihi_hardened = True
    srv._serving, srv._listen_loop, srv._serve_loop = _serving, _listen_loop, _serve_loop


AUTH_DEADLINE_S = 10.0
"""A session must authenticate (``tvm_loihi.remote.challenge`` / ``auth``) within this many seconds
of being served, or its process ends: a client that opens a session and never authenticates
cannot hold the host (TVM serves one session at a time). Our tuner authenticates right after
connecting; with ``--insecure`` there is nothing to wait for."""


def enforce_auth_deadline(gate, seconds: float = AUTH_DEADLINE_S) -> None:
    """In a forked session process: end the process (exit code 0, so the listen loop goes on)
    unless ``gate`` has authenticated within ``seconds``."""
    import threading

    if gate is None or gate.authenticated:
        return

    def watch() -> None:
        time.sleep(seconds)
        if not gate.authenticated:
            logger.warning("a session did not authenticate within %g s; closed", seconds)
            logging.shutdown()
            os._exit(0)

    threading.Thread(target=watch, name="auth-deadline", daemon=True).start()


HANDSHAKE_TIMEOUT_S = 5.0
"""A new connection to the host's port must deliver TVM's whole handshake (magic, key length,
key) within this many seconds, or it is closed. A real client sends it at once, right after
connecting; the time-out applies to the handshake only (the session then runs with no socket
time-out, so a long measurement is not cut)."""
MAX_HANDSHAKE_KEY_BYTES = 4096
"""Longest handshake key accepted (TVM's client sends ``client:<match key> -timeout=<s>``, tens of
bytes); a longer declared length is refused before anything is read or allocated."""
MAX_PENDING_HANDSHAKES = 64
"""Connections in their handshake at once; when another arrives, the oldest is closed."""
ACCEPT_ERROR_PAUSE_S = 0.5  # after a failed accept() (EMFILE, ...): pause, so the loop never spins


class _Replay(socket.socket):
    """An accepted connection whose handshake the host has read already: ``recv`` serves those
    bytes again before the socket's own, so TVM's listen loop reads the handshake as it was sent.
    Blocking (no time-out). The session process is forked (multiprocessing's ``fork`` on Linux),
    which shares the descriptor; nothing pickles this object."""

    def __init__(self, conn: socket.socket, prefix: bytes):
        conn.settimeout(None)  # blocking again, before the descriptor changes hands
        super().__init__(conn.family, conn.type, conn.proto, fileno=conn.detach())
        self.settimeout(None)
        self._prefix = prefix

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self._prefix and not flags:
            chunk, self._prefix = self._prefix[:bufsize], self._prefix[bufsize:]
            return chunk
        return super().recv(bufsize, flags)


class _Turned:
    """What :meth:`HandshakeListener.accept` gives TVM for a connection it refused: TVM reads 4
    bytes that are not ``RPC_MAGIC`` and closes it (TVM's own path for a non-RPC client: no
    exception, so the host's tracker registration is untouched)."""

    def __init__(self, conn: socket.socket | None):
        self._conn = conn

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return bytes(4)[:bufsize]

    def sendall(self, data: bytes) -> None:  # never reached (TVM closes at the magic); harmless
        pass

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class HandshakeRefused(Exception):
    """A connection to the host's port whose handshake was not TVM's, or not complete in time."""


def check_handshake(buf: bytes) -> int:
    """How many bytes the TVM client handshake starting ``buf`` has in all, as far as ``buf`` tells
    (``len(buf)`` or less once it is complete; more while it is not).

    Raises
    ------
    HandshakeRefused
        Not TVM's magic; a key length outside ``[1, MAX_HANDSHAKE_KEY_BYTES]``; a key that is not
        UTF-8, is blank or has a ``-timeout=`` option that is not a finite positive number (TVM's
        loop would crash on these).
    """
    from tvm.rpc import base

    if len(buf) < 4:
        return 4
    (magic,) = struct.unpack("<i", buf[:4])
    if magic != base.RPC_MAGIC:
        raise HandshakeRefused(f"not a TVM RPC client (magic {magic & 0xFFFFFFFF:#010x})")
    if len(buf) < 8:
        return 8
    (keylen,) = struct.unpack("<i", buf[4:8])
    if not 1 <= keylen <= MAX_HANDSHAKE_KEY_BYTES:
        raise HandshakeRefused(
            f"handshake key length {keylen} outside [1, {MAX_HANDSHAKE_KEY_BYTES}]"
        )
    total = 8 + keylen
    if len(buf) < total:
        return total
    try:
        words = bytes(buf[8:total]).decode("utf-8").split()
    except UnicodeDecodeError:
        raise HandshakeRefused("handshake key is not UTF-8") from None
    if not words:
        raise HandshakeRefused("blank handshake key")
    for word in words[1:]:
        if word.startswith("-timeout="):
            try:
                value = float(word[len("-timeout=") :])
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise HandshakeRefused(f"bad session time-out option {word[:40]!r}")
    return total


def read_handshake(conn: socket.socket, timeout_s: float = HANDSHAKE_TIMEOUT_S) -> bytes:
    """Read TVM's client handshake from one connection, all of it within ``timeout_s``
    (:func:`check_handshake` says what is refused).

    Parameters
    ----------
    conn : socket.socket
        The accepted connection (its time-out is changed).
    timeout_s : float
        Deadline for the whole handshake (not per ``recv``: a client trickling a byte at a time
        is cut off too).

    Returns
    -------
    bytes
        The handshake as sent: ``RPC_MAGIC``, the key length (int32, little-endian) and the key.

    Raises
    ------
    HandshakeRefused
        What :func:`check_handshake` refuses; the peer closed; or the deadline passed.
    """
    deadline = time.monotonic() + timeout_s
    buf = bytearray()
    while len(buf) < (need := check_handshake(buf)):
        left = deadline - time.monotonic()
        if left <= 0:
            raise HandshakeRefused(
                f"handshake not complete within {timeout_s:g} s ({len(buf)} bytes received)"
            )
        conn.settimeout(left)
        try:
            chunk = conn.recv(need - len(buf))
        except TimeoutError:
            continue  # the loop reports the deadline
        except OSError as exc:
            raise HandshakeRefused(f"connection failed during the handshake ({exc})") from None
        if not chunk:
            raise HandshakeRefused(f"closed during the handshake ({len(buf)} bytes received)")
        buf.extend(chunk)
    return bytes(buf[:need])


_LISTENERS: list[HandshakeListener] = []  # this process's (one per listen loop)


class HandshakeListener:
    """The host's listen socket as TVM's listen loop sees it (:func:`harden_server`).

    Up to :data:`MAX_PENDING_HANDSHAKES` connections are in their handshake at once, each read
    without blocking as its bytes arrive (:func:`check_handshake`) and closed, with a warning
    naming the peer, when it breaks the protocol or has not finished within
    :data:`HANDSHAKE_TIMEOUT_S` (silence, a trickle, an absurd key length, garbage); when more
    arrive, the oldest is closed. A silent client therefore delays nobody: the next client's
    handshake completes beside it. Complete handshakes wait in arrival order (what arrived while
    TVM served a session is read before any deadline is enforced, so it is not closed as late);
    :meth:`accept` returns the first one's connection, blocking again, with the handshake replayed
    to TVM; when none is complete yet (or
    ``accept`` failed: ``EMFILE``, ...) it returns a connection TVM closes at once, on its
    non-RPC path, so TVM goes back to its ``select`` (and its pings to the tracker), and the
    host's tracker connection is kept (an ``OSError`` out of ``accept`` would make TVM drop and
    re-open it). ``fileno`` is an epoll descriptor that is readable when the listen socket or a
    connection in its handshake is.

    Relies on TVM 0.27's ``tvm.rpc.server._listen_loop`` (its nested ``_accept_conn``): it
    ``select``\\ s on the listen socket (``fileno``), calls ``accept()``, reads the magic with
    ``base.recvall`` and closes a connection whose magic is not ``RPC_MAGIC``.
    :func:`listen_loop_supported` checks that shape at start.
    """

    def __init__(
        self,
        sock: socket.socket,
        timeout_s: float = HANDSHAKE_TIMEOUT_S,
        max_pending: int = MAX_PENDING_HANDSHAKES,
    ):
        import select

        self._sock, self.timeout_s, self.max_pending = sock, timeout_s, max_pending
        sock.setblocking(False)  # accept only when ready; a vanished connection does not block
        self._poll = select.epoll()
        self._poll.register(sock.fileno(), select.EPOLLIN)
        self._pending: dict[int, tuple[socket.socket, object, float, bytearray]] = {}
        self._ready: collections.deque = collections.deque()  # complete, waiting for TVM
        # A byte in this pipe while ``_ready`` is not empty: TVM's select on fileno() wakes up.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._poll.register(self._wake_r, select.EPOLLIN)
        _LISTENERS.append(self)

    def fileno(self) -> int:
        # TVM's loop selects on this at least every 2 s (its tracker ping): the moment to close
        # the handshakes that ran out of time even if no other connection comes.
        self._reap(time.monotonic())
        return self._poll.fileno()

    def __getattr__(self, name: str):
        return getattr(self._sock, name)

    def accept(self):
        if not self._ready:
            now = time.monotonic()
            self._reap(now)
            first = min((p[2] for p in self._pending.values()), default=now + 1.0)
            try:
                events = self._poll.poll(min(max(first - now, 0.0), 1.0))
            except InterruptedError:
                events = []
            for fd, _ in events:
                if fd == self._sock.fileno():
                    self._accept_new()
                elif fd == self._wake_r:
                    pass
                elif fd in self._pending:
                    self._feed(fd)
        if not self._ready:
            return _Turned(None), ("", 0)
        done = self._ready.popleft()
        if not self._ready:
            os.read(self._wake_r, 1)  # nothing left to hand over: the wake-up is no longer set
        return done

    def close(self) -> None:
        """Close the listen socket, every connection still in its handshake or waiting for TVM,
        the epoll set and the wake-up pipe (without this, ``close`` would reach only the listen
        socket through ``__getattr__`` and leave the accepted connections open)."""
        for conn, *_ in self._pending.values():
            conn.close()
        for conn, _ in self._ready:
            conn.close()
        self._pending.clear()
        self._ready.clear()
        self._poll.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._sock.close()
        if self in _LISTENERS:
            _LISTENERS.remove(self)

    def __enter__(self) -> HandshakeListener:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close_pending_in_child(self) -> None:
        """In a forked session process: close this process's copies of the connections still in
        their handshake or waiting for TVM (so the listen process's close ends them; the epoll set
        and the wake-up pipe are shared with the listen process and left alone)."""
        for conn, *_ in self._pending.values():
            conn.close()
        for conn, _ in self._ready:
            conn.close()

    def _accept_new(self) -> None:
        for _ in range(self.max_pending):  # drain the (short) backlog, a bounded number per round
            try:
                conn, addr = self._sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # EMFILE, ECONNABORTED, ...: end this round, pause, go on
                logger.warning("accept on the host's port failed (%s); pausing", exc)
                time.sleep(ACCEPT_ERROR_PAUSE_S)
                return
            self._start(conn, addr)

    def _start(self, conn: socket.socket, addr) -> None:
        import select

        if len(self._pending) + len(self._ready) >= self.max_pending:
            if not self._pending:  # every slot holds a complete handshake waiting for TVM
                logger.warning(
                    "closed a connection from %s: %d connections wait for the host",
                    _peer(addr),
                    len(self._ready),
                )
                conn.close()
                return
            oldest = min(self._pending, key=lambda fd: self._pending[fd][2])
            self._drop(oldest, f"{self.max_pending} handshakes in progress, this the oldest")
        conn.setblocking(False)
        self._pending[conn.fileno()] = (conn, addr, time.monotonic() + self.timeout_s, bytearray())
        self._poll.register(conn.fileno(), select.EPOLLIN)

    def _feed(self, fd: int) -> bool:
        """Read what has arrived on a connection in its handshake; True if it is still pending."""
        conn, addr, _, buf = self._pending[fd]
        try:
            while len(buf) < (need := check_handshake(buf)):
                chunk = conn.recv(need - len(buf))
                if not chunk:
                    raise HandshakeRefused(
                        f"closed during the handshake ({len(buf)} bytes received)"
                    )
                buf.extend(chunk)
        except BlockingIOError:
            return True  # the rest has not arrived yet
        except HandshakeRefused as exc:
            self._drop(fd, str(exc))
            return False
        except OSError as exc:
            self._drop(fd, f"connection failed during the handshake ({exc})")
            return False
        self._forget(fd)
        if not self._ready:
            os.write(self._wake_w, b"1")  # TVM's select on fileno() wakes up and accepts
        self._ready.append((_Replay(conn, bytes(buf[:need])), addr))
        return False

    def _reap(self, now: float) -> None:
        for fd, (_, _, deadline, buf) in list(self._pending.items()):
            # Read first: a handshake that arrived while TVM was serving a session is complete,
            # not late.
            if deadline <= now and self._feed(fd):
                self._drop(
                    fd,
                    f"handshake not complete within {self.timeout_s:g} s "
                    f"({len(buf)} bytes received)",
                )

    def _forget(self, fd: int):
        self._poll.unregister(fd)
        return self._pending.pop(fd)

    def _drop(self, fd: int, reason: str) -> None:
        conn, addr, *_ = self._forget(fd)
        logger.warning("closed a connection from %s: %s", _peer(addr), reason)
        conn.close()


def _peer(addr) -> str:
    try:
        return f"{addr[0]}:{addr[1]}"
    except (TypeError, IndexError):
        return repr(addr)


def listen_loop_supported(listen_loop) -> bool:
    """Whether ``listen_loop`` (``tvm.rpc.server._listen_loop``) has the shape
    :class:`HandshakeListener` relies on: a nested ``_accept_conn`` that calls ``accept``,
    reads with ``recvall`` and checks ``RPC_MAGIC``."""
    code = getattr(listen_loop, "__code__", None)
    nested = [
        c for c in getattr(code, "co_consts", ()) if getattr(c, "co_name", "") == "_accept_conn"
    ]
    return bool(nested) and {"accept", "recvall", "RPC_MAGIC", "close", "select"} <= set(
        nested[0].co_names
    )


REGISTER_RETRY_S = 5.0  # pause before registering again after the tracker refused our secret
TRACKER_HANDSHAKE_S = 10.0  # the handshake on a tracker connection must finish within this


def authenticate_registration(secret: bytes | None) -> None:
    """Make this process's tracker connections (TVM's listen loop registering the host) run the
    handshake of :func:`~tvm_loihi.measure.auth.authenticate_tracker` before TVM's protocol.

    Without a secret nothing changes (TVM's protocol as is: a stock or ``--insecure`` tracker).
    A refusal raises :class:`~tvm_loihi.measure.auth.AuthenticationError` out of the listen loop,
    which :func:`harden_server`'s loop logs and retries after :data:`REGISTER_RETRY_S`.
    """
    from tvm.rpc import base

    if secret is None or getattr(base.connect_with_retry, "_tvm_loihi_auth", False):
        return
    original = base.connect_with_retry

    def connect_with_retry(addr, *args, **kwargs):
        sock = original(addr, *args, **kwargs)
        sock.settimeout(TRACKER_HANDSHAKE_S)
        try:
            authenticate_tracker(sock, secret, f"{addr[0]}:{addr[1]}")
        except (AuthenticationError, ValueError) as exc:
            sock.close()
            raise AuthenticationError(str(exc)) from None
        except OSError:
            sock.close()
            raise
        sock.settimeout(None)
        return sock

    connect_with_retry._tvm_loihi_auth = True
    base.connect_with_retry = connect_with_retry


REFUSED = "refused: a tvm_loihi host serves only measurement"
# TVM's server environment (C++ and tvm.rpc.server): files, modules, libraries. Each is replaced by
# a function that raises REFUSED, so a client is told why; every other global is removed.
REFUSED_GLOBALS = (
    "tvm.rpc.server.upload",
    "tvm.rpc.server.download",
    "tvm.rpc.server.remove",
    "tvm.rpc.server.listdir",
    "tvm.rpc.server.load_module",
    "tvm.rpc.server.download_linked_module",
    "tvm.rpc.server.workpath",
    "tvm.rpc.server.ImportModule",
    "runtime.ModuleLoadFromFile",
    "ffi.ModuleLoadFromFile",
    "runtime.module.loadfile_so",
)
ALLOWED_PREFIX = "tvm_loihi.remote."
# What TVM's session machinery itself looks up after the lock-down (the server side of rpc.connect).
KEPT_GLOBALS = ("rpc.LocalSession",)


def _refuse(*args):
    raise RuntimeError(REFUSED)


def lock_down_session() -> int:
    """Leave only ``tvm_loihi.remote.*`` in this process's global function registry.

    Called in each forked session process after TVM built its server environment and before the
    session serves its first request: every other global (TVM's ~2,000, among them file upload,
    download, remove, listdir and module/library loading) is removed, and the names in
    :data:`REFUSED_GLOBALS` are re-registered as functions that raise :data:`REFUSED`.

    Returns
    -------
    int
        How many globals were removed.
    """
    import tvm_ffi

    remove = tvm_ffi.get_global_func("ffi.FunctionRemoveGlobal")  # held: it removes itself too
    names = [
        n
        for n in tvm_ffi.registry.list_global_func_names()
        if not n.startswith(ALLOWED_PREFIX) and n not in KEPT_GLOBALS
    ]
    for name in names:
        remove(name)
    for name in REFUSED_GLOBALS:
        tvm_ffi.register_global_func(name, _refuse, override=True)
    return len(names)


def _die_with_parent() -> None:
    # Linux: the listen process gets SIGKILL when the launcher dies, so a host killed with SIGKILL
    # does not leave an orphan that still accepts sessions.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def server_init(backend, secret: bytes | None = None) -> None:
    """The ``server_init_callback``: runs in TVM's listen process before it accepts sessions."""
    _die_with_parent()
    harden_server()
    authenticate_registration(secret)
    from tvm_loihi.measure import remote

    state = remote.register(backend, secret)
    try:  # sessions fork from this process: load the simulator once here, not in every session
        state.backend.warm_up()
    except Exception as exc:  # a host that cannot warm up still serves (sessions load it later)
        logger.warning(
            "warm-up failed (%s: %s); sessions load the simulator themselves",
            type(exc).__name__,
            exc,
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tvm_loihi.rpc_server", description=__doc__.split("\n")[0]
    )
    p.add_argument("--tracker", default=None, help="HOST:PORT of the RPC tracker to register with")
    p.add_argument("--key", default="loihi2", help="device key to register under (default loihi2)")
    p.add_argument(
        "--backend",
        default="sim",
        choices=("sim", "fast", "event", "standin"),
        help="what to measure with: sim = simulator, both fidelities (default); "
        "fast or event = only that fidelity; standin = the silicon stand-in "
        "(hidden constants, noise, a cost per measurement)",
    )
    p.add_argument(
        "--standin-seed",
        type=int,
        default=None,
        help="seed of the stand-in's hidden constants (required with --backend standin)",
    )
    p.add_argument(
        "--standin-cv",
        type=float,
        default=0.02,
        help="stand-in run-to-run noise, coefficient of variation (default 0.02)",
    )
    p.add_argument(
        "--standin-cost",
        type=float,
        default=0.5,
        help="stand-in wall-clock seconds per measurement (default 0.5)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9091, help="first port to try (default 9091)")
    p.add_argument(
        "--port-end", type=int, default=None, help="end of the port range (default port+100)"
    )
    p.add_argument("--custom-addr", default=None, help="address to report to the tracker")
    p.add_argument("--silent", action="store_true", help="only log warnings")
    p.add_argument(
        "--secret-file",
        default=None,
        help="file holding the farm's shared secret (else $TVM_LOIHI_SECRET_FILE, "
        "$TVM_LOIHI_SECRET)",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        help="serve without a secret: anyone who reaches this host can measure on it",
    )
    return p.parse_args(argv)


def _tracker_addr(text: str | None) -> tuple[str, int] | None:
    if not text:
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"--tracker must be HOST:PORT, got {text!r}")
    return host, int(port)


def unauthenticated_warning(host: str) -> str:
    """The line printed when a host serves without a secret (``--insecure``)."""
    reach = "this machine" if is_loopback(host) else "the network"
    return (
        f"WARNING: tvm_loihi.rpc_server runs --insecure on {host!r}: sessions are not "
        f"authenticated, so anyone on {reach} who reaches this host or its tracker can measure "
        "on it, hold it busy or register a rogue host under its key. Configure a secret "
        "(--secret-file or $TVM_LOIHI_SECRET) instead."
    )


def make_host_backend(args: argparse.Namespace):
    """The backend ``--backend`` names (a name, or a configured stand-in); SystemExit with one line
    for bad stand-in options."""
    standin_flags = (
        args.standin_seed is not None or args.standin_cv != 0.02 or args.standin_cost != 0.5
    )
    if args.backend != "standin":
        if standin_flags:
            raise SystemExit(f"--standin-* options need --backend standin, not {args.backend!r}")
        return args.backend
    if args.standin_seed is None:
        raise SystemExit("--backend standin needs --standin-seed S (the hidden constants' seed)")
    from tvm_loihi.measure.standin import StandinBackend

    try:
        return StandinBackend(seed=args.standin_seed, cv=args.standin_cv, cost_s=args.standin_cost)
    except ValueError as exc:
        raise SystemExit(f"--backend standin: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    """Start the host and block until it is killed (or its listen process dies)."""
    args = parse_args(argv)
    backend = make_host_backend(args)
    secret = resolve_secret(args.secret_file, args.insecure, args.host, "tvm_loihi.rpc_server")
    if secret is None:
        print(unauthenticated_warning(args.host), file=sys.stderr, flush=True)
    from tvm import rpc

    server = rpc.Server(
        args.host,
        args.port,
        args.port_end or args.port + 100,
        key=args.key,
        tracker_addr=_tracker_addr(args.tracker),
        custom_addr=args.custom_addr,
        silent=args.silent,
        server_init_callback=functools.partial(server_init, backend, secret),
    )

    def _stop(signum, frame):
        server.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(
        f"{READY_MARKER} key={args.key} backend={args.backend} addr={args.host}:{server.port} "
        f"auth={'none' if secret is None else 'hmac-sha256'} pid={os.getpid()}",
        flush=True,
    )
    while server.proc is not None and server.proc.is_alive():
        time.sleep(0.5)
    print("tvm_loihi.rpc_server: listen process exited", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())

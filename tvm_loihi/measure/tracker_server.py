"""The farm's tracker: TVM's RPC tracker with an HMAC handshake on every connection (issue #11.2).

``tvm-loihi tracker`` (and :func:`tvm_loihi.measure.tracker.start_tracker`, which runs
``python -m tvm_loihi.measure.tracker_server``) serves TVM's tracker protocol and scheduler
unchanged (``tvm.rpc.tracker.TrackerServerHandler``), but a connection is handed to TVM's handler
only after it passed the handshake of :mod:`tvm_loihi.measure.auth` (:func:`authenticate_tracker`
on the client side; the tracker proves itself too). Before that, nothing of TVM's protocol is
reachable: a client without the secret can neither read the summary (host addresses and keys) nor
register an entry nor request (reserve) a host.

* A connection that starts with TVM's own magic is told :data:`~tvm_loihi.measure.auth.
  TRACKER_AUTH_MAGIC` and closed (our clients without a secret report that as a refusal; TVM's
  stock client says "not an RPC tracker").
* A connection that has not authenticated within :data:`AUTH_TIMEOUT_S` is closed, and at most
  :data:`MAX_UNAUTHENTICATED` connections may be in the handshake at once (more are closed at
  accept): a flood of silent connections cannot exhaust the tracker's descriptors.
* Accept errors other than "nothing to accept" (e.g. ``EMFILE``) are logged and end the accept
  round instead of spinning (TVM's own loop retries them forever).

Without a secret (``--insecure``) the tracker speaks TVM's plain protocol to anyone (stock TVM
clients included) and answers our handshake with ``"scheme": "none"``, which a client holding a
secret refuses.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import signal
import socket
import struct
import sys

from .auth import MAX_FRAME_BYTES, TRACKER_AUTH_MAGIC, TRACKER_CONTEXT, SessionGate

logger = logging.getLogger("tvm_loihi.tracker")

AUTH_TIMEOUT_S = 5.0  # a connection must finish the handshake within this, or is closed
MAX_UNAUTHENTICATED = 64  # connections in the handshake at once; more are closed at accept


def _handler_classes():
    """(connection handler, tracker handler) classes; built on first use (TVM imports tornado)."""
    from tvm.rpc import tracker as tvm_tracker
    from tvm.rpc.base import RPC_TRACKER_MAGIC

    class AuthenticatedConnection(tvm_tracker.TCPEventHandler):
        """TVM's tracker connection, fed only after the handshake."""

        def __init__(self, tracker, sock, addr) -> None:
            super().__init__(tracker, sock, addr)
            where = f"{tracker.where}"
            self._gate = SessionGate(tracker.secret, lambda: where, context=TRACKER_CONTEXT)
            self._pre = bytearray()
            self._stage = "magic"  # -> "answer" -> "open"
            self._ioloop.call_later(AUTH_TIMEOUT_S, self._deadline)

        @property
        def authenticated(self) -> bool:
            return self._stage == "open"

        def _deadline(self) -> None:
            if self._sock is not None and not self.authenticated:
                logger.warning(
                    "%s: no authentication within %g s; closed", self.name(), AUTH_TIMEOUT_S
                )
                self.close()

        def _frame(self, text: str) -> None:
            data = text.encode()
            self.write_message(struct.pack("<i", len(data)) + data, binary=True)

        def _refuse(self, why: str, reply: bytes | None = None) -> None:
            logger.warning("%s: %s; closed", self.name(), why)
            if reply is not None and self._sock is not None:
                self._signal_close = True
                self.write_message(reply, binary=True)  # closes once written
            else:
                self.close()

        def _open(self, rest: bytes) -> None:
            self._stage = "open"
            self._tracker.unauthenticated.discard(self)
            self._feed(rest)

        def _feed(self, data: bytes) -> None:
            """Hand bytes to TVM's handler, its magic as exactly 4 bytes (TVM needs that)."""
            if self._init_req_nbytes:
                self._pre += data
                if len(self._pre) < 4:
                    return
                head, data = bytes(self._pre[:4]), bytes(self._pre[4:])
                self._pre = bytearray()
                super().on_message(head)
            if data and self._sock is not None:
                super().on_message(data)

        def on_message(self, message) -> None:
            if self.authenticated:
                self._feed(message)
                return
            self._pre += message
            if self._stage == "magic":
                if len(self._pre) < 4:
                    return
                (magic,) = struct.unpack("<i", self._pre[:4])
                del self._pre[:4]
                if magic == RPC_TRACKER_MAGIC and self._gate.secret is None:
                    rest, self._pre = bytes(self._pre), bytearray()
                    self._open(struct.pack("<i", magic) + rest)
                    return
                if magic == RPC_TRACKER_MAGIC:
                    self._refuse(
                        "TVM protocol without authentication", struct.pack("<i", TRACKER_AUTH_MAGIC)
                    )
                    return
                if magic != TRACKER_AUTH_MAGIC:
                    self._refuse(f"unknown magic {magic:#x}")
                    return
                self._stage = "answer"
                self._frame(self._gate.challenge())
            if self._stage == "answer":
                if len(self._pre) < 4:
                    return
                (n,) = struct.unpack("<i", self._pre[:4])
                if not 0 < n <= MAX_FRAME_BYTES:
                    self._refuse(f"handshake frame of {n} bytes")
                    return
                if len(self._pre) < 4 + n:
                    return
                text, rest = bytes(self._pre[4 : 4 + n]), bytes(self._pre[4 + n :])
                self._pre = bytearray()
                try:
                    reply = self._gate.auth(text.decode())
                except Exception as exc:  # refused, malformed, undecodable
                    data = json.dumps({"ok": False, "message": str(exc)[:200]}).encode()
                    self._refuse(
                        f"authentication failed ({str(exc)[:100]})",
                        struct.pack("<i", len(data)) + data,
                    )
                    return
                self._frame(reply)
                self._open(rest)

        def close(self) -> None:
            if self._sock is not None:
                self._tracker.unauthenticated.discard(self)
            super().close()

    class AuthenticatedTracker(tvm_tracker.TrackerServerHandler):
        """TVM's tracker, accepting connections as :class:`AuthenticatedConnection` s."""

        def __init__(self, sock, stop_key, secret: bytes | None, where: str) -> None:
            self.secret, self.where = secret, where
            self.unauthenticated: set = set()
            super().__init__(sock, stop_key)

        def _on_event(self, _) -> None:
            while True:
                try:
                    conn, addr = self._sock.accept()
                except OSError as err:
                    if err.args and err.args[0] not in (errno.EAGAIN, errno.EWOULDBLOCK):
                        logger.warning("accept failed: %s", err)
                    return
                self.unauthenticated = {c for c in self.unauthenticated if not c.authenticated}
                if len(self.unauthenticated) >= MAX_UNAUTHENTICATED:
                    logger.warning(
                        "%d connections in the handshake; closing %s",
                        len(self.unauthenticated),
                        addr,
                    )
                    conn.close()
                    continue
                self.unauthenticated.add(AuthenticatedConnection(self, conn, addr))

    return AuthenticatedConnection, AuthenticatedTracker


def bind(host: str, port: int, port_end: int) -> socket.socket:
    """A listening socket on the first free port in ``[port, port_end)``.

    Raises
    ------
    OSError
        No port in the range is free (or ``host`` cannot be bound).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    last: OSError | None = None
    for p in range(port, max(port_end, port + 1)):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, p))
        except OSError as exc:
            sock.close()
            last = exc
            if exc.errno == errno.EADDRINUSE:
                continue
            raise
        sock.listen(128)
        return sock
    raise OSError(f"no free port in [{port}, {port_end}) on {host}: {last}")


def serve(sock: socket.socket, secret: bytes | None, on_ready=None) -> None:
    """Run the tracker on the listening ``sock`` in this thread until SIGTERM/SIGINT.

    Parameters
    ----------
    sock : socket.socket
        From :func:`bind`.
    secret : bytes or None
        The farm's secret; None serves TVM's protocol to anyone (``--insecure``).
    on_ready : callable, optional
        Called with ``(host, port)`` once the tracker accepts connections.
    """
    import asyncio

    from tvm.rpc.base import random_key

    asyncio.set_event_loop(asyncio.new_event_loop())
    host, port = sock.getsockname()[:2]
    _, tracker_cls = _handler_classes()
    handler = tracker_cls(sock, random_key("tracker"), secret, f"{host}:{port}")

    def _stop(signum, frame):
        handler._ioloop.add_callback_from_signal(handler.stop)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if on_ready is not None:
        on_ready(host, port)
    handler.run()


def main(argv: list[str] | None = None) -> int:
    """``python -m tvm_loihi.measure.tracker_server --host H --port P [--port-end E]
    [--secret-file F | --insecure]``: the tracker :class:`~tvm_loihi.measure.tracker.LocalFarm`
    starts (``tvm-loihi tracker`` is the same with the CLI's options)."""
    from ..constants import TRACKER_READY_MARKER
    from .auth import resolve_secret

    p = argparse.ArgumentParser(prog="python -m tvm_loihi.measure.tracker_server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9190)
    p.add_argument("--port-end", type=int, default=None)
    p.add_argument("--secret-file", default=None)
    p.add_argument("--insecure", action="store_true")
    args = p.parse_args(argv)
    secret = resolve_secret(args.secret_file, args.insecure, args.host, "tvm_loihi tracker")
    if secret is None:
        print(insecure_warning(args.host), file=sys.stderr, flush=True)
    sock = bind(args.host, args.port, args.port_end or args.port + 10)
    auth = "none" if secret is None else "hmac-sha256"
    serve(
        sock,
        secret,
        lambda h, port: print(f"{TRACKER_READY_MARKER} at {h}:{port} auth={auth}", flush=True),
    )
    return 0


def insecure_warning(host: str) -> str:
    """The line printed when a tracker runs without a secret (``--insecure``)."""
    return (
        f"WARNING: tvm-loihi tracker runs --insecure on {host!r}: it does not authenticate its "
        "clients, so anyone who reaches it can read its hosts, register entries under any key "
        "and reserve every host; the farm's hosts do not authenticate their clients either."
    )


if __name__ == "__main__":
    sys.exit(main())

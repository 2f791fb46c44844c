"""Shared-secret authentication between tuners, the tracker and measurement hosts (issue #11.2).

Every party of a farm holds the same secret: read from a file (``--secret-file PATH``, or
``$TVM_LOIHI_SECRET_FILE``) or from ``$TVM_LOIHI_SECRET``; never from the command line, where
``ps`` shows it to every user of the machine.

Sessions (client <-> host), over the ``tvm_loihi.remote.*`` functions:

1. ``challenge()`` -> ``{"scheme": "hmac-sha256", "nonce": hn, "host": ...}`` (``scheme`` is
   ``"none"`` on a host started with ``--insecure``). ``hn`` is 32 random bytes, new per call.
2. ``auth({"client_nonce": cn, "mac": HMAC(secret, "client" | hn | cn | context)})`` -> ``{"ok":
   true, "mac": HMAC(secret, "host" | hn | cn | context)}``. The host compares with
   :func:`hmac.compare_digest`, and every other function of the session refuses until this
   succeeded. A nonce answers one ``auth`` call, right or wrong.
3. The client checks the host's ``mac``: a host (say, a rogue one registered under the key)
   that does not hold the secret cannot answer, and the client does not use it. The two labels
   keep one side's answer from being replayed as the other's.

Tracker connections (tuner or host <-> ``tvm-loihi tracker``,
:mod:`tvm_loihi.measure.tracker_server`) run the same handshake before TVM's tracker protocol
starts, bound to another context
(:data:`TRACKER_CONTEXT`), as length-prefixed JSON frames (:func:`authenticate_tracker`):

1. client -> tracker: the 4-byte :data:`TRACKER_AUTH_MAGIC` (instead of TVM's tracker magic);
2. tracker -> client: the challenge (as above); client -> tracker: the answer;
3. tracker -> client: ``{"ok": true, "mac": ...}`` (the tracker's proof), or ``{"ok": false,
   "message"}`` and the connection is closed. Then TVM's protocol (magic, JSON messages) follows.

A client without a secret sends TVM's magic at once; an authenticating tracker answers it with
:data:`TRACKER_AUTH_MAGIC` and closes, which that client reports as a refusal. So without the secret
nobody can read the tracker's summary, register a host or reserve one.

Nothing is encrypted: the secret never crosses the link, but measurements, mappings and workloads
do in clear text, and whoever can write to an open TCP connection can inject into it (see
docs/measurement.md, threat model).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import socket
import struct

ENV_VAR = "TVM_LOIHI_SECRET"
ENV_FILE_VAR = "TVM_LOIHI_SECRET_FILE"
DOCKER_SECRET_FILE = "/run/secrets/tvm_loihi"  # where the images look for a mounted secret
SCHEME = "hmac-sha256"
MIN_SECRET_BYTES = 16
NONCE_BYTES = 32
CONTEXT = b"tvm_loihi.remote/v1"  # what a session MAC is bound to
TRACKER_CONTEXT = b"tvm_loihi.tracker/v1"  # what a tracker connection's MAC is bound to
TRACKER_AUTH_MAGIC = 0x4C544131  # "LTA1": first 4 bytes of an authenticating tracker connection
MAX_FRAME_BYTES = 4096  # a handshake frame (JSON) is at most this long
HINT = "set TVM_LOIHI_SECRET or --secret-file"
NOT_AUTHENTICATED = (
    "refused: this tvm_loihi host requires authentication "
    "(call tvm_loihi.remote.challenge and tvm_loihi.remote.auth first)"
)


class AuthenticationError(RuntimeError):
    """A peer refused our credentials, or could not prove it holds the secret."""


class SecretError(ValueError):
    """A configured secret cannot be used (unreadable file, too short)."""


def _check(secret: bytes, source: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretError(
            f"the secret from {source} is {len(secret)} bytes; use at least "
            f"{MIN_SECRET_BYTES} (e.g. python -c 'import secrets; "
            "print(secrets.token_hex(32))' > secret && chmod 600 secret)"
        )
    return secret


def read_secret_file(path: str) -> bytes:
    """The secret in ``path`` (surrounding whitespace stripped).

    Raises
    ------
    SecretError
        The file cannot be read or holds fewer than :data:`MIN_SECRET_BYTES` bytes.
    """
    try:
        with open(path, "rb") as f:
            data = f.read().strip()
    except OSError as exc:
        raise SecretError(f"cannot read the secret file {path!r}: {exc.strerror or exc}") from None
    return _check(data, f"file {path!r}")


def load_secret(
    secret: bytes | str | None = None, secret_file: str | None = None, environ: dict | None = None
) -> bytes | None:
    """The secret to authenticate with, or None when none is configured.

    Parameters
    ----------
    secret : bytes or str, optional
        Given directly (from Python); wins over everything else.
    secret_file : str, optional
        A file holding it (``--secret-file``); else ``$TVM_LOIHI_SECRET_FILE``.
    environ : dict, optional
        Where to look for the variables (default ``os.environ``); ``$TVM_LOIHI_SECRET`` is the
        last resort.

    Raises
    ------
    SecretError
        The configured secret is unreadable or shorter than :data:`MIN_SECRET_BYTES`.
    """
    env = os.environ if environ is None else environ
    if secret is not None:
        return _check(secret.encode() if isinstance(secret, str) else bytes(secret), "secret=")
    path = secret_file or env.get(ENV_FILE_VAR)
    if path:
        return read_secret_file(path)
    value = env.get(ENV_VAR)
    if value:
        return _check(value.strip().encode(), f"${ENV_VAR}")
    return None


def new_nonce() -> str:
    """:data:`NONCE_BYTES` random bytes, hex."""
    return secrets.token_hex(NONCE_BYTES)


def mac(
    secret: bytes, role: bytes, host_nonce: str, client_nonce: str, context: bytes = CONTEXT
) -> str:
    """``HMAC-SHA256(secret, role | host_nonce | client_nonce | context)``, hex."""
    msg = b"|".join((role, host_nonce.encode(), client_nonce.encode(), context))
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def refused_message(host: str, peer: str = "host") -> str:
    """The one line a client shows when a host (or the tracker: ``peer="tracker"``) refuses its
    credentials."""
    return f"{peer} {host} refused authentication: wrong or missing secret ({HINT})"


# -- the client side ---------------------------------------------------------------------------
def client_handshake(
    challenge_fn,
    auth_fn,
    secret: bytes | None,
    where: str,
    context: bytes = CONTEXT,
    peer: str = "host",
) -> dict:
    """The client's half of the handshake over any transport; return the peer's challenge.

    Parameters
    ----------
    challenge_fn : callable
        ``() -> str``: the peer's challenge (JSON text).
    auth_fn : callable
        ``(str) -> str``: send the answer, return the peer's reply (JSON text); raises an
        exception whose text contains ``refused`` when the peer refuses.
    secret : bytes or None
        None: only a peer running ``--insecure`` is accepted.
    where : str
        The peer's address, for messages.
    context : bytes
        What the MACs are bound to (:data:`CONTEXT` for sessions, :data:`TRACKER_CONTEXT`).
    peer : str
        ``"host"`` or ``"tracker"``, for messages.

    Raises
    ------
    AuthenticationError
        The peer refused the secret (or requires one we do not have), or did not prove it holds
        it, or speaks no tvm_loihi authentication.
    OSError
        The transport failed: no answer in time, connection closed or reset (a busy tracker
        closes connections at accept, which a caller retries).
    """
    try:
        challenge = json.loads(challenge_fn())
        if not isinstance(challenge, dict):
            raise ValueError(f"challenge is a {type(challenge).__name__}")
    except OSError:  # time-out, connection closed or reset: transport, not credentials
        raise
    except Exception as exc:
        raise AuthenticationError(
            f"{peer} {where} offers no tvm_loihi authentication "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    host = str(challenge.get("host") or where)
    if challenge.get("scheme") == "none":
        if secret is not None:
            raise AuthenticationError(
                f"{peer} {host} runs without authentication (--insecure) and cannot prove it "
                "holds the secret; refusing to trust it"
            )
        return challenge
    if secret is None:
        raise AuthenticationError(refused_message(host, peer))
    hn, cn = str(challenge.get("nonce")), new_nonce()
    request = json.dumps({"client_nonce": cn, "mac": mac(secret, b"client", hn, cn, context)})
    try:
        reply = json.loads(auth_fn(request))
    except OSError:
        raise
    except Exception as exc:
        if "refused" in str(exc):
            raise AuthenticationError(refused_message(host, peer)) from None
        raise
    answer = str(reply.get("mac", "")) if isinstance(reply, dict) else ""
    if not hmac.compare_digest(answer.encode(), mac(secret, b"host", hn, cn, context).encode()):
        raise AuthenticationError(
            f"{peer} {host} accepted us but could not prove it holds the "
            "secret; refusing to trust it"
        )
    return challenge


def authenticate_session(get_function, secret: bytes | None, where: str) -> dict:
    """Run the handshake over an open RPC session; return the host's challenge.

    Parameters
    ----------
    get_function : callable
        ``sess.get_function`` of the session.
    secret : bytes or None
        None: only a host started with ``--insecure`` is accepted.
    where : str
        The host's address, for messages.

    Raises
    ------
    AuthenticationError
        The host refused the secret (or requires one we do not have), or did not prove it holds
        the secret.
    """
    return client_handshake(
        lambda: get_function("tvm_loihi.remote.challenge")(),
        lambda text: get_function("tvm_loihi.remote.auth")(text),
        secret,
        where,
    )


def send_frame(sock: socket.socket, text: str) -> None:
    """One handshake frame: a little-endian int32 length, then UTF-8 text."""
    data = text.encode()
    sock.sendall(struct.pack("<i", len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("the peer closed the connection")
        buf += chunk
    return bytes(buf)


def recv_frame(sock: socket.socket) -> str:
    """The next handshake frame's text (at most :data:`MAX_FRAME_BYTES`)."""
    (n,) = struct.unpack("<i", _recv_exact(sock, 4))
    if not 0 < n <= MAX_FRAME_BYTES:
        raise ValueError(f"handshake frame of {n} bytes (at most {MAX_FRAME_BYTES})")
    return _recv_exact(sock, n).decode()


def authenticate_tracker(sock: socket.socket, secret: bytes | None, where: str) -> None:
    """Open a fresh connection to a ``tvm-loihi tracker`` for TVM's tracker protocol.

    With a secret, run the handshake (module docstring); without one, do nothing (the caller
    sends TVM's magic and sees :data:`TRACKER_AUTH_MAGIC` back from a tracker that requires
    authentication: :func:`check_tracker_magic`). Bounded by the socket's time-out.

    Raises
    ------
    AuthenticationError
        The tracker refused the secret, runs ``--insecure`` or could not prove it holds the
        secret.
    OSError
        No answer within the socket's time-out, or the connection was closed before a challenge
        (a tracker with too many connections in the handshake, or a stock TVM tracker, which
        closes it at our magic).
    """
    if secret is None:
        return

    def challenge() -> str:
        sock.sendall(struct.pack("<i", TRACKER_AUTH_MAGIC))
        try:
            return recv_frame(sock)
        except ConnectionError:
            raise ConnectionError(
                f"tracker {where} closed the connection at authentication (too many connections "
                "at once, or a stock TVM tracker: start the farm's with `tvm-loihi tracker`)"
            ) from None

    def answer(text: str) -> str:
        send_frame(sock, text)
        reply = recv_frame(sock)
        d = json.loads(reply)
        if not (isinstance(d, dict) and d.get("ok") is True):
            raise RuntimeError(str(d.get("message", "refused")) if isinstance(d, dict) else reply)
        return reply

    client_handshake(challenge, answer, secret, where, TRACKER_CONTEXT, "tracker")


def check_tracker_magic(magic: int, expected: int, where: str) -> None:
    """Raise the right error when a tracker answered ``magic`` instead of TVM's ``expected``.

    Raises
    ------
    AuthenticationError
        It answered :data:`TRACKER_AUTH_MAGIC`: it requires a secret we do not have.
    OSError
        Anything else: it is not an RPC tracker.
    """
    if magic == expected:
        return
    if magic == TRACKER_AUTH_MAGIC:
        raise AuthenticationError(refused_message(where, "tracker"))
    raise OSError(f"{where} is not an RPC tracker")


# -- sessions: the host side -----------------------------------------------------------------
class SessionGate:
    """What a host session (or a tracker connection) knows about its client: the nonce it handed
    out, whether it is in.

    Each session is a forked process, so each gets a fresh copy of the listen process's gate; the
    tracker keeps one gate per connection (``context=TRACKER_CONTEXT``).
    """

    def __init__(self, secret: bytes | None, host_id, context: bytes = CONTEXT) -> None:
        self.secret = secret
        self._host_id = host_id  # a callable: the address is only known inside a session
        self.context = context
        self.authenticated = secret is None
        self._nonce: str | None = None

    def challenge(self) -> str:
        if self.secret is None:
            return json.dumps({"scheme": "none", "host": self._host_id()})
        self._nonce = new_nonce()
        return json.dumps({"scheme": SCHEME, "nonce": self._nonce, "host": self._host_id()})

    def auth(self, text: str) -> str:
        if self.secret is None:
            return json.dumps({"ok": True, "mac": ""})
        nonce, self._nonce = self._nonce, None  # one answer per nonce
        try:
            req = json.loads(str(text))
            cn, answer = str(req["client_nonce"]), str(req["mac"])
        except (ValueError, KeyError, TypeError):
            raise RuntimeError("refused: malformed authentication request") from None
        if (
            nonce is None
            or not (0 < len(cn) <= 256)
            or not hmac.compare_digest(
                answer.encode(), mac(self.secret, b"client", nonce, cn, self.context).encode()
            )
        ):
            self.authenticated = False
            raise RuntimeError("refused: authentication failed (wrong secret, or no challenge)")
        self.authenticated = True
        return json.dumps({"ok": True, "mac": mac(self.secret, b"host", nonce, cn, self.context)})

    def guard(self, fn):
        """``fn``, refusing with :data:`NOT_AUTHENTICATED` until the session authenticated."""

        def guarded(*args):
            if not self.authenticated:
                raise RuntimeError(NOT_AUTHENTICATED)
            return fn(*args)

        return guarded


# -- servers: which secret to start with -------------------------------------------------------
def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) binds only this machine's loopback."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


NO_SECRET = (
    "tvm_loihi.rpc_server: no secret configured; refusing to serve unauthenticated "
    "sessions. Put a secret in a file (python -c 'import secrets; "
    "print(secrets.token_hex(32))' > secret && chmod 600 secret) and pass --secret-file "
    "secret (or set $TVM_LOIHI_SECRET), or pass --insecure to serve anyone who reaches "
    "this host."
)


def resolve_secret(secret_file: str | None, insecure: bool, host: str, what: str) -> bytes | None:
    """The secret a server starts with, or None when ``insecure``; SystemExit with one line when it
    has none and is not ``insecure`` (or the configured one is unusable).

    ``--insecure`` with a secret configured is an error too: say which one is meant.
    """
    try:
        secret = load_secret(secret_file=secret_file)
    except SecretError as exc:
        raise SystemExit(f"{what}: {exc}") from None
    if insecure:
        if secret is not None:
            raise SystemExit(
                f"{what}: --insecure given but a secret is configured "
                "(--secret-file / $TVM_LOIHI_SECRET[_FILE]); drop one of them"
            )
        return None
    if secret is None:
        raise SystemExit(
            NO_SECRET.replace("tvm_loihi.rpc_server", what)
            + (
                ""
                if is_loopback(host)
                else f" Binding {host!r} (not loopback) without a secret is refused."
            )
        )
    return secret

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

The tracker is TVM's, unauthenticated: it hands out host addresses and accepts registrations, but
a client it sends to a host still has to authenticate there, and a host registered without the
secret cannot answer the client's challenge (docs/measurement.md, threat model).

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

ENV_VAR = "TVM_LOIHI_SECRET"
ENV_FILE_VAR = "TVM_LOIHI_SECRET_FILE"
DOCKER_SECRET_FILE = "/run/secrets/tvm_loihi"  # where the images look for a mounted secret
SCHEME = "hmac-sha256"
MIN_SECRET_BYTES = 16
NONCE_BYTES = 32
CONTEXT = b"tvm_loihi.remote/v1"  # what a session MAC is bound to
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


def refused_message(host: str) -> str:
    """The one line a client shows when a host refuses its credentials."""
    return f"host {host} refused authentication: wrong or missing secret ({HINT})"


# -- sessions: the client side ---------------------------------------------------------------
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
    try:
        challenge = json.loads(get_function("tvm_loihi.remote.challenge")())
    except Exception as exc:
        raise AuthenticationError(
            f"host {where} offers no tvm_loihi authentication "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    host = str(challenge.get("host") or where)
    if challenge.get("scheme") == "none":
        if secret is not None:
            raise AuthenticationError(
                f"host {host} runs without authentication (--insecure) and cannot prove it holds "
                "the secret; refusing to trust its results"
            )
        return challenge
    if secret is None:
        raise AuthenticationError(refused_message(host))
    hn, cn = str(challenge["nonce"]), new_nonce()
    request = json.dumps({"client_nonce": cn, "mac": mac(secret, b"client", hn, cn)})
    try:
        reply = json.loads(get_function("tvm_loihi.remote.auth")(request))
    except Exception as exc:
        if "refused" in str(exc):
            raise AuthenticationError(refused_message(host)) from None
        raise
    if not hmac.compare_digest(str(reply.get("mac", "")), mac(secret, b"host", hn, cn)):
        raise AuthenticationError(
            f"host {host} accepted us but could not prove it holds the "
            "secret; refusing to trust its results"
        )
    return challenge


# -- sessions: the host side -----------------------------------------------------------------
class SessionGate:
    """What a host session knows about its client: the nonce it handed out, whether it is in.

    Each session is a forked process, so each gets a fresh copy of the listen process's gate.
    """

    def __init__(self, secret: bytes | None, host_id) -> None:
        self.secret = secret
        self._host_id = host_id  # a callable: the address is only known inside a session
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
            or not hmac.compare_digest(answer, mac(self.secret, b"client", nonce, cn))
        ):
            self.authenticated = False
            raise RuntimeError("refused: authentication failed (wrong secret, or no challenge)")
        self.authenticated = True
        return json.dumps({"ok": True, "mac": mac(self.secret, b"host", nonce, cn)})

    def guard(self, fn):
        """``fn``, refusing with :data:`NOT_AUTHENTICATED` until the session authenticated."""

        def guarded(*args):
            if not self.authenticated:
                raise RuntimeError(NOT_AUTHENTICATED)
            return fn(*args)

        return guarded

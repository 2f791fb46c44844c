"""The steps of a measurement on an RPC host and the one config they share (issue #12).

:class:`RPCConfig` groups every limit, time-out and grace time of
:class:`~tvm_loihi.measure.rpc_runner.RPCRunner`; each step takes it as an argument:

1. :func:`create_session` -- ask the tracker for a free host (:func:`request_session`: over our
   own socket with a time-out, authenticated), connect, authenticate, take the host's functions
   (:class:`_Session`);
2. :func:`upload_workload` -- send a workload once per session;
3. :func:`run_measure` / :func:`run_batch` -- one candidate, or several in one call, under a
   client deadline (a wedged host raises ``TimeoutError``); :func:`_split_batch_reply` splits a
   batch answer for the checks;
4. :func:`release_session` -- close the session, or abandon it when its host is wedged (closing
   would block on the dead link holding the GIL); the runner's workers call it in ``finally``.

Every wait is bounded (:func:`call_with_deadline`).
"""

from __future__ import annotations

import ctypes
import json
import logging
import threading
import time
from dataclasses import dataclass, fields

from .auth import AuthenticationError, authenticate_session, load_secret
from .checks import HARDWARE_TOLERANCE, MAX_STRIKES
from .payload import PROTOCOL_VERSION, MeasureRequest, batch_to_text
from .records import MeasureError, MeasureResult
from .tracker import connect_tracker, hosts_for_key, query_summary

logger = logging.getLogger("tvm_loihi.measure.rpc_runner")

# Defaults of RPCConfig's grace times (seconds; kept as names for scripts and tests). A client-side
# deadline is the host's own limit plus a grace for the answer to cross the link.
CALL_GRACE_S = 10.0  # on top of timeout_s: a measurement not answered by then means a wedged host
RENEW_MARGIN_S = 10.0  # on top of timeout_s: renew a session this long before TVM would end it
UPLOAD_GRACE_S = 60.0  # on top of request_timeout_s: time for one workload upload
WORKER_JOIN_S = 5.0  # close() waits this long for the workers to stop
RETRY_PAUSE_S = 0.5  # between session requests that failed
DEFAULT_BATCH = 4  # candidates per request at most (adaptive below that)
BATCH_TARGET_S = 0.1  # a batch should take about this long on the host
EWMA_ALPHA = 0.2  # weight of the newest observation in the timing estimates


@dataclass(frozen=True)
class RPCConfig:
    """Every limit, time-out and grace time of :class:`RPCRunner` (seconds unless said), in one
    value passed to each step.

    Attributes
    ----------
    timeout_s : float
        Per-measurement limit, enforced by the host (it answers ``TIMEOUT``).
    session_timeout_s : float
        Lifetime of a session (TVM's ``session_timeout``); sessions are renewed before it.
    request_timeout_s : float
        Waiting for a free host per session request; also the limit on opening a session, and
        how long no host at all may serve the key before the queue fails with ``HOST_LOST``.
    max_attempts : int
        Sessions a candidate may break (host died, connection lost, wedged) before it fails.
    idle_release_s : float
        A worker with nothing to do releases its session after this long (frees the host).
    give_up_after_s : float
        No session obtained and no measurement finished for this long while work waits: the
        runner fails its queue and raises :class:`FarmUnavailable` from then on.
    batch : int
        Most candidates per request (``measure_batch``); 1 sends each on its own.
    batch_target_s : float
        A batch is sized to take about this long on the host (by the EWMA time per measurement).
    hardware_tolerance : float
        Relative tolerance of results at a hardware fidelity (:mod:`~tvm_loihi.measure.checks`).
    max_strikes : int
        Rejected results after which a host is dropped from the run.
    call_grace_s : float
        On top of ``timeout_s`` (``2 x timeout_s`` for a batch): an answer not back by then means
        a wedged host; the session is abandoned and the candidate retried elsewhere.
    renew_margin_s : float
        On top of ``timeout_s``: renew a session this long before TVM would end it.
    upload_grace_s : float
        On top of ``request_timeout_s``: time for one workload upload.
    retry_pause_s : float
        Pause between failed session requests (and after giving a host back).
    auth_pause_s : float
        Pause after a host refused our secret (the queue is failed; retrying cannot help).
    check_auth_s : float
        The construction-time authentication check waits at most this for a free host.
    check_session_s : float
        Lifetime of that check's session.
    worker_join_s : float
        :meth:`RPCRunner.close` waits this long for the workers to stop.
    ewma_alpha : float
        Weight of the newest observation in the per-host timing estimates.
    """

    timeout_s: float = 60.0
    session_timeout_s: float = 600.0
    request_timeout_s: float = 60.0
    max_attempts: int = 3
    idle_release_s: float = 5.0
    give_up_after_s: float = 120.0
    batch: int = DEFAULT_BATCH
    batch_target_s: float = BATCH_TARGET_S
    hardware_tolerance: float = HARDWARE_TOLERANCE
    max_strikes: int = MAX_STRIKES
    call_grace_s: float = CALL_GRACE_S
    renew_margin_s: float = RENEW_MARGIN_S
    upload_grace_s: float = UPLOAD_GRACE_S
    retry_pause_s: float = RETRY_PAUSE_S
    auth_pause_s: float = 0.5
    check_auth_s: float = 5.0
    check_session_s: float = 60.0
    worker_join_s: float = WORKER_JOIN_S
    ewma_alpha: float = EWMA_ALPHA

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            cast = int if f.type in ("int", int) else float
            object.__setattr__(self, f.name, cast(value))
        if self.batch < 1 or not self.batch_target_s > 0:
            raise ValueError(
                f"RPCRunner: batch must be >= 1 and batch_target_s > 0, got {self.batch} "
                f"and {self.batch_target_s}"
            )

    @property
    def measure_deadline_s(self) -> float:
        """Client deadline of one measurement."""
        return self.timeout_s + self.call_grace_s

    @property
    def batch_deadline_s(self) -> float:
        """Client deadline of a batch: the host starts no item after ``timeout_s``, and the last
        one started may take ``timeout_s``."""
        return 2 * self.timeout_s + self.call_grace_s

    @property
    def upload_deadline_s(self) -> float:
        """Client deadline of one workload upload."""
        return self.request_timeout_s + self.upload_grace_s

    def expiring(self, age_s: float) -> bool:
        """Whether a session this old must be renewed before its next measurement."""
        return age_s + self.timeout_s + self.renew_margin_s >= self.session_timeout_s


class HostUnavailable(RuntimeError):
    """No session could be obtained (nobody serves the key, or all hosts stayed busy)."""


class NoHostForKey(HostUnavailable):
    """The tracker lists no host under the key at all."""


class TrackerUnreachable(HostUnavailable):
    """No RPC tracker answers at the given address."""


class FarmUnavailable(HostUnavailable):
    """The runner went ``give_up_after_s`` without a session (tracker lost, every host held by
    another client, or no host left): it measures nothing more and says why."""


def call_with_deadline(fn, timeout_s: float, *args):
    """Run ``fn(*args)`` in a daemon thread; raise TimeoutError if it has not returned after
    ``timeout_s``.

    The thread is abandoned on time-out (it ends when the blocked call does; TVM's session time-out
    bounds that on the host side), and whatever it returns is dropped, which releases a late RPC
    session.
    """
    box: dict = {}
    done = threading.Event()

    def _run():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=_run, daemon=True, name="tvm_loihi-rpc-call").start()
    if not done.wait(timeout_s):
        name = getattr(fn, "__name__", "call")
        raise TimeoutError(f"{name} did not return within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def request_session(
    tracker: tuple[str, int],
    key: str,
    session_timeout_s: float,
    timeout_s: float,
    priority: int = 1,
    secret: bytes | str | None = None,
):
    """Ask the tracker for a host under ``key``, connect to it and authenticate, giving up after
    ``timeout_s``.

    Unlike ``TrackerSession.request`` this never blocks forever: the request goes over a socket with
    a time-out, and closing that socket withdraws it at the tracker. ``secret`` (default:
    :func:`~tvm_loihi.measure.auth.load_secret`, i.e. ``$TVM_LOIHI_SECRET[_FILE]``) authenticates
    with the tracker and the session (:func:`~tvm_loihi.measure.auth.authenticate_session`).

    Raises
    ------
    AuthenticationError
        The host refused the secret, or could not prove it holds it.
    """
    secret = load_secret(secret)
    from tvm import rpc
    from tvm.rpc import base

    summary = query_summary(*tracker, timeout_s=min(timeout_s, 10.0), secret=secret or "")
    if not hosts_for_key(summary, key):
        raise NoHostForKey(f"no host serves key {key!r} at tracker {tracker[0]}:{tracker[1]}")
    try:
        with connect_tracker(*tracker, timeout_s=timeout_s, secret=secret or "") as sock:
            base.sendjson(sock, [base.TrackerCode.REQUEST, key, "", priority])
            value = base.recvjson(sock)
    except OSError as exc:  # socket.timeout included: every host stayed busy
        raise HostUnavailable(
            f"no free host under key {key!r} within {timeout_s:g} s ({exc})"
        ) from None
    if value[0] != base.TrackerCode.SUCCESS:
        raise HostUnavailable(f"tracker refused the request: {value!r}")
    url, port, matchkey = value[1]
    sess = call_with_deadline(rpc.connect, timeout_s, url, port, matchkey, session_timeout_s)
    refused = call_with_deadline(
        _authenticate, timeout_s, sess.get_function, secret, f"{url}:{port}"
    )
    if refused:
        sess = None  # release the host now (a traceback holding the session would keep it busy)
        raise AuthenticationError(refused)
    return sess


def _authenticate(get_function, secret: bytes | None, where: str) -> str:
    # The refusal as text, so that no exception (and no traceback) keeps the session alive.
    try:
        authenticate_session(get_function, secret, where)
    except AuthenticationError as exc:
        return str(exc)
    return ""


class _Session:
    """One RPC session and the functions taken from it; :meth:`close` drops every reference."""

    def __init__(self, sess, started: float) -> None:
        self.sess = sess
        self.started = started
        self.funcs = {
            name: sess.get_function(f"tvm_loihi.remote.{name}")
            for name in ("version", "upload", "measure")
        }
        self.info = json.loads(self.funcs["version"]())
        self.host = str(self.info["host"])
        if self.info.get("protocol") != PROTOCOL_VERSION:
            raise HostUnavailable(
                f"host {self.host} speaks measurement protocol "
                f"v{self.info.get('protocol')}, this client v{PROTOCOL_VERSION}"
            )
        max_batch = self.info.get("max_batch", 1)  # absent: a host from before batching
        self.max_batch = max_batch if isinstance(max_batch, int) and max_batch > 1 else 1
        if self.max_batch > 1:
            self.funcs["measure_batch"] = sess.get_function("tvm_loihi.remote.measure_batch")
        self.uploaded: set[tuple[str, str]] = set()

    def close(self) -> None:
        """Drop every reference (TVM frees the remote handles and ends the session)."""
        self.funcs, self.sess = {}, None

    def abandon(self) -> None:
        """Drop the session *without* freeing it: to a wedged host (SIGSTOP, hung machine) TVM's
        destructors block on the dead link while holding the GIL, which would freeze every thread
        of the tuner. The handles are leaked on purpose (one socket per wedged session); the host
        ends the session itself after ``session_timeout_s``."""
        _ABANDONED.append((self.funcs, self.sess))
        for handle in (self.funcs, self.sess):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(handle))  # never freed, not even at exit
        self.funcs, self.sess = {}, None


# Sessions given up on (see _Session.abandon); kept so that a debugger can see them.
_ABANDONED: list = []


# -- the steps of one measurement (each takes the config; the worker loop chains them) ----------
def create_session(
    tracker: tuple[str, int], key: str, secret: bytes | None, config: RPCConfig
) -> _Session:
    """Step 1: a session on a free host under ``key`` (requested, connected, authenticated) and
    its functions, within ``request_timeout_s`` per stage.

    Raises
    ------
    AuthenticationError, HostUnavailable, NoHostForKey, TimeoutError, OSError, RuntimeError
        No usable session (see :func:`request_session`).
    """
    sess = request_session(
        tracker, key, config.session_timeout_s, config.request_timeout_s, secret=secret
    )
    return call_with_deadline(_Session, config.request_timeout_s, sess, time.monotonic())


def upload_workload(
    session: _Session, workload: tuple[str, str], blob: bytes, config: RPCConfig
) -> MeasureResult | None:
    """Step 2: upload ``workload`` (``(workload key, hardware key)``) unless the session holds
    it; the host's refusal as a failure result, else None.

    Raises
    ------
    TimeoutError
        No answer within ``upload_deadline_s`` (a wedged host).
    """
    if workload in session.uploaded:
        return None
    reply = json.loads(call_with_deadline(session.funcs["upload"], config.upload_deadline_s, blob))
    if not reply["ok"]:
        return MeasureResult.failure(MeasureError(reply["error"]), reply["message"], session.host)
    session.uploaded.add(workload)
    return None


def run_measure(session: _Session, request: MeasureRequest, config: RPCConfig) -> tuple[str, float]:
    """Step 3: one measurement -> ``(the host's answer, round-trip seconds)``, unchecked.

    Raises
    ------
    TimeoutError
        No answer within ``measure_deadline_s`` (a wedged host).
    """
    start = time.perf_counter()
    reply = call_with_deadline(
        session.funcs["measure"], config.measure_deadline_s, request.to_text()
    )
    return reply, time.perf_counter() - start


def run_batch(
    session: _Session, requests: list[MeasureRequest], config: RPCConfig
) -> tuple[str, float]:
    """Step 3 for several candidates in one ``measure_batch`` call -> ``(answer, round-trip
    seconds)``, unchecked (:func:`_split_batch_reply` splits it).

    Raises
    ------
    TimeoutError
        No answer within ``batch_deadline_s`` (a wedged host).
    """
    text = batch_to_text(requests, config.timeout_s)
    start = time.perf_counter()
    reply = call_with_deadline(session.funcs["measure_batch"], config.batch_deadline_s, text)
    return reply, time.perf_counter() - start


def release_session(session: _Session | None, wedged: bool = False) -> None:
    """Step 4 (cleanup, in every ``finally``): close the session, or abandon it when its host is
    wedged (closing would block on the dead link; see :meth:`_Session.abandon`)."""
    if session is None:
        return
    if wedged:
        session.abandon()
    else:
        session.close()


def _split_batch_reply(reply: str, n: int) -> tuple[list[str], float, str | None]:
    """A ``measure_batch`` answer to ``n`` items -> ``(result texts, host seconds, problem)``.

    The texts (one per item the host started, in order, at least one) go through the same
    :func:`~tvm_loihi.measure.checks.parse_result` and range checks as single answers. ``problem``
    starts with ``"refused"`` when the host refused the batch as such (its limits), otherwise it
    says how the answer is malformed (every item is then ``REJECTED``).
    """
    try:
        d = json.loads(reply)
    except (TypeError, ValueError) as exc:
        return [], 0.0, f"malformed batch answer ({type(exc).__name__}: {str(exc)[:200]})"
    if isinstance(d, dict) and d.get("ok") is False:
        return [], 0.0, f"refused the batch: {str(d.get('message'))[:300]}"
    results = d.get("results") if isinstance(d, dict) else None
    host_s = d.get("wall_s") if isinstance(d, dict) else None
    if not isinstance(results, list) or not 1 <= len(results) <= n:
        got = len(results) if isinstance(results, list) else type(results).__name__
        return [], 0.0, f"malformed batch answer: {got} results for {n} requests"
    if isinstance(host_s, bool) or not isinstance(host_s, int | float) or not host_s >= 0:
        return [], 0.0, f"malformed batch answer: wall_s = {host_s!r:.40}"
    return [json.dumps(r) for r in results], float(host_s), None

"""``RPCRunner``: measure candidates on the hosts registered with a TVM RPC tracker.

Pipeline per worker thread (one per host the tracker offers): *request* a session (with a time-out,
after checking that some host serves the key), *upload* each workload once per session, *measure*
many mappings (only the mapping JSON crosses the link), *release* the session when idle, near its
lifetime, or broken.

What TVM 0.27's RPC does under failure, and what this runner does about it
(``../shared/notes/tvm-0.27.md`` §5.4):

* ``TrackerSession.request`` blocks forever when every host is busy or nobody serves the key.
  Requests here go over our own socket with a time-out (closing it withdraws the request at the
  tracker), and the key is checked in the tracker summary first.
* ``session_timeout`` is the lifetime of the whole session, not a per-call limit: sessions are
  renewed before they expire, and each measurement carries its own ``timeout_s`` that the *host*
  enforces (SIGALRM) and answers as ``TIMEOUT``. A client-side deadline (``timeout_s + grace``)
  guards against a wedged host.
* A session object that is never released keeps its host busy: sessions live in one place and are
  dropped explicitly (:meth:`_Session.close`), also on error and on :meth:`RPCRunner.close`.
* A host dying mid-call raises ``kShutdown``/broken-pipe errors: the session is dropped and the
  candidate is retried on another session (up to ``max_attempts``), then reported as ``HOST_LOST``.
* A wedged host (SIGSTOP): the deadline fires and the session is abandoned, never freed (TVM's
  destructor would block on the dead link holding the GIL); the candidate is retried elsewhere.
* A lost tracker or every host held by someone else: after ``give_up_after_s`` without progress
  the runner fails its queue and raises :class:`FarmUnavailable` (one line: what, how to resume).
* Answers are checked (:mod:`tvm_loihi.measure.checks`): a failing one is ``REJECTED`` naming the
  host and retried elsewhere; ``max_strikes`` rejections drop the host from the run.

Batching: when a measurement is cheap next to a round trip (the fast fidelity: a few ms), a worker
sends up to ``batch`` queued candidates in one ``tvm_loihi.remote.measure_batch`` call. Each worker
keeps an EWMA of the host's time per measurement and of the per-call overhead (round trip less host
time) and sizes its next batch so that it takes about ``batch_target_s`` (1 for slow measurements).
The runner offers ``n_parallel = workers x batch`` candidates in flight, a constant of the
configuration (not of timing), so a seeded tune stays reproducible; every item gets its own result,
checked like a single one.
"""

from __future__ import annotations

import collections
import concurrent.futures
import ctypes
import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace

from .auth import AuthenticationError, authenticate_session, load_secret
from .checks import HARDWARE_TOLERANCE, MAX_STRIKES, check_result, parse_result, tolerance_for
from .payload import PROTOCOL_VERSION, MeasureRequest, UploadPayload, batch_to_text
from .records import MeasureError, MeasureInput, MeasureResult
from .runner import Runner
from .tracker import connect_tracker, free_hosts, hosts_for_key, query_summary

logger = logging.getLogger(__name__)

# Grace times (seconds). A client-side deadline is the host's own limit plus a grace for the answer
# to cross the link.
CALL_GRACE_S = 10.0  # on top of timeout_s: a measurement not answered by then means a wedged host
RENEW_MARGIN_S = 10.0  # on top of timeout_s: renew a session this long before TVM would end it
UPLOAD_GRACE_S = 60.0  # on top of request_timeout_s: time for one workload upload
WORKER_JOIN_S = 5.0  # close() waits this long for the workers to stop
RETRY_PAUSE_S = 0.5  # between session requests that failed
DEFAULT_BATCH = 4  # candidates per request at most (adaptive below that)
BATCH_TARGET_S = 0.1  # a batch should take about this long on the host
EWMA_ALPHA = 0.2  # weight of the newest observation in the timing estimates


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


def _lower_bound(network, hardware, activity) -> float:
    """The simulator's latency lower bound for the workload (0 if it cannot be computed)."""
    from ..sim import lower_bound

    try:
        return float(lower_bound(network, hardware, activity))
    except Exception as exc:  # a check that cannot run must not stop measurement
        logger.warning("no latency lower bound for %s (%s); range checks use 0", network.name, exc)
        return 0.0


@dataclass
class _Item:
    inp: MeasureInput
    future: concurrent.futures.Future
    attempts: int = 0
    hosts_tried: list[str] = field(default_factory=list)
    avoid: set[str] = field(default_factory=set)  # hosts that must not measure it


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


class RPCRunner(Runner):
    """Measure on the tracker's hosts: one worker (session) per host, ``batch`` candidates in
    flight per worker.

    Parameters
    ----------
    tracker_host, tracker_port : str, int
        The RPC tracker.
    key : str
        Device key the hosts registered under (``loihi2``).
    n_parallel : int, optional
        Candidates in flight (what the tuner keeps submitted); default ``workers x batch``, where
        workers = the hosts registered under ``key`` (busy or free, at least 1), so a seeded run is
        reproducible whatever sessions others hold. Worker threads (one session each) are the
        registered hosts, at most ``n_parallel``.
    batch : int
        Most candidates one request carries (``tvm_loihi.remote.measure_batch``); the size used is
        adaptive (see ``batch_target_s``). 1 sends every candidate on its own, with one candidate in
        flight per host (the behaviour before batching).
    batch_target_s : float
        A batch is sized to take about this long on the host (by an EWMA of the host's time per
        measurement): slow measurements go one per request, fast ones up to ``batch`` together.
    timeout_s : float
        Per-measurement limit, enforced by the host (answers ``TIMEOUT``).
    session_timeout_s : float
        Lifetime of a session (TVM's ``session_timeout``); sessions are renewed before it.
    request_timeout_s : float
        How long to wait for a free host before a candidate fails with ``HOST_LOST``.
    max_attempts : int
        Sessions a candidate may break (host died, connection lost) before it fails with
        ``HOST_LOST``.
    idle_release_s : float
        A worker with nothing to do releases its session after this long (frees the host for
        others).
    secret : bytes or str, optional
        The farm's shared secret (:mod:`tvm_loihi.measure.auth`); default ``$TVM_LOIHI_SECRET_FILE``
        or ``$TVM_LOIHI_SECRET``, and without any only hosts started with ``--insecure`` are used.
    secret_file : str, optional
        A file holding the secret (instead of ``secret``).
    check_auth : bool
        Open one session now (waiting at most 5 s for a free host) so that a wrong or missing
        secret fails here, with :class:`~tvm_loihi.measure.auth.AuthenticationError`, not
        candidate by candidate.

    Raises
    ------
    AuthenticationError
        ``check_auth`` found that a host refuses the secret (or cannot prove it holds it).
    give_up_after_s : float
        When no worker has obtained a session or finished a measurement for this long while some
        need one (the tracker is gone, or another client holds every host), the queue fails with
        ``HOST_LOST`` and every later :meth:`submit` raises :class:`FarmUnavailable` with one line
        saying what is wrong and how to resume (the tuning log keeps what was measured).
    hardware_tolerance : float
        Relative tolerance of results at a hardware (non-simulator) fidelity; see
        :mod:`tvm_loihi.measure.checks`.
    max_strikes : int
        Rejected results after which a host is dropped from the run (its sessions are held idle,
        so the tracker does not offer it again, and never measure).
    """

    def __init__(
        self,
        tracker_host: str,
        tracker_port: int,
        key: str = "loihi2",
        *,
        n_parallel: int | None = None,
        batch: int = DEFAULT_BATCH,
        batch_target_s: float = BATCH_TARGET_S,
        timeout_s: float = 60.0,
        session_timeout_s: float = 600.0,
        request_timeout_s: float = 60.0,
        max_attempts: int = 3,
        idle_release_s: float = 5.0,
        give_up_after_s: float = 120.0,
        hardware_tolerance: float = HARDWARE_TOLERANCE,
        max_strikes: int = MAX_STRIKES,
        secret: bytes | str | None = None,
        secret_file: str | None = None,
        check_auth: bool = True,
    ) -> None:
        self.tracker = (tracker_host, int(tracker_port))
        self.key = key
        self._secret = load_secret(secret, secret_file)
        try:
            summary = query_summary(*self.tracker, secret=self._secret or "")
        except OSError as exc:
            raise TrackerUnreachable(
                f"RPC tracker {tracker_host}:{tracker_port} is unreachable: {exc}"
            ) from None
        if not hosts_for_key(summary, key):
            raise NoHostForKey(
                f"tracker {tracker_host}:{tracker_port} has no host under key "
                f"{key!r} "
                f"(keys: {sorted(summary.get('queue_info', {}))})"
            )
        # Every registered host, busy or not: the count must not depend on whether an earlier
        # run's sessions are still being released, or a seeded run would not be reproducible.
        if int(batch) < 1 or not float(batch_target_s) > 0:
            raise ValueError(
                f"RPCRunner: batch must be >= 1 and batch_target_s > 0, got {batch} "
                f"and {batch_target_s}"
            )
        self.batch, self.batch_target_s = int(batch), float(batch_target_s)
        workers = max(1, len(hosts_for_key(summary, key)), free_hosts(summary, key))
        self.n_parallel = int(n_parallel or workers * self.batch)
        self.n_workers = min(workers, self.n_parallel)
        self.timeout_s, self.session_timeout_s = float(timeout_s), float(session_timeout_s)
        self.request_timeout_s, self.max_attempts = float(request_timeout_s), int(max_attempts)
        self.idle_release_s = float(idle_release_s)
        self.give_up_after_s = float(give_up_after_s)
        self._stalled_since: float | None = None  # first failed session request since progress
        self._fatal: str | None = None  # set once the runner gave up (see give_up_after_s)
        self.hardware_tolerance, self.max_strikes = float(hardware_tolerance), int(max_strikes)
        self._bounds: dict[tuple[str, str], float] = {}
        self._stats: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        # per host: EWMA of the host's seconds per measurement and of the per-call overhead, and the
        # totals (seconds on the host, seconds of round trips) behind the overhead figure
        self._ewma: dict[str, list[float]] = {}
        self._times: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self._dropped: set[str] = set()
        self._parked: list[_Session] = []  # sessions of dropped hosts, held so none is re-offered
        if check_auth:
            self._check_auth()
        self._uploads: dict[tuple[str, str], bytes] = {}
        self._queue: collections.deque[_Item] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._no_host_since: float | None = None
        self._workers = [
            threading.Thread(target=self._worker, daemon=True, name=f"tvm_loihi-rpc-{i}")
            for i in range(self.n_workers)
        ]
        for w in self._workers:
            w.start()

    def _check_auth(self) -> None:
        try:
            # Short: a host just released is free again within a second; all busy -> skip.
            sess = request_session(
                self.tracker, self.key, 60.0, min(self.request_timeout_s, 5.0), secret=self._secret
            )
        except AuthenticationError:
            raise
        except (HostUnavailable, TimeoutError, OSError, RuntimeError):
            return  # busy or slow: the workers will find out
        del sess

    # -- Runner API ------------------------------------------------------------------------------
    def register(self, network, hardware, activity) -> None:
        """Make a workload measurable; it is uploaded once to each session that measures it."""
        payload = UploadPayload(network, hardware, activity)
        self._uploads[(payload.workload_key, payload.hardware_key)] = payload.to_bytes()
        self._bounds[(payload.workload_key, payload.hardware_key)] = _lower_bound(
            network, hardware, activity
        )
        self._remember_activity(network, hardware, activity)

    def submit_elsewhere(
        self, inputs: list[MeasureInput], hosts: set[str]
    ) -> list[concurrent.futures.Future]:
        """Like :meth:`submit`, but no host in ``hosts`` measures them (to re-measure a result
        somewhere else); see :meth:`usable_hosts` for whether another host exists."""
        return self._enqueue(inputs, set(hosts))

    def usable_hosts(self) -> list[str]:
        """Hosts registered under the key and not dropped from this run."""
        try:
            listed = hosts_for_key(
                query_summary(*self.tracker, secret=self._secret or ""), self.key
            )
        except OSError:
            listed = list(self._stats)
        return [h for h in listed if h not in self._dropped]

    def host_stats(self) -> dict[str, dict]:
        """Per host: ``{"measured", "rejected", "dropped"}`` (results accepted / refused by the
        checks, and whether it was dropped from the run), and how they travelled: ``"calls"``
        (requests), ``"mean_batch"`` (candidates per request), ``"host_s"`` (the host's own time
        measuring), ``"rpc_s"`` (round trips, host time included) and ``"overhead_ms"`` (per
        candidate: round trips less host time)."""
        with self._cond:
            out = {}
            for host, c in sorted(self._stats.items()):
                t = self._times.get(host, collections.Counter())
                items = int(t["items"])
                out[host] = {
                    "measured": int(c["measured"]),
                    "rejected": int(c["rejected"]),
                    "dropped": host in self._dropped,
                    "calls": int(t["calls"]),
                    "mean_batch": items / t["calls"] if t["calls"] else 0.0,
                    "host_s": float(t["host_s"]),
                    "rpc_s": float(t["rpc_s"]),
                    "overhead_ms": ((t["rpc_s"] - t["host_s"]) / items * 1e3 if items else 0.0),
                }
            return out

    def _timed(self, host: str, items: int, host_s: float, rpc_s: float) -> None:
        """Record one call's figures and update the host's EWMAs."""
        with self._cond:
            t = self._times[host]
            t["calls"] += 1
            t["items"] += items
            t["host_s"] += host_s
            t["rpc_s"] += rpc_s
            per_item, overhead = host_s / max(items, 1), max(0.0, rpc_s - host_s)
            e = self._ewma.get(host)
            if e is None:
                self._ewma[host] = [per_item, overhead]
            else:
                e[0] += EWMA_ALPHA * (per_item - e[0])
                e[1] += EWMA_ALPHA * (overhead - e[1])

    def batch_size(self, host: str) -> int:
        """How many candidates the next request to ``host`` carries: about ``batch_target_s`` of
        work by the host's EWMA time per measurement, within ``[1, batch]`` (1 before any
        estimate)."""
        with self._cond:
            e = self._ewma.get(host)
        if self.batch <= 1 or e is None:
            return 1
        return max(1, min(self.batch, int(self.batch_target_s / max(e[0], 1e-6))))

    def report_bad(self, host: str, reason: str) -> None:
        """Count a strike against ``host`` found outside the runner (a re-measure disagreed)."""
        self._strike(host, reason)

    def _strike(self, host: str, reason: str) -> None:
        with self._cond:
            self._stats[host]["rejected"] += 1
            strikes = self._stats[host]["rejected"]
            dropped = strikes >= self.max_strikes and host not in self._dropped
            if dropped:
                self._dropped.add(host)
        logger.warning("result from host %s rejected (%s)", host, reason)
        if dropped:
            logger.error("host %s dropped from the run after %d rejected results", host, strikes)

    def submit(self, inputs: list[MeasureInput]) -> list[concurrent.futures.Future]:
        """Queue candidates; each future resolves to a :class:`MeasureResult` (errors are
        values)."""
        return self._enqueue(inputs, set())

    def _enqueue(self, inputs: list[MeasureInput], avoid: set[str]) -> list:
        futures = []
        with self._cond:
            if self._closed:
                raise RuntimeError("RPCRunner is closed")
            if self._fatal is not None:
                raise FarmUnavailable(self._fatal)
            for inp in inputs:
                fut: concurrent.futures.Future = concurrent.futures.Future()
                fut.set_running_or_notify_cancel()
                mismatch = self._activity_mismatch(inp)
                if mismatch is not None:
                    fut.set_result(mismatch)
                elif (inp.workload_key, inp.hardware_key) not in self._uploads:
                    fut.set_result(
                        MeasureResult.failure(
                            MeasureError.UNKNOWN_WORKLOAD,
                            f"workload {inp.workload_key} on hardware "
                            f"{inp.hardware_key} was not registered with this runner "
                            "(call register first)",
                        )
                    )
                else:
                    self._queue.append(_Item(inp, fut, avoid=set(avoid)))
                futures.append(fut)
            self._cond.notify_all()
        return futures

    def close(self) -> None:
        """Stop the workers, release every session, fail what is still queued."""
        with self._cond:
            self._closed = True
            pending, self._queue = list(self._queue), collections.deque()
            self._cond.notify_all()
        for item in pending:
            item.future.set_result(MeasureResult.failure(MeasureError.HOST_LOST, "runner closed"))
        with self._cond:
            parked, self._parked = self._parked, []
        for session in parked:
            session.close()
        # Workers finish what they measure and drop their sessions on their own (daemon threads); a
        # worker waiting at the tracker drops the session it may still get. Do not wait for those.
        deadline = time.monotonic() + WORKER_JOIN_S
        for w in self._workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- workers ---------------------------------------------------------------------------------
    def _wait_for_work(self, timeout_s: float | None) -> bool:
        """True when a candidate is queued; False when closed or after ``timeout_s`` with nothing to
        do."""
        with self._cond:
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            while not self._queue and not self._closed:
                remaining = 1.0 if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return bool(self._queue) and not self._closed

    def _pop(self, host: str, n: int = 1) -> list[_Item]:
        """The ``n`` oldest queued candidates ``host`` may measure (fewer if fewer are queued; none
        if every one avoids it). Never waits for more to arrive: a host is kept busy with what
        there is."""
        with self._cond:
            if self._closed:
                return []
            taken = []
            for item in self._queue:
                if host not in item.avoid:
                    taken.append(item)
                    if len(taken) >= n:
                        break
            for item in taken:
                self._queue.remove(item)
            return taken

    def _park(self, session: _Session) -> None:
        """Hold a dropped host's session unused, so the tracker does not offer that host again."""
        with self._cond:
            self._parked.append(session)

    def _requeue(self, item: _Item) -> None:
        with self._cond:
            self._queue.appendleft(item)
            self._cond.notify()

    def _requeue_unstarted(self, items: list[_Item]) -> None:
        """Put back, at the head and in order, candidates a host did not start (no attempt
        spent)."""
        with self._cond:
            for item in reversed(items):
                self._queue.appendleft(item)
            self._cond.notify_all()

    def _worker(self) -> None:
        session: _Session | None = None
        try:
            while not self._closed:
                if not self._wait_for_work(self.idle_release_s if session is not None else None):
                    if session is not None:  # idle: give the host back to the tracker
                        session.close()
                        session = None
                    continue
                if session is not None and self._expiring(session):
                    session.close()  # renew before TVM kills it mid-measurement
                    session = None
                if session is None:
                    session = self._acquire()
                    continue  # re-check the queue: another worker may have taken the work meanwhile
                if session.host in self._dropped:
                    self._park(session)
                    session = None
                    continue
                items = self._pop(
                    session.host, min(self.batch_size(session.host), session.max_batch)
                )
                if len(items) == 1:
                    session = self._measure_item(items[0], session)
                elif items:
                    session = self._measure_batch(items, session)
                else:  # what is queued must be measured elsewhere: give this host back
                    session.close()
                    session = None
                    time.sleep(RETRY_PAUSE_S)
        finally:
            if session is not None:
                session.close()

    def _expiring(self, session: _Session) -> bool:
        return (
            time.monotonic() - session.started + self.timeout_s + RENEW_MARGIN_S
            >= self.session_timeout_s
        )

    def _acquire(self) -> _Session | None:
        """A fresh session, or None (after failing the queue if no host has served the key for too
        long)."""
        try:
            sess = request_session(
                self.tracker,
                self.key,
                self.session_timeout_s,
                self.request_timeout_s,
                secret=self._secret,
            )
            session = call_with_deadline(_Session, self.request_timeout_s, sess, time.monotonic())
            self._no_host_since = None
            self._progress()
            return session
        except AuthenticationError as exc:  # retrying will not help: fail what is queued
            logger.error("%s", exc)
            self._fail_queue(str(exc))
            time.sleep(0.5)
            return None
        except (HostUnavailable, TimeoutError, OSError, RuntimeError) as exc:
            logger.warning("no session from tracker %s:%d: %s", *self.tracker, exc)
            now = time.monotonic()
            if not isinstance(exc, NoHostForKey):  # hosts exist but are busy: keep waiting
                self._no_host_since = None
            else:
                self._no_host_since = self._no_host_since or now
            since = self._no_host_since
            if since is not None and now - since >= self.request_timeout_s:
                self._fail_queue(
                    f"no host under key {self.key!r} for {now - since:.0f} s (last error: {exc})"
                )
            self._check_stall(exc)
            time.sleep(RETRY_PAUSE_S)
            return None

    def _progress(self) -> None:
        self._stalled_since = None

    def _check_stall(self, exc: BaseException) -> None:
        """Give up (see ``give_up_after_s``) once session requests have failed that long with no
        progress anywhere."""
        now = time.monotonic()
        with self._cond:
            self._stalled_since = self._stalled_since or now
            stalled = now - self._stalled_since
            if stalled < self.give_up_after_s or self._fatal is not None:
                return
            self._fatal = self._stall_message(exc, stalled)
        logger.error("%s", self._fatal)
        self._fail_queue(self._fatal)

    def _stall_message(self, exc: BaseException, stalled_s: float) -> str:
        where = f"{self.tracker[0]}:{self.tracker[1]}"
        if isinstance(exc, NoHostForKey):
            what = f"no host has served key {self.key!r} at tracker {where}"
            fix = f"start hosts (`tvm-loihi serve --tracker {where} --key {self.key}`)"
        elif isinstance(exc, HostUnavailable):
            what = (
                f"every host under key {self.key!r} at tracker {where} stayed busy "
                "(another client holds their sessions?)"
            )
            fix = "free the hosts or add some"
        else:
            what = f"the RPC tracker {where} is unreachable ({type(exc).__name__}: {exc})"
            fix = f"restart it (`tvm-loihi tracker --port {self.tracker[1]}`) and its hosts"
        return (
            f"{what} for {stalled_s:.0f} s; {fix}, then rerun with the same tuning log to "
            "resume (it keeps every measurement so far)"
        )

    def _fail_queue(self, reason: str) -> None:
        with self._cond:
            items, self._queue = list(self._queue), collections.deque()
        for item in items:
            item.future.set_result(
                MeasureResult.failure(
                    MeasureError.HOST_LOST, reason, f"{self.tracker[0]}:{self.tracker[1]}"
                )
            )

    def _measure_item(self, item: _Item, session: _Session) -> _Session | None:
        item.hosts_tried.append(session.host)
        try:
            result = self._measure_on(session, item.inp)
        except TimeoutError as exc:  # the host did not answer: wedged; never free over that link
            session.abandon()
            self._fail_or_retry(item, str(exc), error=MeasureError.TIMEOUT)
            return None
        except Exception as exc:  # kShutdown, broken pipe, reset: the host or its session died
            session.close()
            self._fail_or_retry(item, f"{type(exc).__name__}: {str(exc)[:300]}")
            return None
        self._progress()
        self._settle(item, result, session.host)
        return session

    def _upload(self, session: _Session, inp: MeasureInput) -> MeasureResult | None:
        """Upload ``inp``'s workload to the session unless it holds it; the host's refusal as a
        failure result, else None."""
        wk = (inp.workload_key, inp.hardware_key)
        if wk not in session.uploaded:
            reply = json.loads(
                call_with_deadline(
                    session.funcs["upload"],
                    self.request_timeout_s + UPLOAD_GRACE_S,
                    self._uploads[wk],
                )
            )
            if not reply["ok"]:
                return MeasureResult.failure(
                    MeasureError(reply["error"]), reply["message"], session.host
                )
            session.uploaded.add(wk)
        return None

    def _request(self, inp: MeasureInput) -> MeasureRequest:
        return MeasureRequest(
            inp.workload_key, inp.hardware_key, inp.mapping, inp.fidelity, self.timeout_s
        )

    def _measure_on(self, session: _Session, inp: MeasureInput) -> MeasureResult:
        refused = self._upload(session, inp)
        if refused is not None:
            return refused
        start = time.perf_counter()
        reply = call_with_deadline(
            session.funcs["measure"], self.timeout_s + CALL_GRACE_S, self._request(inp).to_text()
        )
        result = self._checked(session.host, inp, reply)
        self._timed(session.host, 1, result.wall_s, time.perf_counter() - start)
        return result

    def _measure_batch(self, items: list[_Item], session: _Session) -> _Session | None:
        """Measure ``items`` in one ``measure_batch`` call; each gets its own checked result, the
        ones the host did not start go back to the queue. Returns the session, or None when it
        broke (every item is then retried or failed, as for a single candidate)."""
        for item in items:
            item.hosts_tried.append(session.host)
        todo = []
        try:
            for item in items:
                refused = self._upload(session, item.inp)
                if refused is None:
                    todo.append(item)
                else:
                    item.future.set_result(refused)
            if not todo:
                return session
            text = batch_to_text([self._request(item.inp) for item in todo], self.timeout_s)
            start = time.perf_counter()
            # the host starts no item after timeout_s; the last one started may take timeout_s
            reply = call_with_deadline(
                session.funcs["measure_batch"], 2 * self.timeout_s + CALL_GRACE_S, text
            )
            rpc_s = time.perf_counter() - start
        except TimeoutError as exc:  # the host did not answer: wedged; never free over that link
            session.abandon()
            for item in items:
                if not item.future.done():
                    self._fail_or_retry(item, str(exc), error=MeasureError.TIMEOUT)
            return None
        except Exception as exc:  # kShutdown, broken pipe, reset: the host or its session died
            session.close()
            for item in items:
                if not item.future.done():
                    self._fail_or_retry(item, f"{type(exc).__name__}: {str(exc)[:300]}")
            return None
        self._progress()
        texts, host_s, problem = _split_batch_reply(reply, len(todo))
        if problem is not None:
            if problem.startswith("refused"):  # a host with lower limits: go one by one
                logger.warning(
                    "host %s %s; measuring one candidate per request", session.host, problem
                )
                session.max_batch = 1
                self._requeue_unstarted(todo)
                return session
            texts = [None] * len(todo)  # every item rejected below, naming the problem
        self._timed(session.host, len(texts), host_s, rpc_s)
        for item, text in zip(todo, texts):
            result = (
                self._checked(session.host, item.inp, text)
                if text is not None
                else MeasureResult.failure(
                    MeasureError.REJECTED,
                    f"result from host {session.host} rejected: {problem}",
                    session.host,
                )
            )
            self._settle(item, result, session.host)
        if len(texts) < len(todo):
            self._requeue_unstarted(todo[len(texts) :])
        return session

    def _settle(self, item: _Item, result: MeasureResult, host: str) -> None:
        """A checked result: a ``REJECTED`` one strikes the host and is retried elsewhere; any
        other is the candidate's."""
        if result.error is MeasureError.REJECTED:
            self._strike(host, result.message)
            item.avoid.add(host)
            self._fail_or_retry(item, result.message, error=MeasureError.REJECTED)
            return
        with self._cond:
            self._stats[host]["measured"] += 1
        item.future.set_result(result)

    def _checked(self, host: str, inp: MeasureInput, reply: str) -> MeasureResult:
        """The host's answer if it passes :mod:`~tvm_loihi.measure.checks`, recorded as measured by
        the session's host (whatever the answer claims); else a ``REJECTED`` result naming it."""
        result, problem = parse_result(reply)
        if result is not None:
            bound = self._bounds.get((inp.workload_key, inp.hardware_key), 0.0)
            problem = check_result(
                result, bound, tolerance_for(inp.fidelity, self.hardware_tolerance)
            )
        if problem is None:
            return replace(result, host=host)
        return MeasureResult.failure(
            MeasureError.REJECTED, f"result from host {host} rejected: {problem}", host
        )

    def _fail_or_retry(
        self, item: _Item, reason: str, error: MeasureError = MeasureError.HOST_LOST
    ) -> None:
        item.attempts += 1
        nowhere = bool(item.avoid) and not set(self.usable_hosts()) - item.avoid
        if item.attempts >= self.max_attempts or self._closed or nowhere:
            tracker = f"{self.tracker[0]}:{self.tracker[1]}"
            host = item.hosts_tried[-1] if item.hosts_tried else tracker
            tried = item.hosts_tried or "no host"
            item.future.set_result(
                MeasureResult.failure(
                    error, f"{reason} (after {item.attempts} attempt(s) on {tried})", host
                )
            )
            return
        logger.warning(
            "measurement of %s failed on %s (%s); retrying",
            item.inp.key(),
            item.hosts_tried[-1:] or "no host",
            reason,
        )
        self._requeue(item)


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

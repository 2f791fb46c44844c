"""``RPCRunner``: measure candidates on the hosts registered with a TVM RPC tracker.

Pipeline per worker thread (one per host the tracker offers), as named steps
(:mod:`tvm_loihi.measure.rpc_session`, re-exported here) that each take the one :class:`RPCConfig`
holding every limit and grace time: :func:`create_session` (request a host
with a time-out, after checking that some host serves the key; connect; authenticate),
:func:`upload_workload` (each workload once per session), :func:`run_measure` /
:func:`run_batch` (only the mapping JSON crosses the link), :func:`release_session` (when idle,
near the session's lifetime, broken or wedged, and in the worker's ``finally``). The runner's
submission and triage are :class:`~tvm_loihi.measure.runner.Runner`'s; this module implements how
a valid candidate is queued, measured, checked and retried.

What TVM 0.27's RPC does under failure, and what this runner does about it
(``../shared/notes/tvm-0.27.md`` §5.4):

* ``TrackerSession.request`` blocks forever when every host is busy or nobody serves the key.
  Requests here go over our own socket with a time-out (closing it withdraws the request at the
  tracker), and the key is checked in the tracker summary first.
* ``session_timeout`` is the lifetime of the whole session, not a per-call limit: sessions are
  renewed before they expire, and each measurement carries its own ``timeout_s`` that the *host*
  enforces (SIGALRM) and answers as ``TIMEOUT``. A client-side deadline
  (``RPCConfig.measure_deadline_s``) guards against a wedged host.
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
import logging
import threading
import time
from dataclasses import dataclass, field, fields, replace

from .auth import AuthenticationError, load_secret
from .checks import check_result, parse_result, tolerance_for
from .payload import MeasureRequest, UploadPayload
from .records import MeasureError, MeasureInput, MeasureResult
from .rpc_session import (  # noqa: F401  (the step module's public names are this module's too)
    BATCH_TARGET_S,
    CALL_GRACE_S,
    DEFAULT_BATCH,
    EWMA_ALPHA,
    RENEW_MARGIN_S,
    RETRY_PAUSE_S,
    UPLOAD_GRACE_S,
    WORKER_JOIN_S,
    FarmUnavailable,
    HostUnavailable,
    NoHostForKey,
    RPCConfig,
    TrackerUnreachable,
    _Session,
    _split_batch_reply,
    call_with_deadline,
    create_session,
    release_session,
    request_session,
    run_batch,
    run_measure,
    upload_workload,
)
from .runner import Runner
from .tracker import free_hosts, hosts_for_key, query_summary

logger = logging.getLogger(__name__)

_CONFIG_FIELDS = frozenset(f.name for f in fields(RPCConfig))


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


class RPCRunner(Runner):
    """Measure on the tracker's hosts: one worker (session) per host, ``batch`` candidates in
    flight per worker.

    Parameters
    ----------
    tracker_host, tracker_port : str, int
        The RPC tracker.
    key : str
        Device key the hosts registered under (``loihi2``).
    config : RPCConfig, optional
        Limits, time-outs and grace times (default :class:`RPCConfig()`).
    n_parallel : int, optional
        Candidates in flight (what the tuner keeps submitted); default ``workers x batch``, where
        workers = the hosts registered under ``key`` (busy or free, at least 1), so a seeded run is
        reproducible whatever sessions others hold. Worker threads (one session each) are the
        registered hosts, at most ``n_parallel``.
    secret : bytes or str, optional
        The farm's shared secret (:mod:`tvm_loihi.measure.auth`); default ``$TVM_LOIHI_SECRET_FILE``
        or ``$TVM_LOIHI_SECRET``, and without any only an ``--insecure`` farm is used.
    secret_file : str, optional
        A file holding the secret (instead of ``secret``).
    check_auth : bool
        Open one session now (waiting at most ``check_auth_s`` for a free host) so that a wrong or
        missing secret fails here, not candidate by candidate.
    **overrides
        Fields of :class:`RPCConfig` to change (``timeout_s=5``, ``batch=1``, ...).

    Raises
    ------
    AuthenticationError
        The tracker refused the secret, or ``check_auth`` found that a host refuses it (or cannot
        prove it holds it).
    TrackerUnreachable, NoHostForKey
        Nobody answers at the tracker's address, or no host serves ``key``.
    """

    def __init__(
        self,
        tracker_host: str,
        tracker_port: int,
        key: str = "loihi2",
        *,
        config: RPCConfig | None = None,
        n_parallel: int | None = None,
        secret: bytes | str | None = None,
        secret_file: str | None = None,
        check_auth: bool = True,
        **overrides,
    ) -> None:
        self.config = replace(config or RPCConfig(), **overrides)
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
        workers = max(1, len(hosts_for_key(summary, key)), free_hosts(summary, key))
        self.n_parallel = int(n_parallel or workers * self.config.batch)
        self.n_workers = min(workers, self.n_parallel)
        self._stalled_since: float | None = None  # first failed session request since progress
        self._fatal: str | None = None  # set once the runner gave up (see give_up_after_s)
        self._bounds: dict[tuple[str, str], float] = {}
        self._stats: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        # per host: EWMA of the host's seconds per measurement and of the per-call overhead, and the
        # totals (seconds on the host, seconds of round trips) behind the overhead figure
        self._ewma: dict[str, list[float]] = {}
        self._times: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self._dropped: set[str] = set()
        # hosts whose last call timed out (wedged: SIGSTOP, hung machine); not offered for
        # re-measures until they answer again
        self._wedged: set[str] = set()
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

    def __getattr__(self, name: str):
        """The config's fields read as attributes too (``runner.timeout_s``, ``runner.batch``):
        what callers that only know a runner (e.g. :mod:`tvm_loihi.tuning.confirm`) look up."""
        config = self.__dict__.get("config")
        if config is not None and name in _CONFIG_FIELDS:
            return getattr(config, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _check_auth(self) -> None:
        c = self.config
        try:
            # Short: a host just released is free again within a second; all busy -> skip.
            sess = request_session(
                self.tracker,
                self.key,
                c.check_session_s,
                min(c.request_timeout_s, c.check_auth_s),
                secret=self._secret,
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
        avoid = frozenset(hosts)
        return self._submit(inputs, lambda accepted: self._start(accepted, avoid))

    def usable_hosts(self) -> list[str]:
        """Hosts registered under the key, not dropped from this run and not wedged (their last call
        timed out and they have not answered since)."""
        try:
            listed = hosts_for_key(
                query_summary(*self.tracker, secret=self._secret or ""), self.key
            )
        except OSError:
            listed = list(self._stats)
        with self._cond:
            gone = self._dropped | self._wedged
        return [h for h in listed if h not in gone]

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
                e[0] += self.config.ewma_alpha * (per_item - e[0])
                e[1] += self.config.ewma_alpha * (overhead - e[1])

    def batch_size(self, host: str) -> int:
        """How many candidates the next request to ``host`` carries: about ``batch_target_s`` of
        work by the host's EWMA time per measurement, within ``[1, batch]`` (1 before any
        estimate)."""
        with self._cond:
            e = self._ewma.get(host)
        c = self.config
        if c.batch <= 1 or e is None:
            return 1
        return max(1, min(c.batch, int(c.batch_target_s / max(e[0], 1e-6))))

    def report_bad(self, host: str, reason: str) -> None:
        """Count a strike against ``host`` found outside the runner (a re-measure disagreed)."""
        self._strike(host, reason)

    def _strike(self, host: str, reason: str) -> None:
        with self._cond:
            self._stats[host]["rejected"] += 1
            strikes = self._stats[host]["rejected"]
            dropped = strikes >= self.config.max_strikes and host not in self._dropped
            if dropped:
                self._dropped.add(host)
        logger.warning("result from host %s rejected (%s)", host, reason)
        if dropped:
            logger.error("host %s dropped from the run after %d rejected results", host, strikes)

    def _check_accepting(self) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("RPCRunner is closed")
            if self._fatal is not None:
                raise FarmUnavailable(self._fatal)

    def _start(self, accepted, avoid: frozenset[str] = frozenset()) -> None:
        """Queue valid candidates for the workers (none of them measured by a host in
        ``avoid``)."""
        with self._cond:
            closed = self._closed
            if not closed:
                self._queue.extend(_Item(inp, fut, avoid=set(avoid)) for inp, fut in accepted)
                self._cond.notify_all()
        if closed:  # closed while submitting
            for _, fut in accepted:
                fut.set_result(MeasureResult.failure(MeasureError.HOST_LOST, "runner closed"))

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
            release_session(session)
        # Workers finish what they measure and drop their sessions on their own (daemon threads); a
        # worker waiting at the tracker drops the session it may still get. Do not wait for those.
        deadline = time.monotonic() + self.config.worker_join_s
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
        """One host's loop: wait for work, hold a session (create, renew, release when idle),
        measure what the queue offers this host; the session is released in ``finally``."""
        c = self.config
        session: _Session | None = None
        try:
            while not self._closed:
                if not self._wait_for_work(c.idle_release_s if session is not None else None):
                    release_session(session)  # idle: give the host back to the tracker
                    session = None
                    continue
                if session is not None and c.expiring(time.monotonic() - session.started):
                    release_session(session)  # renew before TVM kills it mid-measurement
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
                    release_session(session)
                    session = None
                    time.sleep(c.retry_pause_s)
        finally:
            release_session(session)

    def _acquire(self) -> _Session | None:
        """A fresh session (:func:`create_session`), or None (after failing the queue if no host
        has served the key for too long)."""
        c = self.config
        try:
            session = create_session(self.tracker, self.key, self._secret, c)
            self._no_host_since = None
            self._progress()
            return session
        except AuthenticationError as exc:  # retrying will not help: fail what is queued
            logger.error("%s", exc)
            self._fail_queue(str(exc))
            time.sleep(c.auth_pause_s)
            return None
        except (HostUnavailable, TimeoutError, OSError, RuntimeError) as exc:
            logger.warning("no session from tracker %s:%d: %s", *self.tracker, exc)
            now = time.monotonic()
            if not isinstance(exc, NoHostForKey):  # hosts exist but are busy: keep waiting
                self._no_host_since = None
            else:
                self._no_host_since = self._no_host_since or now
            since = self._no_host_since
            if since is not None and now - since >= c.request_timeout_s:
                self._fail_queue(
                    f"no host under key {self.key!r} for {now - since:.0f} s (last error: {exc})"
                )
            self._check_stall(exc)
            time.sleep(c.retry_pause_s)
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
            if stalled < self.config.give_up_after_s or self._fatal is not None:
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
            release_session(session, wedged=True)
            with self._cond:
                self._wedged.add(session.host)
            self._fail_or_retry(item, str(exc), error=MeasureError.TIMEOUT)
            return None
        except Exception as exc:  # kShutdown, broken pipe, reset: the host or its session died
            release_session(session)
            self._fail_or_retry(item, f"{type(exc).__name__}: {str(exc)[:300]}")
            return None
        self._progress()
        self._settle(item, result, session.host)
        return session

    def _upload(self, session: _Session, inp: MeasureInput) -> MeasureResult | None:
        workload = (inp.workload_key, inp.hardware_key)
        return upload_workload(session, workload, self._uploads[workload], self.config)

    def _request(self, inp: MeasureInput) -> MeasureRequest:
        return MeasureRequest(
            inp.workload_key, inp.hardware_key, inp.mapping, inp.fidelity, self.config.timeout_s
        )

    def _measure_on(self, session: _Session, inp: MeasureInput) -> MeasureResult:
        """Steps 2-3 for one candidate, and its answer checked."""
        refused = self._upload(session, inp)
        if refused is not None:
            return refused
        reply, rpc_s = run_measure(session, self._request(inp), self.config)
        result = self._checked(session.host, inp, reply)
        self._timed(session.host, 1, result.wall_s, rpc_s)
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
            reply, rpc_s = run_batch(session, [self._request(i.inp) for i in todo], self.config)
        except TimeoutError as exc:  # the host did not answer: wedged; never free over that link
            release_session(session, wedged=True)
            with self._cond:
                self._wedged.add(session.host)
            for item in items:
                if not item.future.done():
                    self._fail_or_retry(item, str(exc), error=MeasureError.TIMEOUT)
            return None
        except Exception as exc:  # kShutdown, broken pipe, reset: the host or its session died
            release_session(session)
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
            self._wedged.discard(host)  # it answers again
        item.future.set_result(result)

    def _checked(self, host: str, inp: MeasureInput, reply: str) -> MeasureResult:
        """The host's answer if it passes :mod:`~tvm_loihi.measure.checks`, recorded as measured by
        the session's host (whatever the answer claims); else a ``REJECTED`` result naming it."""
        result, problem = parse_result(reply)
        if result is not None:
            bound = self._bounds.get((inp.workload_key, inp.hardware_key), 0.0)
            problem = check_result(
                result, bound, tolerance_for(inp.fidelity, self.config.hardware_tolerance)
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
        if item.attempts >= self.config.max_attempts or self._closed or nowhere:
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

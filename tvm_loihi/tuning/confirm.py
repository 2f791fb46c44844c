"""The final best is re-measured somewhere else before it is reported (issue #11 item 3).

A measurement host may lie plausibly (a result above every range check, but not what the mapping
does). Before a tuning run reports its best, the best candidate is measured again on another host
of the runner (:meth:`RPCRunner.submit_elsewhere`), or in this process when no other host exists
and the fidelity is a simulator's; if the two disagree beyond the fidelity's tolerance
(:func:`tvm_loihi.measure.checks.tolerance_for`) the candidate is rejected, its host gets a strike
and its other results are passed over, and the next best is tried. Results measured in this
process (``LocalRunner``, ``PoolRunner``) are trusted as they are.

The verdict goes into the tuning log (issue #11, the log must not bring a lie back): a rejected
candidate gets a verdict line per refuted host (:meth:`TuningLog.reject`) and its re-measurement is
appended as a sample, so ``lookup`` (a later run's cache), ``log best`` and ``compile --log`` see
the re-measured figure, not the lie; candidates of a distrusted host passed over without a
re-measure get a verdict line too. On a noisy (non-simulator) fidelity an agreeing re-measure is
appended as a sample as well and the reported figure is the mean of all samples. The Lava default
(evaluation 1, the reference of every gain) is confirmed the same way (:func:`confirm_default`).
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ..constants import FIDELITIES
from ..measure.checks import HARDWARE_TOLERANCE, agree, tolerance_for
from ..measure.records import MeasureInput, MeasureResult
from ..measure.samples import aggregate

logger = logging.getLogger(__name__)

LOCAL_HOST_PREFIXES = ("local",)  # "local" (LocalRunner) and "local-pool:N" (PoolRunner)
REMEASURE_GRACE_S = 30.0  # on top of the runner's timeout_s + request_timeout_s


@dataclass(frozen=True)
class Confirmation:
    """How the reported best was checked.

    Attributes
    ----------
    best_host : str
        Who measured the reported result.
    confirmed_by : str
        Who re-measured it and agreed; ``""`` when measured in this process (trusted),
        ``"unconfirmed"`` when nobody else could measure it.
    rejected : tuple of dict
        Candidates passed over: ``{"host", "latency_s", "remeasured_by", "remeasured_latency_s"}``
        (the last two None when the host was already distrusted).
    default : dict
        How the Lava default's result was checked: ``{"host", "confirmed_by", "rejected",
        "remeasured_latency_s"}`` (empty when the default is the best, checked above).
    distrusted : tuple of str
        Hosts caught lying (their results refuted by a re-measure).
    """

    best_host: str
    confirmed_by: str
    rejected: tuple[dict, ...] = ()
    default: dict = field(default_factory=dict)
    distrusted: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "best_host": self.best_host,
            "confirmed_by": self.confirmed_by,
            "rejected": [dict(r) for r in self.rejected],
            "default": dict(self.default),
            "distrusted": list(self.distrusted),
        }


def is_local(host: str) -> bool:
    """Whether ``host`` names a measurement made in this process (trusted); a backend's label
    prefix (``standin@local-pool:N``) is ignored."""
    return host.rsplit("@", 1)[-1].startswith(LOCAL_HOST_PREFIXES)


def hosts_of(res: MeasureResult) -> list[str]:
    """The hosts behind a result (an aggregate of samples names them joined with ``+``)."""
    return [h for h in res.host.split("+") if h]


def remeasure(
    inp: MeasureInput, res: MeasureResult, runner, workload: tuple, avoid=frozenset()
) -> MeasureResult | None:
    """``inp`` measured again away from the host(s) of ``res`` (and the hosts in ``avoid``): on
    another of the runner's hosts, else in this process (simulator fidelities only); None when
    neither is possible."""
    again = None
    # a backend's label prefixes its results' host ("standin@127.0.0.1:9091"), and a labelled
    # host's session carries the label too: avoid both spellings and compare by address, or the
    # "re-measure elsewhere" can land on the very host that measured it
    names = (*hosts_of(res), *avoid)
    mine = {h.rsplit("@", 1)[-1] for h in names} | set(names)
    others = [
        h
        for h in getattr(runner, "usable_hosts", list)()
        if h not in mine and h.rsplit("@", 1)[-1] not in mine
    ]
    if others:
        wait_s = (
            getattr(runner, "timeout_s", 60.0)
            + getattr(runner, "request_timeout_s", 60.0)
            + REMEASURE_GRACE_S
        )
        future = runner.submit_elsewhere([inp], mine)[0]
        try:
            again = future.result(timeout=wait_s)
        except concurrent.futures.TimeoutError:
            again = None
        if again is not None and again.ok:
            return again
    if inp.fidelity in FIDELITIES:
        return _local(inp, workload)
    return again


def _local(inp: MeasureInput, workload: tuple) -> MeasureResult:
    from ..measure.backend import measure

    return measure(*workload, inp.mapping, inp.fidelity, host="local")


@dataclass(frozen=True)
class _Verdict:
    status: str  # "confirmed", "unconfirmed" or "refuted"
    truth: MeasureResult | None  # the re-measurement believed (None: unconfirmed)
    liars: tuple[str, ...] = ()  # hosts caught (the candidate's, or a lying re-measurer)
    reason: str = ""


def _check(inp, res, runner, workload, objective, tolerance, distrusted) -> _Verdict:
    """Re-measure ``res`` away from its hosts and the distrusted ones and judge it. When the
    re-measure of a simulator fidelity disagrees, this process measures too and decides which of
    the two hosts lied (a rogue re-measurer must not get an honest host refuted)."""
    again = remeasure(inp, res, runner, workload, distrusted)
    if again is None or not again.ok:
        return _Verdict("unconfirmed", None)
    value = res.objective(objective)
    if agree(value, again.objective(objective), tolerance):
        return _Verdict("confirmed", again)
    reason = (
        f"{objective} {value:.4g} from host {res.host}, "
        f"{again.objective(objective):.4g} re-measured on {again.host}"
    )
    hosts = tuple(h for h in hosts_of(res) if not is_local(h))
    if inp.fidelity in FIDELITIES and not is_local(again.host):
        arbiter = _local(inp, workload)
        if arbiter.ok:
            truth = arbiter.objective(objective)
            liars = () if agree(value, truth, tolerance) else hosts
            if not agree(again.objective(objective), truth, tolerance):
                liars += (again.host,)
            reason += f", {truth:.4g} in this process"
            if not set(hosts) & set(liars):
                return _Verdict("confirmed", arbiter, liars, reason)
            return _Verdict("refuted", arbiter, liars, reason)
    return _Verdict("refuted", again, hosts, reason)


def _record_verdict(log, inp: MeasureInput, hosts, by: str, reason: str, again) -> None:
    """The verdict in the log: a reject line per refuted host, the re-measure as a sample."""
    if log is None or not hasattr(log, "reject"):
        return
    for host in hosts:
        log.reject(inp, host, by, reason)
    if again is not None and again.ok:
        log.append(inp, again, repeat=True)


def _strike(runner, hosts, reason: str) -> None:
    for host in hosts:
        if hasattr(runner, "report_bad"):  # the runner names hosts by address, without a label
            runner.report_bad(host.rsplit("@", 1)[-1], f"re-measure disagreed: {reason}")


def _noisy(fidelity: str) -> bool:
    return fidelity not in FIDELITIES


def _agreed(inp, res, again, log, samples_of) -> MeasureResult:
    """The figure to report after an agreeing re-measure: on a noisy fidelity the re-measure is a
    sample like any other (logged; the mean of all samples is reported), else the result as is."""
    if not _noisy(inp.fidelity):
        return res
    if log is not None:
        log.append(inp, again, repeat=True)
    samples = list(samples_of(inp)) if samples_of is not None else [res]
    return aggregate([*samples, again])


def confirm_best(
    ranked: list[tuple[MeasureInput, MeasureResult]],
    runner,
    workload: tuple,
    objective: str,
    log=None,
    samples_of: Callable[[MeasureInput], list[MeasureResult]] | None = None,
    rank_by: str | None = None,
) -> tuple[MeasureInput, MeasureResult, Confirmation]:
    """The best of ``ranked`` (best first) whose result another host (or this process) confirms.

    On a noisy fidelity the agreeing re-measure joins the candidate's samples, so its mean can
    rise above the next candidate's: it then goes back into the list at its new rank and the
    next candidate is checked in turn (each at most once), so the reported best is always the
    lowest mean, which is what the log then names (``log best``, ``apply_best``).

    Parameters
    ----------
    ranked : list of (MeasureInput, MeasureResult)
        Successful candidates, best first.
    runner : Runner
        Where they were measured.
    workload : tuple
        ``(network, hardware, activity)``, for a re-measure in this process.
    objective : str
        The objective compared.
    log : TuningLog, optional
        Where verdicts (reject lines, re-measured samples) are recorded.
    samples_of : callable, optional
        ``inp -> its samples`` (for the mean on a noisy fidelity; default ``[res]``).
    rank_by : str, optional
        The objective ``ranked`` is sorted by (default ``objective``; ``"latency"`` under an
        energy budget).

    Returns
    -------
    (MeasureInput, MeasureResult, Confirmation)
        When every candidate is rejected, the first one with its re-measured result.
        ``Confirmation.distrusted`` lists the hosts caught lying.
    """
    tolerance = tolerance_for(
        ranked[0][0].fidelity, getattr(runner, "hardware_tolerance", HARDWARE_TOLERANCE)
    )
    distrusted: set[str] = set()
    rejected: list[dict] = []
    fallback = None

    def done(inp, res, by):
        return inp, res, Confirmation(res.host, by, tuple(rejected), {}, tuple(sorted(distrusted)))

    key = rank_by or objective
    pending = list(ranked)
    agreed: dict[str, str] = {}  # input key -> who confirmed it (its result in pending is final)
    while pending:
        inp, res = pending.pop(0)
        if inp.key() in agreed:  # confirmed before and still the lowest mean
            return done(inp, res, agreed[inp.key()])
        if is_local(res.host):
            return done(inp, res, "")
        hosts = [h for h in hosts_of(res) if not is_local(h)]
        caught = sorted(distrusted.intersection(hosts))
        if caught:
            _record_verdict(
                log, inp, caught, "", "its host was refuted on another candidate of this run", None
            )
            rejected.append(
                {
                    "host": res.host,
                    "latency_s": res.latency_s,
                    "remeasured_by": None,
                    "remeasured_latency_s": None,
                }
            )
            continue
        v = _check(inp, res, runner, workload, objective, tolerance, distrusted)
        if v.status == "unconfirmed":
            logger.warning("best result of host %s could not be re-measured elsewhere", res.host)
            return done(inp, res, "unconfirmed")
        if v.liars:
            logger.warning("re-measure of the best: %s; caught %s", v.reason, ", ".join(v.liars))
            _strike(runner, v.liars, v.reason)
            distrusted.update(v.liars)
        if v.status == "confirmed":
            mean = _agreed(inp, res, v.truth, log, samples_of)
            value = mean.objective(key)
            at = next((i for i, (_, r) in enumerate(pending) if r.objective(key) < value), None)
            if at is None:
                return done(inp, mean, v.truth.host)
            # the new sample lifted its mean above the next candidate's: back in at its rank
            agreed[inp.key()] = v.truth.host
            at = next(
                (i for i, (_, r) in enumerate(pending) if r.objective(key) > value), len(pending)
            )
            pending.insert(at, (inp, mean))
            continue
        _record_verdict(
            log, inp, [h for h in hosts if h in v.liars], v.truth.host, v.reason, v.truth
        )
        rejected.append(
            {
                "host": res.host,
                "latency_s": res.latency_s,
                "remeasured_by": v.truth.host,
                "remeasured_latency_s": v.truth.latency_s,
            }
        )
        fallback = fallback or (inp, v.truth)
    inp, res = fallback
    return done(inp, res, res.host)


def confirm_default(
    inp: MeasureInput,
    res: MeasureResult,
    runner,
    workload: tuple,
    objective: str,
    log=None,
    samples_of: Callable[[MeasureInput], list[MeasureResult]] | None = None,
    distrusted=frozenset(),
) -> tuple[MeasureResult, dict]:
    """Check the Lava default's result like the best's (it is the reference of every gain).

    Parameters
    ----------
    inp, res : MeasureInput, MeasureResult
        The default and its (aggregate) result.
    runner, workload, objective, log, samples_of
        As for :func:`confirm_best`.
    distrusted : set of str
        Hosts already caught (by :func:`confirm_best`): they neither re-measure nor are believed.

    Returns
    -------
    (MeasureResult, dict)
        The figure to report (the re-measurement when the host's result was refuted; with a
        noisy fidelity the mean of all samples) and ``{"host", "confirmed_by", "rejected",
        "remeasured_latency_s"}``.
    """
    info = {"host": res.host, "confirmed_by": "", "rejected": False, "remeasured_latency_s": None}
    hosts = [h for h in hosts_of(res) if not is_local(h)]
    if not res.ok or not hosts:
        return res, info
    tolerance = tolerance_for(
        inp.fidelity, getattr(runner, "hardware_tolerance", HARDWARE_TOLERANCE)
    )
    v = _check(inp, res, runner, workload, objective, tolerance, set(distrusted))
    if v.status == "unconfirmed":
        logger.warning("Lava default's result of host %s could not be re-measured", res.host)
        info["confirmed_by"] = "unconfirmed"
        return res, info
    info["remeasured_latency_s"] = v.truth.latency_s
    info["confirmed_by"] = v.truth.host
    refuted = [h for h in hosts if h in v.liars or h in distrusted]
    if v.liars:
        _strike(runner, [h for h in v.liars if h not in distrusted], v.reason)
    if v.status == "confirmed" and not refuted:
        return _agreed(inp, res, v.truth, log, samples_of), info
    logger.warning("Lava default's result rejected: %s", v.reason or "its host was refuted")
    _record_verdict(log, inp, refuted, v.truth.host, v.reason or "host refuted", v.truth)
    info["rejected"] = True
    return v.truth, info

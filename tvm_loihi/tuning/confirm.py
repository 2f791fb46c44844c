"""The final best is re-measured somewhere else before it is reported (issue #11 item 3).

A measurement host may lie plausibly (a result above every range check, but not what the mapping
does). Before a tuning run reports its best, the best candidate is measured again on another host
of the runner (:meth:`RPCRunner.submit_elsewhere`), or in this process when no other host exists
and the fidelity is a simulator's; if the two disagree beyond the fidelity's tolerance
(:func:`tvm_loihi.measure.checks.tolerance_for`) the candidate is rejected, its host gets a strike
and its other results are passed over, and the next best is tried. Results measured in this
process (``LocalRunner``, ``PoolRunner``) are trusted as they are.
"""

from __future__ import annotations

import concurrent.futures
import logging
from dataclasses import dataclass

from ..constants import FIDELITIES
from ..measure.checks import HARDWARE_TOLERANCE, agree, tolerance_for
from ..measure.records import MeasureInput, MeasureResult

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
    """

    best_host: str
    confirmed_by: str
    rejected: tuple[dict, ...] = ()

    def to_json(self) -> dict:
        return {
            "best_host": self.best_host,
            "confirmed_by": self.confirmed_by,
            "rejected": [dict(r) for r in self.rejected],
        }


def is_local(host: str) -> bool:
    """Whether ``host`` names a measurement made in this process (trusted)."""
    return host.startswith(LOCAL_HOST_PREFIXES)


def remeasure(
    inp: MeasureInput, res: MeasureResult, runner, workload: tuple
) -> MeasureResult | None:
    """``inp`` measured again away from ``res.host``: on another of the runner's hosts, else in
    this process (simulator fidelities only); None when neither is possible."""
    again = None
    others = [h for h in getattr(runner, "usable_hosts", list)() if h != res.host]
    if others:
        wait_s = (
            getattr(runner, "timeout_s", 60.0)
            + getattr(runner, "request_timeout_s", 60.0)
            + REMEASURE_GRACE_S
        )
        future = runner.submit_elsewhere([inp], {res.host})[0]
        try:
            again = future.result(timeout=wait_s)
        except concurrent.futures.TimeoutError:
            again = None
        if again is not None and again.ok:
            return again
    if inp.fidelity in FIDELITIES:
        from ..measure.backend import measure

        return measure(*workload, inp.mapping, inp.fidelity, host="local")
    return again


def confirm_best(
    ranked: list[tuple[MeasureInput, MeasureResult]], runner, workload: tuple, objective: str
) -> tuple[MeasureInput, MeasureResult, Confirmation]:
    """The best of ``ranked`` (best first) whose result another host (or this process) confirms.

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

    Returns
    -------
    (MeasureInput, MeasureResult, Confirmation)
        When every candidate is rejected, the first one with its re-measured result.
    """
    tolerance = tolerance_for(
        ranked[0][0].fidelity, getattr(runner, "hardware_tolerance", HARDWARE_TOLERANCE)
    )
    distrusted: set[str] = set()
    rejected: list[dict] = []
    fallback = None
    for inp, res in ranked:
        if is_local(res.host):
            return inp, res, Confirmation(res.host, "", tuple(rejected))
        if res.host in distrusted:
            rejected.append(
                {
                    "host": res.host,
                    "latency_s": res.latency_s,
                    "remeasured_by": None,
                    "remeasured_latency_s": None,
                }
            )
            continue
        again = remeasure(inp, res, runner, workload)
        if again is None or not again.ok:
            logger.warning("best result of host %s could not be re-measured elsewhere", res.host)
            return inp, res, Confirmation(res.host, "unconfirmed", tuple(rejected))
        if agree(res.objective(objective), again.objective(objective), tolerance):
            return inp, res, Confirmation(res.host, again.host, tuple(rejected))
        reason = (
            f"{objective} {res.objective(objective):.4g} from host {res.host}, "
            f"{again.objective(objective):.4g} re-measured on {again.host}"
        )
        logger.warning("best candidate rejected: %s", reason)
        if hasattr(runner, "report_bad"):
            runner.report_bad(res.host, f"re-measure disagreed: {reason}")
        distrusted.add(res.host)
        rejected.append(
            {
                "host": res.host,
                "latency_s": res.latency_s,
                "remeasured_by": again.host,
                "remeasured_latency_s": again.latency_s,
            }
        )
        fallback = fallback or (inp, again)
    inp, res = fallback
    return inp, res, Confirmation(res.host, res.host, tuple(rejected))

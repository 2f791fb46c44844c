"""Runners: submit :class:`MeasureInput` s, get futures of :class:`MeasureResult` s.

:class:`Runner` is the seam every measurement path implements (in-process simulator here; RPC
tracker and process pools in :mod:`tvm_loihi.measure.rpc_runner`). A runner is told each workload
once with :meth:`Runner.register`; afterwards inputs carry only keys and the mapping JSON.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence

from ..model.activity import ActivityProfile
from ..model.hardware import HardwareSpec
from ..model.network import NetworkIR
from .records import MeasureError, MeasureInput, MeasureResult


class Runner:
    """Base class of measurement runners: owns submission and the triage of requests.

    :meth:`submit` checks every input (:meth:`_triage`: a workload that was not registered, or
    registered with other activity, is an error result at once) and hands only the valid ones to
    :meth:`_start`, which is all a runner implements besides :meth:`register` (which calls
    :meth:`_remember_activity`) and :meth:`close`. A runner that refuses work as a whole (closed,
    or given up) says so in :meth:`_check_accepting`.

    Attributes
    ----------
    n_parallel : int
        How many measurements the runner can have in flight; the tuner keeps that many submitted.
    """

    n_parallel: int = 1

    def register(
        self, network: NetworkIR, hardware: HardwareSpec, activity: ActivityProfile
    ) -> None:
        """Make a workload known before inputs that name it are submitted."""
        raise NotImplementedError

    def submit(self, inputs: Sequence[MeasureInput]) -> list[concurrent.futures.Future]:
        """Start measuring ``inputs``; one future of a :class:`MeasureResult` per input, in order.

        Futures never raise: failures come back as results with an error.
        """
        return self._submit(inputs, self._start)

    def close(self) -> None:
        """Release hosts, sessions and workers (idempotent)."""

    # -- what a runner implements ----------------------------------------------------------------
    def _start(self, accepted: list[tuple[MeasureInput, concurrent.futures.Future]]) -> None:
        """Measure valid inputs: set each future's result (a :class:`MeasureResult`), now or
        later. Every input named a registered workload with its registered activity."""
        raise NotImplementedError

    def _check_accepting(self) -> None:
        """Raise when the runner takes no more work (closed, given up); default: always takes."""

    def _name(self) -> str:
        """The host named in the triage's error results."""
        return "local"

    # -- submission and triage -------------------------------------------------------------------
    def _submit(self, inputs: Sequence[MeasureInput], start) -> list[concurrent.futures.Future]:
        """:meth:`submit` with another ``start`` (e.g. one that avoids some hosts)."""
        self._check_accepting()
        futures, accepted = [], []
        for inp in inputs:
            fut: concurrent.futures.Future = concurrent.futures.Future()
            fut.set_running_or_notify_cancel()
            refused = self._triage(inp)
            if refused is not None:
                fut.set_result(refused)
            else:
                accepted.append((inp, fut))
            futures.append(fut)
        if accepted:
            start(accepted)
        return futures

    def _triage(self, inp: MeasureInput) -> MeasureResult | None:
        """The error result for an input no runner can measure, else None."""
        mismatch = self._activity_mismatch(inp, self._name())
        if mismatch is not None:
            return mismatch
        if (inp.workload_key, inp.hardware_key) not in self.__dict__.get("_activity_keys", {}):
            return MeasureResult.failure(
                MeasureError.UNKNOWN_WORKLOAD,
                f"workload {inp.workload_key} on hardware {inp.hardware_key} was not registered "
                "with this runner (call register first)",
                self._name(),
            )
        return None

    def _remember_activity(
        self, network: NetworkIR, hardware: HardwareSpec, activity: ActivityProfile
    ) -> None:
        """Record a registered workload and its activity (what :meth:`_triage` checks against)."""
        keys = self.__dict__.setdefault("_activity_keys", {})
        keys[(network.workload_key(), hardware.key())] = activity.key()

    def _activity_mismatch(self, inp: MeasureInput, host: str = "local") -> MeasureResult | None:
        """An error result when ``inp`` names an activity other than the one registered
        (else None)."""
        keys = self.__dict__.get("_activity_keys", {})
        registered = keys.get((inp.workload_key, inp.hardware_key))
        if not inp.activity_key or registered is None or registered == inp.activity_key:
            return None
        return MeasureResult.failure(
            MeasureError.UNKNOWN_WORKLOAD,
            f"workload {inp.workload_key} was registered with activity {registered}, "
            f"the input asks "
            f"for activity {inp.activity_key} (register the workload with that activity)",
            host,
        )

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalRunner(Runner):
    """Measures in-process with the simulator, synchronously (returned futures are already done).

    Parameters
    ----------
    host : str
        Name recorded in results.
    """

    n_parallel = 1

    def __init__(self, host: str = "local") -> None:
        self.host = host
        self._workloads: dict[tuple[str, str], tuple[NetworkIR, HardwareSpec, ActivityProfile]] = {}

    def register(
        self, network: NetworkIR, hardware: HardwareSpec, activity: ActivityProfile
    ) -> None:
        activity.check_matches(network)
        self._workloads[(network.workload_key(), hardware.key())] = (network, hardware, activity)
        self._remember_activity(network, hardware, activity)

    def _name(self) -> str:
        return self.host

    def _start(self, accepted) -> None:
        from .backend import measure

        for inp, fut in accepted:
            workload = self._workloads[(inp.workload_key, inp.hardware_key)]
            fut.set_result(measure(*workload, inp.mapping, inp.fidelity, host=self.host))

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
    """Base class of measurement runners.

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
        raise NotImplementedError

    def close(self) -> None:
        """Release hosts, sessions and workers (idempotent)."""

    def _remember_activity(
        self, network: NetworkIR, hardware: HardwareSpec, activity: ActivityProfile
    ) -> None:
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

    def submit(self, inputs: Sequence[MeasureInput]) -> list[concurrent.futures.Future]:
        from .backend import measure

        futures = []
        for inp in inputs:
            fut: concurrent.futures.Future = concurrent.futures.Future()
            workload = self._workloads.get((inp.workload_key, inp.hardware_key))
            mismatch = self._activity_mismatch(inp, self.host)
            if mismatch is not None:
                res = mismatch
            elif workload is None:
                res = MeasureResult.failure(
                    MeasureError.UNKNOWN_WORKLOAD,
                    f"workload {inp.workload_key} on hardware {inp.hardware_key} "
                    f"was not registered",
                    self.host,
                )
            else:
                res = measure(*workload, inp.mapping, inp.fidelity, host=self.host)
            fut.set_result(res)
            futures.append(fut)
        return futures

"""The one function that turns (network, hardware, activity, mapping JSON,
fidelity) into a MeasureResult.

Shared by :class:`~tvm_loihi.measure.runner.LocalRunner` and the RPC measurement host, so a
candidate gets the same figures whichever way it is measured. Failures are values: a mapping that
breaks a per-core limit is ``INVALID_MAPPING`` with the validator's message (layer, core, limit,
excess); anything the simulator raises is ``RUNTIME_ERROR`` with the exception text.
"""

from __future__ import annotations

import time

from ..model.activity import ActivityProfile
from ..model.hardware import HardwareSpec
from ..model.mapping import Mapping, MappingError
from ..model.network import NetworkIR
from ..sim.api import evaluate
from .records import MeasureError, MeasureResult


def measure(
    network: NetworkIR,
    hardware: HardwareSpec,
    activity: ActivityProfile,
    mapping_json: dict,
    fidelity: str = "fast",
    host: str = "local",
) -> MeasureResult:
    """Validate and simulate one mapping.

    Parameters
    ----------
    network, hardware, activity
        The workload, the hardware model and the spike activity that drives the simulator.
    mapping_json : dict
        ``Mapping.to_json()`` of the candidate.
    fidelity : str
        ``"fast"`` (max-affine model) or ``"event"`` (event-level NoC model).
    host : str
        Recorded in the result.

    Returns
    -------
    MeasureResult
        ``latency_s`` = total latency of the sample set, ``energy_j`` = energy per inference;
        counters hold ``per_sample_latency_s``, ``throughput_sps``, ``cores_used``, ``chips_used``,
        ``energy_total_j``, ``energy_per_inference_board_j`` (static power charged for every chip
        of the board, not only the used ones) and the simulator's profiler counters.
    """
    start = time.perf_counter()
    try:
        mapping = Mapping.from_json(mapping_json)
        mapping.validate(network, hardware)
    except (MappingError, KeyError, TypeError, ValueError) as err:
        return MeasureResult.failure(
            MeasureError.INVALID_MAPPING,
            f"{type(err).__name__}: {err}",
            host,
            time.perf_counter() - start,
        )
    try:
        m = evaluate(network, mapping, hardware, activity, fidelity=fidelity)
        counters = {
            **{str(k): v for k, v in dict(m.counters).items()},
            "per_sample_latency_s": float(m.per_sample_latency_s),
            "throughput_sps": float(m.throughput_sps),
            "cores_used": int(m.cores_used),
            "chips_used": int(m.chips_used),
            "energy_total_j": float(m.energy_j),
            "energy_per_inference_board_j": float(m.energy_per_inference_board_j),
        }
        return MeasureResult(
            float(m.total_latency_s),
            float(m.energy_per_inference_j),
            counters,
            host=host,
            wall_s=time.perf_counter() - start,
        )
    except Exception as err:  # measurement failures are values, never raised
        return MeasureResult.failure(
            MeasureError.RUNTIME_ERROR,
            f"{type(err).__name__}: {err}",
            host,
            time.perf_counter() - start,
        )

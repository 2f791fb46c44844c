"""Results from measurement hosts are checked, not trusted (issue #11 item 3).

A host registered under the tracker's key may be broken or lying. Every result it returns is
parsed strictly (:func:`parse_result`: JSON of a :class:`MeasureResult`, finite numbers) and
range-checked (:func:`check_result`): latency and energy finite and positive, and the latency no
lower than the simulator's lower bound for the workload (:func:`tvm_loihi.sim.lower_bound`, a bound
for *any* valid mapping, computed once per workload) less a tolerance (:func:`tolerance_for`).
A result that fails is a ``REJECTED`` error result naming the host. Plausible lies pass these
checks; they are caught when the final best is re-measured elsewhere and compared with
:func:`agree`.
"""

from __future__ import annotations

import json
import math

from ..constants import FIDELITIES
from .records import MeasureResult

# Simulator hosts run the same deterministic code as the client: only float noise is allowed.
SIMULATOR_TOLERANCE = 1e-6
# Real hardware may beat the simulator's model (its constants are calibrated, not exact) and its
# timings vary run to run: a result may be this fraction below the lower bound, and two
# measurements of one mapping may differ by this fraction, before either is called a lie.
HARDWARE_TOLERANCE = 0.5
MAX_STRIKES = 3  # rejected results after which a host is dropped from the run


def tolerance_for(fidelity: str, hardware_tolerance: float = HARDWARE_TOLERANCE) -> float:
    """Relative tolerance of results at ``fidelity``: :data:`SIMULATOR_TOLERANCE` for the simulator
    fidelities, ``hardware_tolerance`` for anything else (a hardware backend)."""
    return SIMULATOR_TOLERANCE if fidelity in FIDELITIES else float(hardware_tolerance)


def parse_result(text: str) -> tuple[MeasureResult | None, str | None]:
    """``(result, None)`` for a well-formed ``MeasureResult`` JSON text, else ``(None, why)``."""
    try:
        return MeasureResult.from_json(json.loads(text)), None
    except (TypeError, ValueError, KeyError) as exc:  # json.JSONDecodeError is a ValueError
        return None, f"malformed result ({type(exc).__name__}: {str(exc)[:200]})"


def check_result(result: MeasureResult, lower_bound_s: float, tolerance: float) -> str | None:
    """Why ``result`` cannot be true, or None if it is plausible (error results always are).

    Parameters
    ----------
    result : MeasureResult
        As parsed from the host's answer.
    lower_bound_s : float
        The simulator's lower bound on total latency for the workload (0 when unknown).
    tolerance : float
        Relative slack below the bound (see :func:`tolerance_for`).
    """
    if not result.ok:
        return None
    for name, value in (("latency_s", result.latency_s), ("energy_j", result.energy_j)):
        if not isinstance(value, float) or not math.isfinite(value) or value <= 0.0:
            return f"{name} = {value!r} is not a finite positive number"
    floor = lower_bound_s * (1.0 - tolerance)
    if result.latency_s < floor:
        return (
            f"latency_s = {result.latency_s:.4g} s is below the simulator's lower bound "
            f"{lower_bound_s:.4g} s less the {tolerance:g} tolerance ({floor:.4g} s)"
        )
    return None


def agree(first_s: float, second_s: float, tolerance: float) -> bool:
    """Whether two measurements of one mapping agree within ``tolerance`` (relative to the
    larger)."""
    return abs(first_s - second_s) <= tolerance * max(abs(first_s), abs(second_s))

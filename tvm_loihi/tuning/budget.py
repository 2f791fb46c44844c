"""Choose a tuning run's best under an energy budget (``tune --max-energy-increase``)."""

from __future__ import annotations

import dataclasses

from ..measure.energy_budget import fastest_within
from .driver import TuneResult


def apply_energy_budget(result: TuneResult, max_increase: float) -> TuneResult:
    """The run with ``best_*`` replaced by the fastest candidate within the energy budget.

    The candidates are the verified mappings when the run verified (all measured at the verify
    fidelity, the default among them), else the measured Pareto front over (latency, energy) plus
    the Lava default, all at the search fidelity. The unconstrained best is kept as
    ``fastest``.

    Parameters
    ----------
    result : TuneResult
        A finished run.
    max_increase : float
        Allowed energy increase over the Lava default (0.1 = 10 %).

    Raises
    ------
    ValueError
        When the run measured energy of no candidate but the default (single objective, no
        verification): then there is nothing to choose between.
    """
    if result.verified:
        pairs = list(result.verified)
    elif result.pareto:
        pairs = [*result.pareto, (result.default_mapping, result.default_result)]
    else:
        raise ValueError(
            "an energy budget needs candidates with measured energy: tune with objectives "
            "('latency', 'energy') or with verify_fidelity (--objectives latency,energy or "
            "--verify event)")
    i = fastest_within([r for _, r in pairs], result.default_result, max_increase)
    if i is None:  # the default failed: nothing is known to be within the budget
        raise ValueError("the Lava default mapping has no successful measurement to budget against")
    mapping, res = pairs[i]
    return dataclasses.replace(result, best_mapping=mapping, best_result=res,
                               max_energy_increase=float(max_increase),
                               fastest=(result.best_mapping, result.best_result))

"""Latency under an energy budget: the fastest measured mapping whose energy per inference is at
most ``(1 + max_increase)`` times the Lava default's, measured at the same fidelity.

On one chip the fastest mapping spreads a network over more cores and can cost energy (docs/
results.md); ``tvm-loihi tune --max-energy-increase 10%`` and ``compile --max-energy-increase`` pick
the fastest mapping that stays within the budget instead. The Lava default itself is always within
it, so there is always an answer when the default was measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .records import MeasureResult


def parse_energy_increase(text: str) -> float:
    """``"10%"`` -> 0.10, ``"0.1"`` -> 0.10; a finite fraction >= 0, else ValueError."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"{text!r} is not a percentage (e.g. 10%) or a fraction (e.g. 0.1)")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text!r}: the energy increase must be a finite value >= 0")
    return value


def within_budget(result: MeasureResult, default: MeasureResult, max_increase: float) -> bool:
    """Whether ``result`` succeeded and uses at most ``(1 + max_increase)`` x ``default``'s energy
    (with a relative slack of 1e-12 so the default is always within its own budget)."""
    if not (result.ok and default.ok) or result.energy_j is None or default.energy_j is None:
        return False
    return result.energy_j <= default.energy_j * (1.0 + max_increase) * (1.0 + 1e-12)


def fastest_within(
    results: Sequence[MeasureResult], default: MeasureResult, max_increase: float
) -> int | None:
    """Index of the lowest-latency result within the energy budget (ties: the first), or None.

    Parameters
    ----------
    results : sequence of MeasureResult
        The candidates, all measured at the fidelity ``default`` was measured at.
    default : MeasureResult
        The Lava default mapping's measurement: the energy reference.
    max_increase : float
        Allowed relative energy increase over the default (0.1 = 10 %).
    """
    if (
        isinstance(max_increase, bool)
        or not isinstance(max_increase, int | float)
        or not math.isfinite(max_increase)
        or max_increase < 0
    ):
        raise ValueError(f"max_increase must be a finite number >= 0, got {max_increase!r}")
    ok = [i for i, r in enumerate(results) if within_budget(r, default, max_increase)]
    return min(ok, key=lambda i: (results[i].latency_s, i)) if ok else None

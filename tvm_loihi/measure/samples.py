"""Repeated measurements of one mapping are a *sample*: their aggregate is the mapping's figure.

A noisy backend (the silicon stand-in, real silicon) answers differently every time, so the tuning
driver measures close contenders more than once (:mod:`tvm_loihi.tuning.racing`) and the tuning log
keeps every repeat. Everything that ranks mappings -- the driver, ``TuningLog.lookup`` /
``ranked`` / ``best`` / ``summary``, ``tvm-loihi log best``, ``compile --log`` -- ranks them by
:func:`aggregate` of their samples, never by the single luckiest one.

The aggregate is the **arithmetic mean** of latency and energy (and of every numeric counter present
in all samples): run-to-run noise on a chip is multiplicative and, for the stand-in, mean-one, so
the mean of the samples estimates the mapping's expected figure without bias; the median would be
more robust to an outlier but with the 2-5 samples a race takes it is no better (the median of two
is their mean), and outliers from a lying host are removed by rejection, not by the statistic.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from .records import MeasureResult


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def aggregate(results: Sequence[MeasureResult]) -> MeasureResult:
    """One result standing for the samples ``results`` of one mapping.

    Parameters
    ----------
    results : sequence of MeasureResult
        Measurements of the same input (at least one). Failed ones are ignored when any
        succeeded.

    Returns
    -------
    MeasureResult
        The result itself for a single sample (unchanged, so one-sample logs read as before);
        otherwise the mean latency and energy, numeric counters averaged (kept as they are when
        all samples agree), ``counters["samples"]`` = the number of samples, the hosts joined
        with ``+`` (first appearance order), the summed wall time and the latest timestamp.
    """
    if not results:
        raise ValueError("aggregate: no samples")
    ok = [r for r in results if r.ok]
    if len(ok) <= 1:
        return ok[0] if ok else results[0]
    counters = dict(ok[0].counters)
    for name, first in ok[0].counters.items():
        values = [r.counters.get(name) for r in ok]
        if _number(first) and all(_number(v) for v in values):
            if any(v != first for v in values):
                counters[name] = math.fsum(float(v) for v in values) / len(values)
    counters["samples"] = len(ok)
    hosts = list(dict.fromkeys(r.host for r in ok))
    return dataclasses.replace(
        ok[0],
        latency_s=math.fsum(r.latency_s for r in ok) / len(ok),
        energy_j=math.fsum(r.energy_j for r in ok) / len(ok),
        counters=counters,
        host="+".join(hosts),
        wall_s=math.fsum(r.wall_s for r in ok),
        timestamp=max(r.timestamp for r in ok),
    )


def n_samples(result: MeasureResult) -> int:
    """How many samples an (aggregate) result stands for (1 for a plain measurement)."""
    n = result.counters.get("samples", 1) if result.ok else 1
    return int(n) if _number(n) and n >= 1 else 1

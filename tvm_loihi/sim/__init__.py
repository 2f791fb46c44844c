"""Loihi 2 performance simulator: ``evaluate(network, mapping, hardware, activity, fidelity)``.

Entry points are imported lazily so that :mod:`tvm_loihi.mapping` can use
:mod:`tvm_loihi.sim.slices` without an import cycle.
"""

from __future__ import annotations

__all__ = ["Measurement", "evaluate", "lower_bound"]


def __getattr__(name: str):
    if name in ("evaluate", "lower_bound"):
        from . import api

        return getattr(api, name)
    if name == "Measurement":
        from .measurement import Measurement

        return Measurement
    raise AttributeError(f"module 'tvm_loihi.sim' has no attribute {name!r}")

"""Loihi 2 performance simulator: ``evaluate(network, mapping, hardware, activity, fidelity)``.

Imports only :mod:`tvm_loihi.model`.
"""

from __future__ import annotations

from .api import evaluate, lower_bound
from .measurement import Measurement

__all__ = ["Measurement", "evaluate", "lower_bound"]
